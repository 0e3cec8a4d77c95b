// Hot path: weighted random choice.
import type { BalancerConfig } from "../../config/schema.js";
import { isEligible, lastResort } from "./eligible.js";
import type { Balancer, BalancerOptions, BackendState, SelectContext } from "./types.js";

export type RandomConfig = Extract<BalancerConfig, { algorithm: "random" }>;

/** Draws by the weights of construction time before falling back to a scan. */
const FAST_TRIES = 3;

/**
 * Weighted random: each eligible backend with probability weight / sum of weights.
 * A draw is a binary search over the cumulative weights taken when the balancer was
 * built (a reload builds a new one), O(log n); when it lands on an unavailable or
 * excluded backend it is redrawn, and after a few misses one O(n) scan over live
 * weights decides. Both paths give exactly the weighted share among eligible backends.
 *
 * @example
 * const balancer = createRandom(backends, { algorithm: "random" });
 */
export function createRandom(backends: readonly BackendState[], _config?: RandomConfig, options?: BalancerOptions): Balancer {
  return new WeightedRandom(backends, options?.random ?? Math.random);
}

class WeightedRandom implements Balancer {
  private readonly backends: readonly BackendState[];
  private readonly random: () => number;
  /** cumulative[i] = sum of weights of backends 0..i. */
  private readonly cumulative: Float64Array;
  private readonly total: number;

  constructor(backends: readonly BackendState[], random: () => number) {
    this.backends = backends;
    this.random = random;
    this.cumulative = new Float64Array(backends.length);
    let total = 0;
    for (let i = 0; i < backends.length; i++) {
      total += backends[i]!.weight;
      this.cumulative[i] = total;
    }
    this.total = total;
  }

  select(_ctx: SelectContext, exclude?: BackendState): BackendState | undefined {
    if (this.total > 0) {
      for (let t = 0; t < FAST_TRIES; t++) {
        const backend = this.backends[this.search(this.random() * this.total)]!;
        if (backend !== exclude && isEligible(backend)) return backend;
      }
    }
    return this.scan(exclude);
  }

  /** First index whose cumulative weight is above r. */
  private search(r: number): number {
    const cumulative = this.cumulative;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cumulative[mid]! > r) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  private scan(exclude: BackendState | undefined): BackendState | undefined {
    const backends = this.backends;
    let total = 0;
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[i]!;
      if (backend !== exclude && isEligible(backend)) total += backend.weight;
    }
    if (total === 0) return lastResort(exclude);
    let r = this.random() * total;
    let last: BackendState | undefined;
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[i]!;
      if (backend === exclude || !isEligible(backend)) continue;
      r -= backend.weight;
      last = backend;
      if (r < 0) return backend;
    }
    return last; // r rounded to exactly 0 at the end
  }

  describe(): string {
    return "random: a weighted random draw";
  }
}
