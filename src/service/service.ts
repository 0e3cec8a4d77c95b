// Hot path: a service picks a backend and hands out its connection pool.
import type { RetryConfig, ServiceConfig, StickyConfig } from "../config/schema.js";
import { BackendPool, type PoolOptions } from "../upstream/pool.js";
import { createBalancer } from "./balancers/index.js";
import type { Balancer, BackendState, SelectContext } from "./balancers/types.js";
import { AdmissionLimit } from "./admission.js";
import { RetryBudget } from "./retry-budget.js";
import { createSticky } from "./sticky.js";

/** A backend as the gateway owns it: balancer state plus its connection pool. */
export interface ServiceBackend extends BackendState {
  readonly pool: BackendPool;
}

export type Sticky = ReturnType<typeof createSticky>;

/** One compiled service: immutable for the life of a runtime table, over backends that outlive it. */
export interface ServiceRuntime {
  readonly name: string;
  readonly backends: readonly ServiceBackend[];
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
  private readonly byId = new Map<string, ServiceBackend>();
  private readonly budgets = new Map<string, RetryBudget>();
  private readonly limits = new Map<string, AdmissionLimit>();

  /** Build (or reuse) the runtime of one service. */
  build(name: string, config: ServiceConfig, live: Set<string>): ServiceRuntime {
    const poolOptions: PoolOptions = {
      maxConnections: config.pool.maxConnections,
      maxIdle: config.pool.maxIdle,
      idleTimeoutMs: config.pool.idleTimeout,
      connectTimeoutMs: config.timeouts.connect,
    };
    const backends = config.backends.map((b) => {
      const id = `${name}/${b.address}`;
      live.add(id);
      let backend = this.byId.get(id);
      const options = b.maxConnections > 0 ? { ...poolOptions, maxConnections: b.maxConnections } : poolOptions;
      if (backend === undefined) {
        const { host, port } = splitHostPort(b.address);
        const state: BackendState = { id, address: b.address, host, port, weight: b.weight, active: 0, ewmaMs: 0, available: true };
        backend = Object.assign(state, { pool: new BackendPool(state, options) });
        this.byId.set(id, backend);
      } else {
        backend.weight = b.weight;
        backend.pool.options = options;
      }
      return backend;
    });
    return {
      name,
      backends,
      balancer: createBalancer(backends, config.balancer),
      sticky: config.sticky === undefined ? undefined : createSticky(backends, config.sticky),
      stickyConfig: config.sticky,
      preserveHost: config.preserveHost,
      connectTimeoutMs: config.timeouts.connect,
      responseTimeoutMs: config.timeouts.response,
      retries: config.retries,
      budget: this.budget(name, config.retries),
      limit: this.limit(name, config.limits),
    };
  }

  /** Drain and forget backends that are not in `live` (the ids the new table uses). */
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
        backend.pool.drain();
        this.byId.delete(id);
      }
    }
  }

  /** Expire idle connections of every pool. */
  sweep(now: number): void {
    for (const backend of this.byId.values()) backend.pool.sweep(now);
    for (const limit of this.limits.values()) limit.sweep(now);
  }

  closeAll(): void {
    for (const backend of this.byId.values()) backend.pool.close();
  }

  destroyAll(): void {
    for (const backend of this.byId.values()) backend.pool.destroy();
    this.byId.clear();
  }
}

/** Pick a backend: a middleware's steer, then a sticky cookie, then the balancer. */
export function selectBackend(service: ServiceRuntime, ctx: SelectContext, exclude?: BackendState): ServiceBackend | undefined {
  if (service.sticky !== undefined && exclude === undefined) {
    const pinned = service.sticky.find(ctx.cookie(service.stickyConfig!.cookie));
    if (pinned !== undefined) return pinned as ServiceBackend;
  }
  return service.balancer.select(ctx, exclude) as ServiceBackend | undefined;
}
