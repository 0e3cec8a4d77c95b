// The registry of balancing algorithms by name (used when a service is built, not per request).
import type { BalancerConfig } from "../../config/schema.js";
import { createConsistentHash } from "./consistent-hash.js";
import { createLeastConnections } from "./least-connections.js";
import { createP2cEwma } from "./p2c-ewma.js";
import { createRandom } from "./random.js";
import { createRoundRobin } from "./round-robin.js";
import type { Balancer, BalancerFactory, BalancerOptions, BackendState } from "./types.js";
import { createWeightedRoundRobin } from "./weighted-round-robin.js";

type Algorithm = BalancerConfig["algorithm"];

/** One line per algorithm: a new balancer is a file plus a line here. */
const factories: { readonly [A in Algorithm]: BalancerFactory<Extract<BalancerConfig, { algorithm: A }>> } = {
  "round-robin": createRoundRobin,
  "weighted-round-robin": createWeightedRoundRobin,
  "least-connections": createLeastConnections,
  random: createRandom,
  "p2c-ewma": createP2cEwma,
  "consistent-hash": createConsistentHash,
};

/** The algorithm names the registry knows, in the order of the schema. */
export const algorithms: readonly Algorithm[] = Object.keys(factories) as Algorithm[];

/**
 * Build the balancer a service's config names, over backends that stay fixed for its
 * life (a reload builds a new balancer over the same `BackendState` objects).
 *
 * @example
 * const balancer = createBalancer(backends, { algorithm: "least-connections" });
 * const backend = balancer.select(ctx);
 */
export function createBalancer(backends: readonly BackendState[], config: BalancerConfig, options?: BalancerOptions): Balancer {
  const factory = factories[config.algorithm] as BalancerFactory<BalancerConfig>;
  return factory(backends, config, options);
}

export type { Balancer, BalancerOptions, BackendState, SelectContext } from "./types.js";
