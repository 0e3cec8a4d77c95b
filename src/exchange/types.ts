// Hot path: what the exchange needs from the compiled runtime table and from its client connection.
import type net from "node:net";
import type { Middleware } from "../middleware/plugin.js";
import type { AccessLog } from "../observability/access-log.js";
import type { Logger } from "../observability/logger.js";
import type { ListenerStats, RouterStats } from "../observability/metrics/http-stats.js";
import type { ExchangeTracer } from "../observability/tracing/types.js";
import type { TrafficSplit } from "../router/split.js";
import type { RouterTable } from "../router/table.js";
import type { ServiceRuntime } from "../service/service.js";
import type { ForwardingPolicy } from "./forwarding.js";

/** What a matched router resolves to: its service and its middlewares split by phase. */
export interface RouteTarget {
  readonly router: string;
  readonly tenant: string | undefined;
  readonly service: ServiceRuntime | undefined;
  /** The router's traffic split (routers.<r>.split): the exchange uses the target it chooses; null = no split. */
  readonly split: TrafficSplit<RouteTarget> | null;
  /** The path template of the router's match (http.route of its spans), or null (regex or no path). */
  readonly route: string | null;
  readonly middlewareNames: readonly string[];
  /** Largest request body accepted (bytes); Infinity = no limit. */
  readonly maxBodySize: number;
  /** Hedging settings of the router, or null when it does not hedge. */
  readonly hedge: { readonly percentile: number; readonly minDelay: number } | null;
  /** The router lets retries cover non-idempotent methods. */
  readonly retryNonIdempotent: boolean;
  readonly onRequest: readonly Middleware[];
  readonly selectBackend: readonly Middleware[];
  readonly onUpstreamRequest: readonly Middleware[];
  readonly onResponse: readonly Middleware[];
  /** Middlewares with a request body filter phase, in request order. */
  readonly onRequestBody: readonly Middleware[];
  /** Middlewares with a response body filter phase, in response order (nearest the backend first). */
  readonly onResponseBody: readonly Middleware[];
  readonly onLog: readonly Middleware[];
  /** The router's request counters; null when metrics are off. */
  readonly stats: RouterStats | null;
  /** The same router sending to another service (Exchange.useService), or undefined when there is none by that name. */
  readonly withService: (service: string) => RouteTarget | undefined;
}

/** The immutable table a request is served with; a reload swaps it atomically. */
export interface RuntimeTable {
  readonly routers: RouterTable<RouteTarget>;
  readonly services: ReadonlyMap<string, ServiceRuntime>;
  readonly forwarding: ForwardingPolicy;
  /** Counters for requests no router takes (404, refused paths); null when metrics are off. */
  readonly unrouted: RouterStats | null;
  /** The tracer of the configuration in force; null when tracing is off. */
  readonly tracer: ExchangeTracer | null;
  /** The access log; null when logging.access is off (the exchange then pays one null check). */
  readonly access: AccessLog | null;
  /** Where middleware failures are logged (the "middleware" component). */
  readonly middlewareLog: Logger | null;
}

/** The client side of an exchange, as the exchange sees it. */
/** Answers ACME HTTP-01 validation requests (GET /.well-known/acme-challenge/<token>, RFC 8555 8.3). */
export interface AcmeChallengeResponder {
  /** The key authorization for the request's path, or null when no order of ours has that token. */
  http01(path: string): Promise<string | null>;
}

/** A listener's redirect of every request to HTTPS. */
export interface HttpsRedirect {
  readonly port: number;
  readonly status: 301 | 302 | 307 | 308;
}

export interface ClientSide {
  readonly socket: net.Socket;
  readonly table: RuntimeTable;
  readonly listenerName: string;
  readonly scheme: "http" | "https";
  /** The request came on an HTTP/2 stream (presented to the exchange as HTTP/1.1). */
  readonly http2: boolean;
  readonly peerIp: string;
  /** Plain-HTTP listeners with redirectToHttps: where every request is sent instead of being routed. */
  readonly httpsRedirect: HttpsRedirect | null;
  /** Plain-HTTP listeners of a gateway that orders ACME certificates: who answers HTTP-01 validations; else null. */
  readonly acmeChallenges: AcmeChallengeResponder | null;
  /** The listener's counters (in-flight requests). */
  readonly stats: ListenerStats;
  /** True while the gateway drains: the response says Connection: close. */
  readonly draining: boolean;
  /** Deadline (performance.now() ms) the exchange wants checked; 0 = none. */
  deadline: number;
  nextExchangeId(): number;
  /** The exchange finished; `reusable` = the connection may carry another request. */
  exchangeDone(reusable: boolean): void;
  /** Switch the connection to a raw tunnel (after 101 Switching Protocols). */
  startTunnel(): void;
}
