// Hot path: fewest in-flight exchanges relative to weight.
import type { BalancerConfig } from "../../config/schema.js";
import { isEligible, lastResort } from "./eligible.js";
import type { Balancer, BackendState, SelectContext } from "./types.js";

export type LeastConnectionsConfig = Extract<BalancerConfig, { algorithm: "least-connections" }>;

/**
 * Weighted least-connections: the backend with the smallest (active + 1) / weight.
 * The scan starts just after the previous choice, so ties go round-robin and an idle
 * service still spreads its requests instead of sending all to the first backend.
 * O(n) per call: `active` changes outside the balancer, so no heap can stay ordered.
 *
 * @example
 * const balancer = createLeastConnections(backends, { algorithm: "least-connections" });
 */
export function createLeastConnections(backends: readonly BackendState[], _config?: LeastConnectionsConfig): Balancer {
  return new LeastConnections(backends);
}

class LeastConnections implements Balancer {
  private readonly backends: readonly BackendState[];
  private start = 0;

  constructor(backends: readonly BackendState[]) {
    this.backends = backends;
  }

  select(_ctx: SelectContext, exclude?: BackendState): BackendState | undefined {
    const backends = this.backends;
    const n = backends.length;
    let best: BackendState | undefined;
    let bestCost = 0;
    let bestIndex = 0;
    let i = this.start;
    for (let step = 0; step < n; step++, i++) {
      if (i >= n) i = 0;
      const backend = backends[i]!;
      if (backend === exclude || !isEligible(backend)) continue;
      // Equal ratios of small integers divide to the same double, so ties stay exact.
      const cost = (backend.active + 1) / backend.weight;
      if (best === undefined || cost < bestCost) {
        best = backend;
        bestCost = cost;
        bestIndex = i;
      }
    }
    if (best === undefined) return lastResort(exclude);
    this.start = bestIndex + 1;
    return best;
  }

  describe(): string {
    return "least-connections: the smallest (active + 1) / weight, ties in turn";
  }
}
