import type net from "node:net";
import { dirname, resolve } from "node:path";
import type { AdminServer } from "../admin/server.js";
import type { AdminGateway } from "../admin/types.js";
import { validateConfig } from "../config/load.js";
import { ConfigError, DivisorError } from "../errors.js";
import type { DivisorConfig, DivisorConfigInput, ListenerConfig } from "../config/schema.js";
import type { DemoBackends } from "../demo/backends.js";
import type { RuntimeTable } from "../exchange/types.js";
import { DeadlineSweeper } from "../listener/deadlines.js";
import { Listener, type ListenerOwner, loadListenerCertificates } from "../listener/listener.js";
import { AcmeRegistry } from "../listener/acme/registry.js";
import type { AcmeManager } from "../listener/acme/manager.js";
import type { Plugin } from "../middleware/plugin.js";
import { GatewayMetrics, type MetricsSources } from "../observability/metrics/gateway-metrics.js";
import { boundsInMs } from "../observability/metrics/histogram.js";
import { setAdminState } from "../service/admin-state.js";
import { type AdminState, BackendRegistry, type BackendSnapshot, type ServiceSnapshot } from "../service/service.js";
import { AccessLogSinks } from "../observability/access-log.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { describeFailure, type GatewayLoggers, GatewayLogs } from "../observability/logging.js";
import { MiddlewareStates } from "../middleware/state.js";
import { type Composition, ProviderManager, type ProviderSnapshot } from "../providers/manager.js";
import { GatewayUpstreamClient } from "../middleware/upstream-client.js";
import { compileRuntime, emptyRuntime, type RuntimeLogging } from "./runtime.js";
import { loadLuaRuntimeFor } from "../middleware/lua/vm.js";
import { type SavedSplitWeights, type SplitSnapshot, SplitWeights } from "./split-weights.js";
import { TracingOwner } from "./tracing.js";
import { GatewayPlugins } from "./plugins.js";

export interface GatewayOptions {
  /**
   * User plugins passed in code, referenced from the config as `{ type: plugin, plugin: <name> }`
   * (besides those the config's `plugins:` loads from files and packages). Their
   * `init` runs in listen(), `reload` on every reload, `close` in close().
   */
  // biome-ignore lint/suspicious/noExplicitAny: each plugin has its own options type
  plugins?: readonly Plugin<any>[];
  /**
   * Where the config came from, for error messages ("<config>" by default). When it
   * is a file path, the `from` of the config's `plugins:` is resolved from its
   * directory; otherwise from the current directory.
   */
  source?: string;
  /**
   * Your pino logger: the gateway's lines go to it, as child loggers with a
   * `component` field, at the levels of `logging.level` and `logging.components`.
   * Default: one made from `logging` (stdout; JSON, or text on a terminal).
   */
  logger?: Logger;
  /**
   * Re-read the configuration from where it came from (the CLI sets it to read its
   * file again). `POST /api/reload` on the admin API calls it; without it, that
   * endpoint takes the new configuration in its request body.
   */
  loadConfig?: () => Promise<DivisorConfigInput | DivisorConfig>;
}

/** A listener's state, for the admin API. */
export interface ListenerSnapshot {
  name: string;
  /** Configured address. */
  address: string;
  /** Bound address (the port is the real one when configured as 0). */
  bound: string;
  protocol: "http" | "https";
  /** Client connections open now. */
  connections: number;
  /** Client connections accepted since start. */
  accepted: number;
  /** Requests being served now. */
  requestsInFlight: number;
  /** HTTPS listeners: the certificates in force, in the order of the config. */
  certificates?: CertificateSnapshot[];
  /** HTTPS listeners with tls.acme: the ACME server, the names managed, and the names whose orders fail. */
  acme?: AcmeSnapshot;
}

/** What an ACME listener's manager holds and what fails, for the admin API. */
export interface AcmeSnapshot {
  directory: string;
  challenge: "http-01" | "tls-alpn-01";
  storage: string;
  /** Names with an issued certificate, and when it expires. */
  certificates: { name: string; notAfter: string }[];
  /** Names whose last order failed: how many times in a row, the error, and when the next order may start. */
  failures: { name: string; failures: number; error: string; retryAt: string }[];
}

/** A certificate an HTTPS listener serves, for the admin API. */
export interface CertificateSnapshot {
  names: readonly string[];
  subject: string;
  issuer: string;
  notBefore: string;
  notAfter: string;
  fingerprint256: string;
  /** The one served when no name matches. */
  default: boolean;
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
   * Without `config`, re-reads it with `GatewayOptions.loadConfig`. Reloads run one
   * at a time, in the order asked.
   */
  reload(config?: DivisorConfigInput | DivisorConfig): Promise<void>;
  /**
   * Graceful stop: stop accepting, close idle connections, let in-flight exchanges
   * finish for up to `gracePeriodMs` (default: the config's shutdown.gracePeriod),
   * then close whatever remains.
   */
  close(options?: { gracePeriodMs?: number }): Promise<void>;
  /** The bound addresses (after listen). */
  readonly addresses: readonly BoundAddress[];
  /**
   * Every provider of `providers:` in order: its state ("starting", "ok", "refused",
   * "failed"), last error, last success, updates and what its fragment in force holds.
   *
   * @example
   * for (const p of gateway.providers()) if (p.state !== "ok") console.warn(p.name, p.lastError);
   */
  providers(): ProviderSnapshot[];
  /** Every backend's state: availability, in-flight count, circuit breaker. */
  backends(): BackendSnapshot[];
  /** Every service's state: service-wide breaker, in-flight requests, queue, recent retries. */
  services(): ServiceSnapshot[];
  /**
   * Put a backend (by service name and address as configured) in an admin state:
   * "drain" (no new requests but from clients pinned to it by a sticky cookie or a
   * consistent-hash key), "maintenance" (no new requests at all) or "active". In-flight
   * requests finish; the state is kept across reloads that keep the backend.
   * Returns its new state, or undefined when the configuration in force has no such backend.
   *
   * @example
   * gateway.setBackendState("api", "10.0.0.11:3000", "drain");
   */
  setBackendState(service: string, address: string, state: AdminState): BackendSnapshot | undefined;
  /** Every router's traffic split (routers with `split:`): the weights in force, and whether they were set at run time. */
  splits(): SplitSnapshot[];
  /**
   * Put other weights in force on a router's split, in place of the configuration's
   * (a blue/green flip without a reload): every service of the split gets a weight,
   * whole numbers ≥ 0, one above 0. The next request is chosen by them; requests in
   * flight finish on the service they got; sticky users of a service whose weight
   * is now 0 move. The weights are kept across reloads that leave the router's
   * split in the configuration as it was; a reload that changes it drops them.
   * Tenant routers are named "<tenant>/<router>". Throws a SplitWeightsError
   * (with a stable `code`) for an unknown router, one without a split, or bad weights.
   *
   * @example
   * gateway.setSplitWeights("shop", { blue: 0, green: 100 });
   * // later, back to the configuration's weights:
   * gateway.clearSplitWeights("shop");
   */
  setSplitWeights(router: string, weights: Readonly<Record<string, number>>): SplitSnapshot;
  /** Put the configuration's weights back in force on a router's split (see setSplitWeights). */
  clearSplitWeights(router: string): SplitSnapshot;
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

/**
 * The admin API's view of a gateway made by createGateway (internal: a
 * `--workers` worker answers the primary's forwarded admin requests with it).
 */
export function adminGatewayOf(gateway: Gateway): AdminGateway {
  if (!(gateway instanceof GatewayImpl)) throw new TypeError("not a gateway made by createGateway");
  return gateway;
}

class GatewayImpl implements Gateway, ListenerOwner, AdminGateway {
  readonly sweeper = new DeadlineSweeper();
  /** ACME managers of the HTTPS listeners, and their counters (kept across reloads). */
  readonly acme = new AcmeRegistry();
  readonly gatewayMetrics: GatewayMetrics;
  readonly metricsSources: MetricsSources;
  readonly logs: GatewayLogs;
  private readonly accessSinks: AccessLogSinks;
  private readonly registry: BackendRegistry;
  /** Middlewares' state by name (rate-limit buckets), kept across reloads like the registry. */
  private readonly middlewareStates = new MiddlewareStates();
  /** PluginContext.upstream: reads the services of the table in force at each call (middlewares are compiled before services). */
  private readonly upstream = new GatewayUpstreamClient(() => this.runtime.services);
  /** The tracer provider (lazily loaded), kept across reloads like the registries. */
  private readonly tracing = new TracingOwner();
  /** Split weights set at run time, kept across reloads that keep the router's split. */
  private readonly splitWeights: SplitWeights;
  /** The plugins passed in code and those the config loads, with their lifecycle. */
  private readonly plugins: GatewayPlugins;
  /** The directory the config's `plugins[].from` are resolved from. */
  private readonly pluginBase: string;
  /** False until listen() has loaded the config's plugins (and compiled the first table) when that needs async work. */
  private started: boolean;
  /** The start in progress (plugins loading), while there is one. */
  private starting: Promise<void> | null = null;
  /** State handed to restoreState before the first table was compiled. */
  private pendingState: SavedState | undefined = undefined;
  readonly source: string;
  readonly loadConfig: (() => Promise<DivisorConfigInput | DivisorConfig>) | undefined;
  /** Reloads run one at a time, in the order asked (SIGHUP, --watch, admin API). */
  private reloading: Promise<unknown> = Promise.resolve();
  /** The configuration in force: the file's (`base`) merged with the providers' fragments. */
  private current: DivisorConfig;
  /** The file's configuration (what the constructor or the last reload was given), validated. */
  private base: DivisorConfig;
  /** The providers of `providers:`, started by listen(). */
  private readonly providerManager: ProviderManager;
  private runtime: RuntimeTable;
  private listenerByAddress = new Map<string, Listener>();
  private demo: DemoBackends | null = null;
  private isDraining = false;
  private exchangeSeq = 0;
  private bound: BoundAddress[] = [];
  private admin: AdminServer | null = null;
  private adminBound: BoundAddress | undefined = undefined;
  listeningSince = 0;

  constructor(config: DivisorConfigInput | DivisorConfig, options: GatewayOptions) {
    this.source = options.source ?? "<config>";
    this.loadConfig = options.loadConfig;
    this.current = validateConfig(config, this.source);
    this.base = this.current;
    const logging = this.current.logging;
    this.logs = new GatewayLogs(options.logger ?? createLogger({ level: logging.level, format: logging.format }), logging);
    this.plugins = new GatewayPlugins(new Map((options.plugins ?? []).map((p) => [p.name, p as Plugin<unknown>])), this.logs.get("middleware"), (name) => this.gatewayMetrics.pluginImported(name));
    this.pluginBase = this.source.startsWith("<") ? process.cwd() : dirname(resolve(this.source));
    this.accessSinks = new AccessLogSinks(this.logs.get("access"));
    this.gatewayMetrics = new GatewayMetrics(this.current.metrics);
    this.registry = new BackendRegistry(boundsInMs(this.current.metrics.buckets), this.logs);
    this.splitWeights = new SplitWeights(this.logs);
    this.providerManager = new ProviderManager({ logger: this.logs.get("provider"), changed: () => this.queueProviderUpdate() });
    this.metricsSources = {
      registry: this.registry,
      listeners: () => this.listenerByAddress.values(),
      tracing: () => this.tracing.stats,
      splits: () => this.splits(),
      providers: () => this.providerManager.snapshots(),
      acme: () => this.acme,
    };
    this.sweeper.every(() => this.registry.sweep(performance.now()));
    // Plugins to import or to init first: the first table is compiled by listen().
    this.started = !this.plugins.needsPreparing(this.current.plugins);
    this.runtime = emptyRuntime(this.current);
    if (!this.started) return;
    this.runtime = compileRuntime(this.current, this.registry, this.plugins.startWithoutPreparing(), new Set(), this.gatewayMetrics, this.runtimeLogging(), null, this.middlewareStates, this.upstream);
    // Health checks start with the configuration, not with the first request.
    this.registry.startChecks();
  }

  get config(): DivisorConfig {
    return this.current;
  }

  providers(): ProviderSnapshot[] {
    return this.providerManager.snapshots();
  }

  providersWaitingFor(): string[] {
    return this.providerManager.waitingFor();
  }

  backends(): BackendSnapshot[] {
    return this.registry.snapshot();
  }

  services(): ServiceSnapshot[] {
    return this.registry.services();
  }

  setBackendState(service: string, address: string, state: AdminState): BackendSnapshot | undefined {
    const backend = this.registry.backend(service, address);
    if (backend === undefined) return undefined;
    setAdminState(backend, state);
    return this.registry.snapshot().find((b) => b.service === service && b.address === address);
  }

  splits(): SplitSnapshot[] {
    return this.splitWeights.snapshots(this.runtime);
  }

  split(router: string): SplitSnapshot {
    return this.splitWeights.snapshot(this.runtime, router);
  }

  setSplitWeights(router: string, weights: Readonly<Record<string, number>>): SplitSnapshot {
    return this.splitWeights.set(this.runtime, router, weights);
  }

  clearSplitWeights(router: string): SplitSnapshot {
    return this.splitWeights.clear(this.runtime, router);
  }

  savedState(): SavedState {
    return { splitWeights: this.splitWeights.save() };
  }

  restoreState(state: SavedState): void {
    if (!this.started) {
      this.pendingState = state;
      return;
    }
    if (state.splitWeights !== undefined) this.splitWeights.restore(this.runtime, state.splitWeights);
  }

  middlewareState(name: string): ReadonlyMap<string | symbol, unknown> | undefined {
    return this.middlewareStates.peek(name);
  }

  listeners(): ListenerSnapshot[] {
    return [...this.listenerByAddress.values()].map((l) => {
      const a = l.address();
      return {
        name: l.name,
        address: l.config.address,
        bound: a === null ? "" : a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`,
        protocol: l.scheme,
        connections: l.connectionCount,
        accepted: l.stats.accepted,
        requestsInFlight: l.stats.inFlight,
        ...(l.certificateSet === null
          ? {}
          : {
              certificates: l.certificateSet.certificates.map((c) => ({
                names: c.names,
                subject: c.subject,
                issuer: c.issuer,
                notBefore: new Date(c.notBefore).toISOString(),
                notAfter: new Date(c.notAfter).toISOString(),
                fingerprint256: c.fingerprint256,
                default: c === l.certificateSet!.fallback,
              })),
            }),
        ...(l.acmeManager === null ? {} : { acme: acmeSnapshot(l.acmeManager) }),
      };
    });
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

  /** Load the config's plugins, run their init, and compile the first table (when the constructor could not). */
  private async start(): Promise<void> {
    await loadLuaRuntimeFor(this.current);
    const prepared = await this.plugins.prepare(this.current.plugins, this.pluginBase, this.source);
    try {
      this.runtime = compileRuntime(this.current, this.registry, prepared.byName, new Set(), this.gatewayMetrics, this.runtimeLogging(), null, this.middlewareStates, this.upstream);
    } catch (err) {
      await prepared.abort();
      throw err;
    }
    prepared.commit();
    this.started = true;
    this.registry.startChecks();
    if (this.pendingState !== undefined) this.restoreState(this.pendingState);
    this.pendingState = undefined;
  }

  async listen(): Promise<BoundAddress[]> {
    if (!this.started) {
      // One start even when listen() is called again before the first one finished.
      this.starting ??= this.start().finally(() => {
        this.starting = null;
      });
      await this.starting;
    }
    if (this.current.demo !== undefined && this.demo === null) {
      // Loaded only when configured: demo backends use node:http, which the gateway itself never needs.
      const { startDemoBackends } = await import("../demo/backends.js");
      this.demo = await startDemoBackends(this.current.demo.backends);
    }
    if (this.tracing.tracer === null && this.current.tracing !== undefined) {
      // The SDK loads asynchronously, so the table compiled by the constructor gets its tracer here.
      const prepared = await this.tracing.prepare(this.current.tracing);
      prepared.commit();
      this.runtime = { ...this.runtime, tracer: prepared.tracer };
    }
    await this.syncListeners(this.current.listeners);
    await this.syncAdmin(this.current);
    if (this.listeningSince === 0) this.listeningSince = Date.now();
    // After the listeners: their first states swap in like reloads, onto a gateway that serves.
    await this.providerManager.sync(this.base.providers);
    return this.bound;
  }

  /**
   * Start, move, update or stop the admin listener to match `next`. A moved listener
   * binds its new address before the old one closes (unless both use the same port),
   * so a failure leaves the old one serving; the old one lets its requests in flight
   * finish for a moment, as one of them may be the POST /api/reload that moved it.
   */
  private async syncAdmin(next: DivisorConfig): Promise<void> {
    const config = next.admin;
    const old = this.admin;
    if (old !== null && config !== undefined && config.address === old.config.address) {
      old.update(config);
      return;
    }
    if (old !== null && (config === undefined || samePort(old.config.address, config.address))) {
      void old.close(ADMIN_CLOSE_GRACE_MS);
      this.admin = null;
      this.adminBound = undefined;
    }
    if (config !== undefined) {
      // Loaded only when configured: the admin API runs on node:http.
      const { startAdmin } = await import("../admin/server.js");
      if (next.metrics.process) await this.gatewayMetrics.collectProcessMetrics();
      const started = await startAdmin(config, this);
      if (this.admin !== null) void this.admin.close(ADMIN_CLOSE_GRACE_MS);
      this.admin = started;
      const a = started.address();
      this.adminBound = { name: "admin", address: a.address, port: a.port };
    }
  }

  private async syncListeners(configs: readonly ListenerConfig[]): Promise<void> {
    // Every certificate loads before anything changes: a bad file refuses the whole reload.
    const certificates = loadListenerCertificates(configs, this.source);
    const next = new Map<string, Listener>();
    const started: Listener[] = [];
    const replaced: Listener[] = [];
    try {
      for (const [index, config] of configs.entries()) {
        // Port 0 binds a new free port each time: several such listeners are distinct, keyed by position.
        const key = config.address.endsWith(":0") ? `${config.address}#${index}` : config.address;
        const existing = this.listenerByAddress.get(key);
        if (existing !== undefined && Listener.shapeOf(existing.config) === Listener.shapeOf(config)) {
          existing.update(config, certificates[index]!, index);
          next.set(key, existing);
          continue;
        }
        if (existing !== undefined) {
          // Same address, other protocol (or PROXY protocol turned on or off): the old listener lets go of the port first.
          replaced.push(existing);
          void existing.stopAccepting();
        }
        const listener = new Listener(config, this, certificates[index]!, index);
        await listener.listen();
        started.push(listener);
        next.set(key, listener);
      }
    } catch (err) {
      for (const l of started) void l.stopAccepting();
      throw err;
    }
    for (const [key, listener] of this.listenerByAddress) {
      if (next.get(key) !== listener && !replaced.includes(listener)) void listener.stopAccepting();
    }
    this.listenerByAddress = next;
    this.bound = [...next.values()].map((l) => {
      const a = l.address() as net.AddressInfo;
      return { name: l.name, address: a.address, port: a.port };
    });
  }

  reload(config?: DivisorConfigInput | DivisorConfig): Promise<void> {
    const run = this.reloading.then(() => this.swap(config));
    this.reloading = run.catch(() => {});
    return run;
  }

  private async swap(config: DivisorConfigInput | DivisorConfig | undefined): Promise<void> {
    try {
      if (config === undefined) {
        if (this.loadConfig === undefined) {
          throw new DivisorError("ERR_RELOAD_NO_SOURCE", "this gateway was given no way to re-read its configuration (GatewayOptions.loadConfig); pass the new configuration to reload()");
        }
        config = await this.loadConfig();
      }
      const base = validateConfig(config, this.source);
      refuseBucketChange(this.current, base, this.source);
      this.providerManager.retryRefused();
      let composition = this.providerManager.compose(base, this.source);
      try {
        await this.install(composition.config, true);
      } catch (err) {
        // A provider's new fragment the compiler refuses must not refuse the file: try again without it.
        if (composition.taken.length === 0) throw err;
        this.providerManager.reject(composition, err);
        composition = this.providerManager.compose(base, this.source);
        await this.install(composition.config, true);
      }
      this.base = base;
      this.providerManager.commit(composition);
    } catch (err) {
      this.gatewayMetrics.reloaded(false);
      this.logs.get("config").error({ source: this.source, ...describeFailure(err) }, "reload refused; the previous configuration stays in force");
      throw err;
    }
    this.gatewayMetrics.reloaded(true);
    this.logs.get("gateway").info({ source: this.source, routers: Object.keys(this.current.routers).length, services: this.runtime.services.size }, "configuration reloaded");
    if (this.listeningSince > 0 && !this.isDraining) await this.providerManager.sync(this.base.providers);
  }

  /** Providers' data changed: merge and swap, one at a time with reloads. */
  private queueProviderUpdate(): void {
    this.reloading = this.reloading.then(() => this.applyProviders()).catch(() => {});
  }

  private async applyProviders(): Promise<void> {
    if (this.isDraining || !this.providerManager.hasPending) return;
    const log = this.logs.get("provider");
    let composition: Composition = this.providerManager.compose(this.base, this.source);
    for (let attempt = 0; attempt < 2; attempt++) {
      if (JSON.stringify(composition.config) === JSON.stringify(this.current)) {
        // Nothing the table would show differently: no swap.
        this.providerManager.commit(composition);
        return;
      }
      try {
        // Fragments hold no listeners, admin or tracing: only the table changes, and the
        // HTTPS listeners' certificates when a fragment adds some (Kubernetes TLS Secrets).
        const certificatesChanged = JSON.stringify(composition.config.listeners) !== JSON.stringify(this.current.listeners);
        await this.install(composition.config, certificatesChanged);
        this.providerManager.commit(composition);
        log.info({ routers: Object.keys(this.current.routers).length, services: this.runtime.services.size }, "configuration updated by providers");
        return;
      } catch (err) {
        this.providerManager.reject(composition, err);
        composition = this.providerManager.compose(this.base, this.source);
      }
    }
  }

  /**
   * Compile `validated` and put it in force; throws (changing nothing) when it does not compile
   * or, with `edges`, when a listener or the admin listener cannot take it.
   */
  private async install(validated: DivisorConfig, edges: boolean): Promise<void> {
    // The Lua runtime (WebAssembly) loads only when a lua middleware is configured, by the file or a provider.
    await loadLuaRuntimeFor(validated);
    // Every plugin of the new config is loaded (and its init or reload done) before anything else changes.
    const plugins = await this.plugins.prepare(validated.plugins, this.pluginBase, this.source);
    const live = new Set<string>();
    let runtime: RuntimeTable;
    let tracing: Awaited<ReturnType<TracingOwner["prepare"]>>;
    try {
      // Compiled without a tracer first: a config the compiler refuses loads no SDK.
      runtime = compileRuntime(validated, this.registry, plugins.byName, live, this.gatewayMetrics, this.runtimeLogging(), null, this.middlewareStates, this.upstream);
      tracing = await this.tracing.prepare(validated.tracing);
      try {
        if (edges && this.listenerByAddress.size > 0) {
          await this.syncListeners(validated.listeners);
          await this.syncAdmin(validated);
        }
      } catch (err) {
        tracing.abort();
        throw err;
      }
    } catch (err) {
      await plugins.abort();
      throw err;
    }
    runtime = { ...runtime, tracer: tracing.tracer };
    tracing.commit();
    plugins.commit();
    this.started = true;
    // Before the table serves its first request, so no request sees the file's weights in between.
    this.splitWeights.carryOver(runtime);
    this.current = validated;
    this.runtime = runtime;
    this.logs.configure(validated.logging);
    this.accessSinks.retain(new Set(runtime.access === null ? [] : [runtime.access.destination]));
    // logrotate may have renamed the files before asking for a reload.
    if (edges) this.accessSinks.reopen();
    this.registry.retain(live);
    this.middlewareStates.retain(Object.keys(validated.middlewares));
    this.registry.startChecks();
  }

  async close(options: { gracePeriodMs?: number } = {}): Promise<void> {
    if (this.isDraining) return;
    this.isDraining = true;
    // Providers first: no swap starts while connections drain.
    await this.providerManager.close();
    const grace = options.gracePeriodMs ?? this.current.shutdown.gracePeriod;
    const listeners = [...this.listenerByAddress.values()];
    const stopped = Promise.all(listeners.map((l) => l.stopAccepting()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, grace);
    });
    await Promise.race([stopped, deadline]);
    clearTimeout(timer);
    for (const l of listeners) l.destroyAll();
    this.registry.destroyAll();
    this.middlewareStates.close();
    await this.plugins.close();
    this.upstream.close();
    this.sweeper.close();
    if (this.admin !== null) await this.admin.close();
    this.gatewayMetrics.stopProcessMetrics();
    await this.tracing.close();
    await this.accessSinks.close();
    if (this.demo !== null) await this.demo.close();
  }
}

/**
 * State changed at run time through the admin API, as plain data: what a `--workers`
 * worker replacing a dead one takes over from the others before it serves.
 */
export interface SavedState {
  splitWeights?: SavedSplitWeights;
}

function acmeSnapshot(m: AcmeManager): AcmeSnapshot {
  return {
    directory: m.config.directory,
    challenge: m.config.challenge,
    storage: m.storage.kind,
    certificates: m.managed().map((c) => ({ name: c.name, notAfter: new Date(c.notAfter).toISOString() })),
    failures: [...m.failuresOf()].map(([name, f]) => ({ name, failures: f.count, error: f.error, retryAt: new Date(f.until).toISOString() })),
  };
}

/** How long a moved or removed admin listener lets its requests in flight finish. */
const ADMIN_CLOSE_GRACE_MS = 1000;

/** Whether two "host:port" addresses name the same, fixed port (port 0 always gets a new one). */
function samePort(a: string, b: string): boolean {
  const port = (s: string) => s.slice(s.lastIndexOf(":") + 1);
  return port(a) === port(b) && port(a) !== "0";
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
