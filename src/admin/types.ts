/**
 * What admin routes see: the request (already authenticated) and the gateway's
 * state through a narrow interface, never the gateway's internals.
 */
import type { AdminConfig } from "../config/schema-observability.js";
import type { DivisorConfig, DivisorConfigInput } from "../config/schema.js";
import type { RuntimeTable } from "../exchange/types.js";
import type { BoundAddress, ListenerSnapshot, SavedState } from "../gateway/gateway.js";
import type { SplitSnapshot } from "../gateway/split-weights.js";
import type { GatewayLoggers } from "../observability/logging.js";
import type { ProviderSnapshot } from "../providers/manager.js";
import type { MetricsSources, GatewayMetrics } from "../observability/metrics/gateway-metrics.js";
import type { AdminState, BackendSnapshot, ServiceSnapshot } from "../service/service.js";

/** The gateway as the admin API drives it. */
export interface AdminGateway {
  readonly config: DivisorConfig;
  readonly addresses: readonly BoundAddress[];
  readonly gatewayMetrics: GatewayMetrics;
  readonly metricsSources: MetricsSources;
  /** The loggers by component and their levels (GET/PUT /api/logging; admin calls are logged on "admin"). */
  readonly logs: GatewayLoggers;
  /** When the gateway started serving (Date.now()), or 0 before listen() finished. */
  readonly listeningSince: number;
  draining(): boolean;
  /** Every provider's state (GET /api/providers, /readyz). */
  providers(): ProviderSnapshot[];
  /** Providers that have neither delivered a first state nor failed yet (/readyz waits for them). */
  providersWaitingFor(): string[];
  backends(): BackendSnapshot[];
  services(): ServiceSnapshot[];
  listeners(): ListenerSnapshot[];
  /** The compiled table in force (routers in precedence order). */
  table(): RuntimeTable;
  setBackendState(service: string, address: string, state: AdminState): BackendSnapshot | undefined;
  /** Every split router's weights in force (GET /api/routers). */
  splits(): SplitSnapshot[];
  /** One router's split; the split-weights calls throw SplitWeightsError for an unknown router, one without a split, or bad weights. */
  split(router: string): SplitSnapshot;
  setSplitWeights(router: string, weights: Readonly<Record<string, number>>): SplitSnapshot;
  clearSplitWeights(router: string): SplitSnapshot;
  /** What the admin API changed at run time, for a `--workers` worker that replaces a dead one (restoreState). */
  savedState(): SavedState;
  restoreState(state: SavedState): void;
  /** The state a middleware keeps across reloads (a cache's store), undefined when it has none yet. */
  middlewareState(name: string): ReadonlyMap<string | symbol, unknown> | undefined;
  /** Re-reads the configuration from its source, when the gateway was given one. */
  readonly loadConfig: (() => Promise<DivisorConfigInput | DivisorConfig>) | undefined;
  reload(config?: DivisorConfigInput | DivisorConfig): Promise<void>;
}

/** Who made an admin request. */
export interface AdminPrincipal {
  /** Token name, or "localhost" when no tokens are configured. */
  readonly name: string;
  /** Tenant the token is scoped to; undefined = the whole gateway. */
  readonly tenant: string | undefined;
  readonly readOnly: boolean;
}

export interface AdminRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Path parameters of the matched route (":name" segments). */
  readonly params: Readonly<Record<string, string>>;
  readonly principal: AdminPrincipal;
  /** The request body (admin bodies are small; larger than 1 MiB is refused with 413). */
  readonly body: Buffer;
  /** Aborted when the client goes away before the answer: long handlers (profiles) stop early. */
  readonly signal?: AbortSignal;
}

export interface AdminResponse {
  status: number;
  /**
   * A string or Buffer is sent as is, a Readable is streamed (chunked, for large
   * answers such as heap snapshots), anything else is sent as JSON.
   */
  body: unknown;
  headers?: Record<string, string>;
}

/** One admin endpoint. Routes that change state need a token that isn't read-only. */
export interface AdminRoute {
  readonly method: "GET" | "POST" | "PUT" | "DELETE";
  /** "/api/services/:service" style: literal segments and ":name" parameters. */
  readonly path: string;
  readonly description: string;
  /** The route changes state (refused to read-only tokens). */
  readonly writes?: boolean;
  /** Open to every caller that may reach the listener, without a token (health probes). */
  readonly public?: boolean;
  /** Tenant-scoped tokens may call it (the handler filters by principal.tenant). */
  readonly tenantScoped?: boolean;
  /**
   * Writes under `--workers`: the one answer made of every worker's 2xx bodies
   * (e.g. counts added up); without it the first worker's answer stands for all.
   */
  mergeWorkerBodies?(bodies: readonly unknown[]): unknown;
  handle(req: AdminRequest, gateway: AdminGateway): AdminResponse | Promise<AdminResponse>;
}

/**
 * How the admin server answers an authenticated request: in one process the
 * route's own handler; under `--workers` the primary's, which forwards to workers.
 */
export type AdminDispatch = (route: AdminRoute, req: AdminRequest) => AdminResponse | Promise<AdminResponse>;

export type { AdminConfig };
