// Hot path: the contract between a service and its balancing algorithm.

/**
 * Live state of one backend of one service. Owned by the service's backend
 * registry (keyed by service name + address) so it survives reloads that keep the
 * backend; balancers read it and never replace it.
 */
export interface BackendState {
  /** Stable identity: `${service}/${address}`. */
  readonly id: string;
  /** `host:port` as configured. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Relative weight, integer >= 1 (0, as configured: never chosen for new work). */
  weight: number;
  /** Exchanges in flight to this backend right now. */
  active: number;
  /** Exponentially weighted moving average of response latency in ms (0 = no sample yet). */
  ewmaMs: number;
  /** False while health checks, circuit breakers or an admin state (drain, maintenance) keep it out; true otherwise. */
  available: boolean;
  /**
   * Out of rotation only because of an admin drain: clients pinned to it by a sticky
   * cookie or a consistent-hash key keep it (HAProxy's drain state). A field apart
   * from `available` so balancers keep reading `available` alone.
   */
  drained: boolean;
}

/** What a balancer may look at in the request to pick a backend. */
export interface SelectContext {
  /** Client address as the gateway sees it, after trusted-proxy processing. */
  readonly clientIp: string;
  /** First value of a request header (name lowercase), or undefined. */
  header(name: string): string | undefined;
  /** Value of a request cookie, or undefined. */
  cookie(name: string): string | undefined;
}

/**
 * A balancing algorithm over one service's backends. `select` must be fast and
 * allocation-free in the common case. It returns undefined when no backend with
 * `available && weight > 0` exists. `exclude` (a backend already tried by a retry)
 * is avoided when any other candidate exists.
 */
export interface Balancer {
  select(ctx: SelectContext, exclude?: BackendState): BackendState | undefined;
  /** Called after an exchange to this backend ends, with its latency; optional. */
  observe?(backend: BackendState, latencyMs: number, ok: boolean): void;
  /** Human-readable reason of the last choice, for `divisor explain`; optional. */
  describe?(ctx: SelectContext): string;
}

/**
 * Sources of chance and time a balancer uses, replaceable so tests and benchmarks
 * are reproducible. Defaults: `Math.random` and `performance.now`.
 */
export interface BalancerOptions {
  /** Uniform in [0, 1). */
  readonly random?: () => number;
  /** Monotonic milliseconds. */
  readonly now?: () => number;
}

export type BalancerFactory<C> = (backends: readonly BackendState[], config: C, options?: BalancerOptions) => Balancer;
