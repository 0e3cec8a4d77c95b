import type net from "node:net";
import type { AdminServer } from "../admin/server.js";
import type { AdminGateway } from "../admin/types.js";
import { validateConfig } from "../config/load.js";
import { ConfigError } from "../errors.js";
import type { DivisorConfig, DivisorConfigInput, ListenerConfig } from "../config/schema.js";
import type { DemoBackends } from "../demo/backends.js";
import type { RuntimeTable } from "../exchange/types.js";
import { DeadlineSweeper } from "../listener/deadlines.js";
import { Listener, type ListenerOwner } from "../listener/listener.js";
import type { Plugin } from "../middleware/plugin.js";
import { GatewayMetrics, type MetricsSources } from "../observability/metrics/gateway-metrics.js";
import { boundsInMs } from "../observability/metrics/histogram.js";
import { BackendRegistry, type BackendSnapshot, type ServiceSnapshot } from "../service/service.js";
import { AccessLogSinks } from "../observability/access-log.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { describeFailure, type GatewayLoggers, GatewayLogs } from "../observability/logging.js";
import { compileRuntime, type RuntimeLogging } from "./runtime.js";

export interface GatewayOptions {
  /** User plugins, referenced from the config as `{ type: plugin, plugin: <name> }`. */
  // biome-ignore lint/suspicious/noExplicitAny: each plugin has its own options type
  plugins?: readonly Plugin<any>[];
  /** Where the config came from, for error messages ("<config>" by default). */
  source?: string;
  /**
   * Your pino logger: the gateway's lines go to it, as child loggers with a
   * `component` field, at the levels of `logging.level` and `logging.components`.
   * Default: one made from `logging` (stdout; JSON, or text on a terminal).
   */
  logger?: Logger;
}

/** A bound listener. */
export interface BoundAddress {
  name: string;
  address: string;
  port: number;
}

/** A running (or ready to run) gateway. */
export interface Gateway {
  /** Bind every listener (and start demo backends if configured). */
  listen(): Promise<BoundAddress[]>;
  /**
   * Swap in a new configuration atomically: requests in flight finish on the old
   * table, new ones use the new one. Backends kept by the new config keep their
   * connection pools. Rejects (and keeps the old config) when the new one is invalid.
   */
  reload(config: DivisorConfigInput | DivisorConfig): Promise<void>;
  /**
   * Graceful stop: stop accepting, close idle connections, let in-flight exchanges
   * finish for up to `gracePeriodMs` (default: the config's shutdown.gracePeriod),
   * then close whatever remains.
   */
  close(options?: { gracePeriodMs?: number }): Promise<void>;
  /** The bound addresses (after listen). */
  readonly addresses: readonly BoundAddress[];
  /** Every backend's state: availability, in-flight count, circuit breaker. */
  backends(): BackendSnapshot[];
  /** Every service's state: service-wide breaker, in-flight requests, queue, recent retries. */
  services(): ServiceSnapshot[];
  /** The validated configuration in force (deeply frozen). */
  readonly config: DivisorConfig;
  /** The admin listener's bound address (after listen), when `admin` is configured. */
  readonly adminAddress: BoundAddress | undefined;
  /**
   * The metrics the admin API serves at /metrics, for embedding them in your own
   * server: Prometheus text format, or OpenMetrics with `{ openMetrics: true }`.
   */
  metrics(options?: { openMetrics?: boolean }): Promise<string>;
  /**
   * Reopen the access log's files (after logrotate renamed them): new lines go to
   * new files at the configured paths. The CLI calls it on SIGUSR1; a reload does it too.
   */
  reopenLogs(): void;
  /** The gateway's loggers by component, and their levels (changeable at run time). */
  readonly logs: GatewayLoggers;
}

/**
 * Create a gateway from a configuration object (the same shape as divisor.yaml).
 *
 * @example
 * import { createGateway, defineConfig } from "divisor";
 * const gateway = createGateway(defineConfig({
 *   listeners: [{ address: "127.0.0.1:8080" }],
 *   services: { api: { backends: ["127.0.0.1:3000", "127.0.0.1:3001"] } },
 *   routers: { api: { match: { path: { prefix: "/api" } }, service: "api" } },
 * }));
 * await gateway.listen();
 * // later: await gateway.reload(nextConfig); await gateway.close();
 */
export function createGateway(config: DivisorConfigInput | DivisorConfig, options: GatewayOptions = {}): Gateway {
  return new GatewayImpl(config, options);
}

class GatewayImpl implements Gateway, ListenerOwner, AdminGateway {
  readonly sweeper = new DeadlineSweeper();
  readonly gatewayMetrics: GatewayMetrics;
  readonly metricsSources: MetricsSources;
  readonly logs: GatewayLogs;
  private readonly accessSinks: AccessLogSinks;
  private readonly registry: BackendRegistry;
  private readonly plugins: ReadonlyMap<string, Plugin<unknown>>;
  private readonly source: string;
  private current: DivisorConfig;
  private runtime: RuntimeTable;
  private listeners = new Map<string, Listener>();
  private demo: DemoBackends | null = null;
  private isDraining = false;
  private exchangeSeq = 0;
  private bound: BoundAddress[] = [];
  private admin: AdminServer | null = null;
  private adminBound: BoundAddress | undefined = undefined;
  listeningSince = 0;

  constructor(config: DivisorConfigInput | DivisorConfig, options: GatewayOptions) {
    this.source = options.source ?? "<config>";
    this.plugins = new Map((options.plugins ?? []).map((p) => [p.name, p as Plugin<unknown>]));
    this.current = validateConfig(config, this.source);
    const logging = this.current.logging;
    this.logs = new GatewayLogs(options.logger ?? createLogger({ level: logging.level, format: logging.format }), logging);
    this.accessSinks = new AccessLogSinks(this.logs.get("access"));
    this.gatewayMetrics = new GatewayMetrics(this.current.metrics);
    this.registry = new BackendRegistry(boundsInMs(this.current.metrics.buckets), this.logs);
    this.metricsSources = { registry: this.registry, listeners: () => this.listeners.values() };
    const live = new Set<string>();
    this.runtime = compileRuntime(this.current, this.registry, this.plugins, live, this.gatewayMetrics, this.runtimeLogging());
    // Health checks start with the configuration, not with the first request.
    this.registry.startChecks();
    this.sweeper.every(() => this.registry.sweep(performance.now()));
  }

  get config(): DivisorConfig {
    return this.current;
  }

  backends(): BackendSnapshot[] {
    return this.registry.snapshot();
  }

  services(): ServiceSnapshot[] {
    return this.registry.services();
  }

  get addresses(): readonly BoundAddress[] {
    return this.bound;
  }

  table(): RuntimeTable {
    return this.runtime;
  }

  draining(): boolean {
    return this.isDraining;
  }

  get adminAddress(): BoundAddress | undefined {
    return this.adminBound;
  }

  async metrics(options: { openMetrics?: boolean } = {}): Promise<string> {
    return this.gatewayMetrics.render(this.metricsSources, options.openMetrics === true);
  }

  nextExchangeId(): number {
    return ++this.exchangeSeq;
  }

  reopenLogs(): void {
    this.accessSinks.reopen();
  }

  private runtimeLogging(): RuntimeLogging {
    return { sinks: this.accessSinks, middlewareLog: this.logs.get("middleware") };
  }

  async listen(): Promise<BoundAddress[]> {
    if (this.current.demo !== undefined && this.demo === null) {
      // Loaded only when configured: demo backends use node:http, which the gateway itself never needs.
      const { startDemoBackends } = await import("../demo/backends.js");
      this.demo = await startDemoBackends(this.current.demo.backends);
    }
    await this.syncListeners(this.current.listeners);
    await this.syncAdmin();
    if (this.listeningSince === 0) this.listeningSince = Date.now();
    return this.bound;
  }

  /** Start, move, update or stop the admin listener to match the config in force. */
  private async syncAdmin(): Promise<void> {
    const config = this.current.admin;
    if (this.admin !== null && (config === undefined || config.address !== this.admin.config.address)) {
      await this.admin.close();
      this.admin = null;
      this.adminBound = undefined;
    }
    if (config === undefined) return;
    if (this.admin !== null) {
      this.admin.update(config);
      return;
    }
    // Loaded only when configured: the admin API runs on node:http.
    const { startAdmin } = await import("../admin/server.js");
    if (this.current.metrics.process) await this.gatewayMetrics.collectProcessMetrics();
    this.admin = await startAdmin(config, this);
    const a = this.admin.address();
    this.adminBound = { name: "admin", address: a.address, port: a.port };
  }

  private async syncListeners(configs: readonly ListenerConfig[]): Promise<void> {
    const next = new Map<string, Listener>();
    const started: Listener[] = [];
    try {
      for (const config of configs) {
        const key = config.address;
        const existing = this.listeners.get(key);
        if (existing !== undefined) {
          existing.config = config;
          next.set(key, existing);
          continue;
        }
        const listener = new Listener(config, this);
        await listener.listen();
        started.push(listener);
        next.set(key, listener);
      }
    } catch (err) {
      for (const l of started) void l.stopAccepting();
      throw err;
    }
    for (const [key, listener] of this.listeners) {
      if (!next.has(key)) void listener.stopAccepting();
    }
    this.listeners = next;
    this.bound = [...next.values()].map((l) => {
      const a = l.address() as net.AddressInfo;
      return { name: l.name, address: a.address, port: a.port };
    });
  }

  async reload(config: DivisorConfigInput | DivisorConfig): Promise<void> {
    try {
      const validated = validateConfig(config, this.source);
      refuseBucketChange(this.current, validated, this.source);
      const live = new Set<string>();
      const runtime = compileRuntime(validated, this.registry, this.plugins, live, this.gatewayMetrics, this.runtimeLogging());
      if (this.listeners.size > 0) await this.syncListeners(validated.listeners);
      this.current = validated;
      this.runtime = runtime;
      this.logs.configure(validated.logging);
      this.accessSinks.retain(new Set(runtime.access === null ? [] : [runtime.access.destination]));
      // logrotate may have renamed the files before asking for a reload.
      this.accessSinks.reopen();
      this.registry.retain(live);
      this.registry.startChecks();
      if (this.listeners.size > 0) await this.syncAdmin();
    } catch (err) {
      this.gatewayMetrics.reloaded(false);
      this.logs.get("config").error({ source: this.source, ...describeFailure(err) }, "reload refused; the previous configuration stays in force");
      throw err;
    }
    this.gatewayMetrics.reloaded(true);
    this.logs.get("gateway").info({ source: this.source, routers: Object.keys(this.current.routers).length, services: this.runtime.services.size }, "configuration reloaded");
  }

  async close(options: { gracePeriodMs?: number } = {}): Promise<void> {
    if (this.isDraining) return;
    this.isDraining = true;
    const grace = options.gracePeriodMs ?? this.current.shutdown.gracePeriod;
    const listeners = [...this.listeners.values()];
    const stopped = Promise.all(listeners.map((l) => l.stopAccepting()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, grace);
    });
    await Promise.race([stopped, deadline]);
    clearTimeout(timer);
    for (const l of listeners) l.destroyAll();
    this.registry.destroyAll();
    this.sweeper.close();
    if (this.admin !== null) await this.admin.close();
    this.gatewayMetrics.stopProcessMetrics();
    await this.accessSinks.close();
    if (this.demo !== null) await this.demo.close();
  }
}

/** Histogram buckets are fixed for the life of the process: series must keep their buckets. */
function refuseBucketChange(current: DivisorConfig, next: DivisorConfig, source: string): void {
  const a = current.metrics.buckets;
  const b = next.metrics.buckets;
  if (a.length === b.length && a.every((v, i) => v === b[i])) return;
  throw new ConfigError([
    { file: source, line: 0, column: 0, path: "metrics.buckets", message: "histogram buckets cannot change on reload (series would change meaning); restart the gateway to change them" },
  ]);
}
