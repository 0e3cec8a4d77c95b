import type net from "node:net";
import { validateConfig } from "../config/load.js";
import type { DivisorConfig, DivisorConfigInput, ListenerConfig } from "../config/schema.js";
import type { DemoBackends } from "../demo/backends.js";
import type { RuntimeTable } from "../exchange/types.js";
import { DeadlineSweeper } from "../listener/deadlines.js";
import { Listener, type ListenerOwner } from "../listener/listener.js";
import type { Plugin } from "../middleware/plugin.js";
import { BackendRegistry, type BackendSnapshot, type ServiceSnapshot } from "../service/service.js";
import { compileRuntime } from "./runtime.js";

export interface GatewayOptions {
  /** User plugins, referenced from the config as `{ type: plugin, plugin: <name> }`. */
  // biome-ignore lint/suspicious/noExplicitAny: each plugin has its own options type
  plugins?: readonly Plugin<any>[];
  /** Where the config came from, for error messages ("<config>" by default). */
  source?: string;
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

class GatewayImpl implements Gateway, ListenerOwner {
  readonly sweeper = new DeadlineSweeper();
  private readonly registry = new BackendRegistry();
  private readonly plugins: ReadonlyMap<string, Plugin<unknown>>;
  private readonly source: string;
  private current: DivisorConfig;
  private runtime: RuntimeTable;
  private listeners = new Map<string, Listener>();
  private demo: DemoBackends | null = null;
  private isDraining = false;
  private exchangeSeq = 0;
  private bound: BoundAddress[] = [];

  constructor(config: DivisorConfigInput | DivisorConfig, options: GatewayOptions) {
    this.source = options.source ?? "<config>";
    this.plugins = new Map((options.plugins ?? []).map((p) => [p.name, p as Plugin<unknown>]));
    this.current = validateConfig(config, this.source);
    const live = new Set<string>();
    this.runtime = compileRuntime(this.current, this.registry, this.plugins, live);
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

  nextExchangeId(): number {
    return ++this.exchangeSeq;
  }

  async listen(): Promise<BoundAddress[]> {
    if (this.current.demo !== undefined && this.demo === null) {
      // Loaded only when configured: demo backends use node:http, which the gateway itself never needs.
      const { startDemoBackends } = await import("../demo/backends.js");
      this.demo = await startDemoBackends(this.current.demo.backends);
    }
    await this.syncListeners(this.current.listeners);
    return this.bound;
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
    const validated = validateConfig(config, this.source);
    const live = new Set<string>();
    const runtime = compileRuntime(validated, this.registry, this.plugins, live);
    if (this.listeners.size > 0) await this.syncListeners(validated.listeners);
    this.current = validated;
    this.runtime = runtime;
    this.registry.retain(live);
    this.registry.startChecks();
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
    if (this.demo !== null) await this.demo.close();
  }
}
