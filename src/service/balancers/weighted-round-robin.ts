// Hot path: nginx's smooth weighted round-robin.
import type { BalancerConfig } from "../../config/schema.js";
import { isEligible, lastResort } from "./eligible.js";
import type { Balancer, BackendState, SelectContext } from "./types.js";

export type WeightedRoundRobinConfig = Extract<BalancerConfig, { algorithm: "weighted-round-robin" }>;

/**
 * Smooth weighted round-robin, as nginx's `ngx_http_upstream_get_peer`: every call
 * adds each backend's effective weight to its current weight, picks the largest and
 * subtracts the total from it. Over each period of sum(weights) calls every backend
 * is picked exactly `weight` times, interleaved (5,1,1 gives a a b a c a a).
 *
 * A failed exchange (`observe(..., false)`) drops the backend's effective weight to 0,
 * and it climbs back by 1 per call, as nginx does with max_fails=1. O(n) per call.
 *
 * @example
 * const balancer = createWeightedRoundRobin(backends, { algorithm: "weighted-round-robin" });
 */
export function createWeightedRoundRobin(backends: readonly BackendState[], _config?: WeightedRoundRobinConfig): Balancer {
  return new WeightedRoundRobin(backends);
}

class WeightedRoundRobin implements Balancer {
  private readonly backends: readonly BackendState[];
  private readonly current: Float64Array;
  private readonly effective: Float64Array;
  private readonly indexOf = new Map<BackendState, number>();

  constructor(backends: readonly BackendState[]) {
    this.backends = backends;
    this.current = new Float64Array(backends.length);
    this.effective = new Float64Array(backends.length);
    for (let i = 0; i < backends.length; i++) {
      this.effective[i] = backends[i]!.weight;
      this.indexOf.set(backends[i]!, i);
    }
  }

  select(_ctx: SelectContext, exclude?: BackendState): BackendState | undefined {
    const backends = this.backends;
    const current = this.current;
    const effective = this.effective;
    let best = -1;
    let bestCurrent = 0;
    let total = 0;
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[i]!;
      if (backend === exclude || !isEligible(backend)) continue;
      const weight = backend.weight;
      let e = effective[i]!;
      if (e < weight) effective[i] = e + 1;
      else e = weight; // the weight may have been lowered in place since the last call
      const c = current[i]! + e;
      current[i] = c;
      total += e;
      if (best < 0 || c > bestCurrent) {
        best = i;
        bestCurrent = c;
      }
    }
    if (best < 0) return lastResort(exclude);
    current[best]! -= total;
    return backends[best];
  }

  observe(backend: BackendState, _latencyMs: number, ok: boolean): void {
    if (ok) return;
    const i = this.indexOf.get(backend);
    if (i !== undefined) this.effective[i] = 0;
  }

  describe(): string {
    return "weighted-round-robin: the backend with the largest current weight (smooth, nginx-style)";
  }
}
