// Hot path: a service picks a backend and hands out its connection pool.
import type { HealthCheckConfig, RetryConfig, ServiceConfig, StickyConfig } from "../config/schema.js";
import { DEFAULT_BUCKETS } from "../config/schema-observability.js";
import { boundsInMs } from "../observability/metrics/histogram.js";
import type { GatewayLogs } from "../observability/logging.js";
import { BackendPool, type PoolOptions } from "../upstream/pool.js";
import { type UpstreamTls, upstreamTls } from "../upstream/tls.js";
import { createBalancer } from "./balancers/index.js";
import type { Balancer, BackendState, SelectContext } from "./balancers/types.js";
import { AdmissionLimit } from "./admission.js";
import { BREAKER_STATE_NAMES, BreakerState, CircuitBreaker } from "./breaker.js";
import { HealthChecker } from "./health-check.js";
import { LatencyWindow } from "./latency.js";
import { RetryBudget } from "./retry-budget.js";
import { createSticky } from "./sticky.js";

/** A backend as the gateway owns it: balancer state plus its connection pool. */
export interface ServiceBackend extends BackendState {
  readonly pool: BackendPool;
  /** Passive health: failures on real traffic open it. */
  readonly breaker: CircuitBreaker;
  /** Why the backend is out (DownReason bits); `available` is true exactly when this is 0. */
  downReasons: number;
  /** Active health checker, when the service configures healthCheck. */
  health: HealthChecker | undefined;
  /** Weight from the config; `weight` is lower while slow start ramps it up. */
  configuredWeight: number;
  /** Slow start window of its service (ms; 0 = off) and when the current ramp began (0 = none). */
  slowStartMs: number;
  rampStart: number;
  /** Set through the admin API; kept across reloads that keep the backend. */
  adminState: AdminState;
}

/**
 * A backend's admin state: "active" (in rotation), "drain" (no new requests but from
 * clients pinned to it by a sticky cookie or hash key), "maintenance" (no new requests
 * at all). In-flight requests finish in every state.
 */
export type AdminState = "active" | "drain" | "maintenance";
export const ADMIN_STATES: readonly AdminState[] = ["active", "drain", "maintenance"];

/** One backend's state as the library API reports it. */
export interface BackendSnapshot {
  service: string;
  address: string;
  /** In rotation for new requests: no health check failing, breaker not open, admin state "active". */
  available: boolean;
  /** Why it is not in rotation: "health", "circuit", "maintenance", "drain" (empty when available). */
  unavailableBecause: string[];
  /** Effective weight (lower while slow start ramps it up). */
  weight: number;
  /** Weight from the configuration. */
  configuredWeight: number;
  /** Admin state set through the admin API ("active" unless changed). */
  adminState: AdminState;
  /** Exchanges in flight to it. */
  active: number;
  /** Moving average of its response time (ms; 0 = no sample yet). */
  ewmaMs: number;
  /** Upstream connections: idle in the pool, and active in an exchange. */
  connections: { idle: number; active: number };
  breaker: "closed" | "open" | "half-open";
  /** Times its breaker opened since it last closed. */
  breakerOpens: number;
  /** Active health: true/false, or null when the service has no healthCheck. */
  healthy: boolean | null;
  /** Why the last health check failed, or null. */
  lastHealthError: string | null;
}

/** One service's shared state as the library API reports it. */
export interface ServiceSnapshot {
  name: string;
  /** Service-wide breaker (see serviceBreaker). */
  breaker: "closed" | "open" | "half-open";
  inFlight: number;
  queued: number;
  /** Retries taken in the last 10 s. */
  retries: number;
}

/** What keeps a backend out of rotation; several may hold at once. */
export const enum DownReason {
  /** Active health checks failed. */
  Health = 1,
  /** Its circuit breaker is open. */
  Breaker = 2,
  /** Put in "maintenance" through the admin API. */
  Maintenance = 4,
  /** Put in "drain" through the admin API: out of rotation, but clients pinned to it keep it. */
  Drain = 8,
}

/** Names of the DownReason bits, as the admin API reports them. */
const DOWN_REASON_NAMES: readonly [DownReason, string][] = [
  [DownReason.Health, "health"],
  [DownReason.Breaker, "circuit"],
  [DownReason.Maintenance, "maintenance"],
  [DownReason.Drain, "drain"],
];

/** Why a backend takes no new requests, in words. */
export function unavailableBecause(backend: ServiceBackend): string[] {
  const reasons: string[] = [];
  for (const [bit, name] of DOWN_REASON_NAMES) if ((backend.downReasons & bit) !== 0) reasons.push(name);
  return reasons;
}

/** Put a backend out of (or back into) rotation for one reason; it is available when no reason holds. */
export function setDown(backend: ServiceBackend, reason: DownReason, down: boolean): void {
  const was = backend.available;
  backend.downReasons = down ? backend.downReasons | reason : backend.downReasons & ~reason;
  backend.available = backend.downReasons === 0;
  backend.drained = backend.downReasons === DownReason.Drain;
  if (!was && backend.available) startRamp(backend, performance.now());
}

/** Slow start: a backend coming (back) into rotation starts at 10% of its weight. */
function startRamp(backend: ServiceBackend, now: number): void {
  if (backend.slowStartMs <= 0) return;
  backend.rampStart = now;
  backend.weight = backend.configuredWeight * 0.1;
}

/** Advance a ramp: linear from 10% to 100% of the configured weight over slowStart. */
function advanceRamp(backend: ServiceBackend, now: number): void {
  if (backend.rampStart === 0) return;
  const progress = (now - backend.rampStart) / backend.slowStartMs;
  if (progress >= 1 || backend.slowStartMs <= 0) {
    backend.weight = backend.configuredWeight;
    backend.rampStart = 0;
  } else backend.weight = backend.configuredWeight * Math.max(0.1, progress);
}

export type Sticky = ReturnType<typeof createSticky>;

/** One compiled service: immutable for the life of a runtime table, over backends that outlive it. */
export interface ServiceRuntime {
  readonly name: string;
  readonly backends: readonly ServiceBackend[];
  /** The provider its backends come from (services.<name>.discovery), if any. */
  readonly discovery: string | undefined;
  readonly balancer: Balancer;
  readonly sticky: Sticky | undefined;
  readonly stickyConfig: StickyConfig | undefined;
  readonly preserveHost: boolean;
  readonly connectTimeoutMs: number;
  readonly responseTimeoutMs: number;
  readonly retries: RetryConfig;
  /** Shared by every table that has this service: it lives in the registry. */
  readonly budget: RetryBudget;
  /** In-flight limit and queue; shared across reloads like the budget. */
  readonly limit: AdmissionLimit;
  /** Service-wide breaker (fails fast when open); kept across reloads. */
  readonly breaker: CircuitBreaker;
  /** Recent response-head latencies (for hedging); kept across reloads. */
  readonly latency: LatencyWindow;
  /** HTTPS backends: how to reach them over TLS; null for plain TCP. */
  readonly tls: UpstreamTls | null;
  /** PROXY header version sent first to backends, or null. */
  readonly proxyProtocol: 1 | 2 | null;
}

export function splitHostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(":");
  let host = address.slice(0, i);
  if (host.startsWith("[")) host = host.slice(1, -1);
  return { host, port: Number(address.slice(i + 1)) };
}

/**
 * Backend state and pools keyed by `service/address`, so a reload that keeps a
 * backend keeps its in-flight count, latency average and idle connections.
 */
export class BackendRegistry {
  /** Bucket bounds (ms) of each backend's connect-time histogram. */
  private readonly histogramBoundsMs: Float64Array;
  private readonly byId = new Map<string, ServiceBackend>();
  private readonly budgets = new Map<string, RetryBudget>();
  private readonly limits = new Map<string, AdmissionLimit>();
  private readonly serviceBreakers = new Map<string, CircuitBreaker>();
  private readonly latencies = new Map<string, LatencyWindow>();

  /** The gateway's loggers; null for the CLI's offline compiles. */
  private readonly logs: GatewayLogs | null;

  constructor(histogramBoundsMs: Float64Array = boundsInMs(DEFAULT_BUCKETS), logs: GatewayLogs | null = null) {
    this.histogramBoundsMs = histogramBoundsMs;
    this.logs = logs;
  }

  /** Each service's TLS settings as last built, to tell whether a reload changed them. */
  private readonly tlsSettings = new Map<string, string>();

  /** Build (or reuse) the runtime of one service. */
  build(name: string, config: ServiceConfig, live: Set<string>): ServiceRuntime {
    const tlsSetting = `${config.protocol} ${JSON.stringify(config.tls ?? null)}`;
    // Idle connections made with other TLS settings (or in the clear) must not carry new requests.
    const tlsChanged = this.tlsSettings.has(name) && this.tlsSettings.get(name) !== tlsSetting;
    this.tlsSettings.set(name, tlsSetting);
    const poolOptions: PoolOptions = {
      maxConnections: config.pool.maxConnections,
      maxIdle: config.pool.maxIdle,
      idleTimeoutMs: config.pool.idleTimeout,
      connectTimeoutMs: config.timeouts.connect,
      tls: config.tls === undefined ? null : upstreamTls(config.tls, `services.${name}.tls`, "<config>"),
      proxyProtocol: config.proxyProtocol === undefined ? null : config.proxyProtocol === "v1" ? 1 : 2,
      http2: config.protocol === "http2",
    };
    const backends = config.backends.map((b) => {
      const id = `${name}/${b.address}`;
      live.add(id);
      let backend = this.byId.get(id);
      const options = b.maxConnections > 0 ? { ...poolOptions, maxConnections: b.maxConnections } : poolOptions;
      if (backend === undefined) {
        const { host, port } = splitHostPort(b.address);
        const state: BackendState = { id, address: b.address, host, port, weight: b.weight, active: 0, ewmaMs: 0, available: true, drained: false };
        const breaker = new CircuitBreaker(config.circuitBreaker);
        backend = Object.assign(state, {
          pool: new BackendPool(state, options, this.histogramBoundsMs),
          breaker,
          downReasons: 0,
          health: undefined as HealthChecker | undefined,
          configuredWeight: b.weight,
          slowStartMs: config.slowStart ?? 0,
          rampStart: 0,
          adminState: "active" as AdminState,
        });
        const owner = backend;
        breaker.onChange = (b) => {
          setDown(owner, DownReason.Breaker, b.state === BreakerState.Open);
          this.breakerChanged(b, name, owner.address);
        };
        if (this.logs !== null) backend.pool.log = this.logs.get("upstream");
        // A backend added to a running gateway ramps up like one coming back.
        if (this.running) startRamp(backend, performance.now());
        this.byId.set(id, backend);
      } else {
        backend.configuredWeight = b.weight;
        backend.slowStartMs = config.slowStart ?? 0;
        if (backend.rampStart === 0) backend.weight = b.weight;
        backend.pool.options = options;
        if (tlsChanged) backend.pool.closeIdle();
        backend.breaker.config = config.circuitBreaker;
      }
      this.configureHealth(name, backend, config.healthCheck);
      if (backend.health !== undefined) {
        backend.health.tls = poolOptions.tls;
        backend.health.http2 = poolOptions.http2;
      }
      return backend;
    });
    // A breaker may open only while the service keeps enough backends (maxEjectedShare).
    const maxOpen = Math.floor(backends.length * config.circuitBreaker.maxEjectedShare);
    for (const backend of backends) {
      backend.breaker.mayOpen = () => backends.filter((b) => b.breaker.state === BreakerState.Open).length < maxOpen;
    }
    return {
      name,
      backends,
      discovery: config.discovery?.provider,
      balancer: createBalancer(backends, config.balancer),
      sticky: config.sticky === undefined ? undefined : createSticky(backends, config.sticky),
      stickyConfig: config.sticky,
      preserveHost: config.preserveHost,
      connectTimeoutMs: config.timeouts.connect,
      responseTimeoutMs: config.timeouts.response,
      retries: config.retries,
      budget: this.budget(name, config.retries),
      limit: this.limit(name, config.limits),
      breaker: this.serviceBreaker(name, config),
      latency: this.latencyWindow(name),
      tls: poolOptions.tls,
      proxyProtocol: poolOptions.proxyProtocol,
    };
  }

  /** Drain and forget backends that are not in `live` (the ids the new table uses). */
  private configureHealth(service: string, backend: ServiceBackend, config: HealthCheckConfig | undefined): void {
    if (config === undefined) {
      if (backend.health !== undefined) {
        backend.health.stop();
        backend.health = undefined;
        setDown(backend, DownReason.Health, false);
      }
      return;
    }
    if (backend.health === undefined) {
      const log = this.logs?.get("health") ?? null;
      backend.health = new HealthChecker(
        backend,
        config,
        (healthy) => {
          setDown(backend, DownReason.Health, !healthy);
          if (healthy) log?.info({ service, backend: backend.address, available: backend.available }, "backend marked up: health checks pass again");
          else log?.warn({ service, backend: backend.address, reason: backend.health?.lastError }, "backend marked down: health checks fail");
        },
        log === null ? null : log.child({ service }),
      );
    } else backend.health.update(config);
  }

  /** Log a circuit breaker's new state (a backend's, or with backend undefined the service's). */
  private breakerChanged(breaker: CircuitBreaker, service: string, backend: string | undefined): void {
    const log = this.logs?.get("breaker");
    if (log === undefined) return;
    const state = BREAKER_STATE_NAMES[breaker.state];
    const fields = { service, backend, state, opens: breaker.opens };
    if (breaker.state === BreakerState.Open) log.warn({ ...fields, openForMs: Math.round(breaker.openUntil - performance.now()) }, "circuit opened");
    else if (breaker.state === BreakerState.HalfOpen) log.info(fields, "circuit half-open: trial requests allowed");
    else log.info(fields, "circuit closed");
  }

  /** Set once the gateway serves: backends added after that get slow start. */
  private running = false;

  /** Start the health checks of every backend that has them (and isn't checked yet). */
  startChecks(): void {
    this.running = true;
    for (const backend of this.byId.values()) backend.health?.start();
  }

  private latencyWindow(service: string): LatencyWindow {
    let window = this.latencies.get(service);
    if (window === undefined) {
      window = new LatencyWindow();
      this.latencies.set(service, window);
    }
    return window;
  }

  private serviceBreaker(service: string, config: ServiceConfig): CircuitBreaker {
    const breakerConfig = { ...config.serviceBreaker, maxEjectedShare: 1, failureStatuses: config.circuitBreaker.failureStatuses };
    let breaker = this.serviceBreakers.get(service);
    if (breaker === undefined) {
      breaker = new CircuitBreaker(breakerConfig);
      breaker.onChange = (b) => this.breakerChanged(b, service, undefined);
      this.serviceBreakers.set(service, breaker);
    } else breaker.config = breakerConfig;
    return breaker;
  }

  private limit(service: string, config: ServiceConfig["limits"]): AdmissionLimit {
    let limit = this.limits.get(service);
    if (limit === undefined) {
      limit = new AdmissionLimit(config.maxInFlight, config.queueSize, config.queueTimeout);
      this.limits.set(service, limit);
    } else {
      limit.maxInFlight = config.maxInFlight;
      limit.queueSize = config.queueSize;
      limit.queueTimeoutMs = config.queueTimeout;
    }
    return limit;
  }

  private budget(service: string, config: RetryConfig): RetryBudget {
    let budget = this.budgets.get(service);
    if (budget === undefined) {
      budget = new RetryBudget(config.budget.ratio, config.budget.minPerSecond);
      this.budgets.set(service, budget);
    } else {
      budget.ratio = config.budget.ratio;
      budget.minPerSecond = config.budget.minPerSecond;
    }
    return budget;
  }

  retain(live: Set<string>): void {
    for (const [id, backend] of this.byId) {
      if (!live.has(id)) {
        backend.health?.stop();
        backend.pool.drain();
        this.byId.delete(id);
      }
    }
  }

  /** Expire idle connections of every pool. */
  sweep(now: number): void {
    for (const backend of this.byId.values()) {
      backend.pool.sweep(now);
      backend.breaker.sweep(now);
      advanceRamp(backend, now);
    }
    for (const limit of this.limits.values()) limit.sweep(now);
    for (const breaker of this.serviceBreakers.values()) breaker.sweep(now);
    for (const window of this.latencies.values()) window.refresh(now);
  }

  /** Every backend with the name of its service. */
  *entries(): IterableIterator<[string, ServiceBackend]> {
    for (const b of this.byId.values()) yield [b.id.slice(0, b.id.length - b.address.length - 1), b];
  }

  /** One backend by service name and configured address, if the table in force has it. */
  backend(service: string, address: string): ServiceBackend | undefined {
    return this.byId.get(`${service}/${address}`);
  }

  /** State of every backend, for the library API and the admin API. */
  snapshot(): BackendSnapshot[] {
    return [...this.entries()].map(([service, b]) => ({
      service,
      address: b.address,
      available: b.available,
      unavailableBecause: unavailableBecause(b),
      weight: b.weight,
      configuredWeight: b.configuredWeight,
      adminState: b.adminState,
      active: b.active,
      ewmaMs: b.ewmaMs,
      connections: { idle: b.pool.idleCount, active: b.pool.leasedCount },
      breaker: BREAKER_STATE_NAMES[b.breaker.state],
      breakerOpens: b.breaker.opens,
      healthy: b.health === undefined ? null : b.health.healthy,
      lastHealthError: b.health?.lastError ?? null,
    }));
  }

  /** State of every service: breaker, in-flight requests, queue, recent retries. */
  services(): ServiceSnapshot[] {
    return [...this.serviceBreakers.keys()].map((name) => ({
      name,
      breaker: BREAKER_STATE_NAMES[this.serviceBreakers.get(name)!.state],
      inFlight: this.limits.get(name)?.inFlight ?? 0,
      queued: this.limits.get(name)?.queued ?? 0,
      retries: this.budgets.get(name)?.spent ?? 0,
    }));
  }

  closeAll(): void {
    for (const backend of this.byId.values()) backend.pool.close();
  }

  destroyAll(): void {
    for (const backend of this.byId.values()) {
      backend.health?.stop();
      backend.pool.destroy();
    }
    this.byId.clear();
  }
}

/** Pick a backend: a sticky cookie, then the balancer; a half-open breaker out of trials is passed over once. */
export function selectBackend(service: ServiceRuntime, ctx: SelectContext, exclude?: BackendState): ServiceBackend | undefined {
  if (service.sticky !== undefined && exclude === undefined) {
    const pinned = service.sticky.find(ctx.cookie(service.stickyConfig!.cookie)) as ServiceBackend | undefined;
    if (pinned?.breaker.allowRequest()) return pinned;
  }
  const chosen = service.balancer.select(ctx, exclude) as ServiceBackend | undefined;
  if (chosen === undefined || chosen.breaker.allowRequest()) return chosen;
  const other = service.balancer.select(ctx, chosen) as ServiceBackend | undefined;
  return other !== undefined && other !== chosen && other.breaker.allowRequest() ? other : undefined;
}
