// Hot path: each eligible backend in turn.
import type { BalancerConfig } from "../../config/schema.js";
import { isEligible, lastResort } from "./eligible.js";
import type { Balancer, BackendState, SelectContext } from "./types.js";

export type RoundRobinConfig = Extract<BalancerConfig, { algorithm: "round-robin" }>;

/**
 * Round-robin: each eligible backend in turn, ignoring weights. O(1) per call while
 * backends are up; skipping unavailable ones costs one step each.
 *
 * @example
 * const balancer = createRoundRobin(backends, { algorithm: "round-robin" });
 * balancer.select(ctx); // backends[0], then backends[1], ...
 */
export function createRoundRobin(backends: readonly BackendState[], _config?: RoundRobinConfig): Balancer {
  return new RoundRobin(backends);
}

/** Also the fallback of consistent hashing for requests without a key. */
export class RoundRobin implements Balancer {
  private readonly backends: readonly BackendState[];
  private next = 0;

  constructor(backends: readonly BackendState[]) {
    this.backends = backends;
  }

  select(_ctx: SelectContext | undefined, exclude?: BackendState): BackendState | undefined {
    const backends = this.backends;
    const n = backends.length;
    let i = this.next;
    for (let step = 0; step < n; step++) {
      if (i >= n) i = 0;
      const backend = backends[i]!;
      i++;
      if (backend !== exclude && isEligible(backend)) {
        this.next = i;
        return backend;
      }
    }
    return lastResort(exclude);
  }

  describe(): string {
    return "round-robin: the next eligible backend in turn";
  }
}
