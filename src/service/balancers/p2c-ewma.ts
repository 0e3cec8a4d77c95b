// Hot path: power of two random choices over EWMA latency x load.
import type { BalancerConfig } from "../../config/schema.js";
import { isEligible, lastResort } from "./eligible.js";
import type { Balancer, BalancerOptions, BackendState, SelectContext } from "./types.js";

export type P2cEwmaConfig = Extract<BalancerConfig, { algorithm: "p2c-ewma" }>;

/** Rank of a backend with exchanges in flight but no latency sample yet: behind every sampled one (as Finagle's PeakEwma). */
const UNSAMPLED_BUSY = 2;
/** A failed exchange counts as this many times the slowest latency of the service. */
const FAILURE_PENALTY = 5;
/** Smallest stored average: 0 means "no sample yet". */
const MIN_EWMA_MS = 1e-3;
/** Random pairs drawn before falling back to a scan of eligible backends. */
const FAST_TRIES = 3;

/**
 * Power of two random choices (Mitzenmacher), as Finagle and Linkerd balance: draw
 * two distinct backends at random and take the cheaper, where
 * cost = latency average x (active + 1) / weight. O(1) per call.
 *
 * - `observe` folds each latency into `backend.ewmaMs` with a time-based weight
 *   exp(-dt / decay), so `decay` is the time over which old samples fade.
 * - The average also fades toward 0 when no sample confirms it (cost read as
 *   ewma x exp(-dt / decay)), so a backend left alone for being slow is tried again
 *   after a few `decay`s instead of never.
 * - A backend without a sample and nothing in flight costs 0: new backends get
 *   traffic at once, one exchange at a time until their first answer.
 * - A failed exchange is observed as FAILURE_PENALTY x the slowest latency of the
 *   service, and takes effect at once (not smoothed), so fast failures never look fast.
 *
 * @example
 * const balancer = createP2cEwma(backends, { algorithm: "p2c-ewma", decay: 10_000 });
 * const backend = balancer.select(ctx)!;
 * // ... when the exchange ends:
 * balancer.observe!(backend, elapsedMs, ok);
 */
export function createP2cEwma(backends: readonly BackendState[], config: P2cEwmaConfig, options?: BalancerOptions): Balancer {
  return new P2cEwma(backends, config.decay, options?.random ?? Math.random, options?.now ?? performance.now.bind(performance));
}

class P2cEwma implements Balancer {
  private readonly backends: readonly BackendState[];
  private readonly decayMs: number;
  private readonly random: () => number;
  private readonly now: () => number;
  /** When each backend's average was last updated. */
  private readonly sampledAt: Float64Array;
  private readonly indexOf = new Map<BackendState, number>();
  /** Scratch list of eligible indices for the fallback scan. */
  private readonly candidates: Int32Array;

  constructor(backends: readonly BackendState[], decayMs: number, random: () => number, now: () => number) {
    this.backends = backends;
    this.decayMs = decayMs > 0 ? decayMs : 1;
    this.random = random;
    this.now = now;
    this.sampledAt = new Float64Array(backends.length).fill(now());
    this.candidates = new Int32Array(backends.length);
    for (let i = 0; i < backends.length; i++) this.indexOf.set(backends[i]!, i);
  }

  select(_ctx: SelectContext, exclude?: BackendState): BackendState | undefined {
    const backends = this.backends;
    const n = backends.length;
    if (n > 1) {
      for (let t = 0; t < FAST_TRIES; t++) {
        const i = Math.floor(this.random() * n);
        let j = Math.floor(this.random() * (n - 1));
        if (j >= i) j++;
        const a = backends[i]!;
        const b = backends[j]!;
        if (a !== exclude && b !== exclude && isEligible(a) && isEligible(b)) return this.cheaper(i, j);
      }
    }
    return this.scan(exclude);
  }

  /** Some of the backends are out: draw the pair among the eligible ones only. */
  private scan(exclude: BackendState | undefined): BackendState | undefined {
    const backends = this.backends;
    const candidates = this.candidates;
    let k = 0;
    for (let i = 0; i < backends.length; i++) {
      const backend = backends[i]!;
      if (backend !== exclude && isEligible(backend)) candidates[k++] = i;
    }
    if (k === 0) return lastResort(exclude);
    if (k === 1) return backends[candidates[0]!];
    const x = Math.floor(this.random() * k);
    let y = Math.floor(this.random() * (k - 1));
    if (y >= x) y++;
    return this.cheaper(candidates[x]!, candidates[y]!);
  }

  /**
   * The backend of lower cost ewma x exp(-(now - sampledAt) / decay) x (active + 1) / weight.
   * `now` cancels out of the comparison, leaving one exp of the gap between the two
   * samples and no clock read (a clock read costs more than the rest of select).
   */
  private cheaper(i: number, j: number): BackendState {
    const a = this.backends[i]!;
    const b = this.backends[j]!;
    const ea = a.ewmaMs;
    const eb = b.ewmaMs;
    if (ea === 0 || eb === 0) return unsampledRank(b) < unsampledRank(a) ? b : a;
    const la = (a.active + 1) / a.weight;
    const lb = (b.active + 1) / b.weight;
    return eb * Math.exp((this.sampledAt[j]! - this.sampledAt[i]!) / this.decayMs) * lb < ea * la ? b : a;
  }

  observe(backend: BackendState, latencyMs: number, ok: boolean): void {
    const i = this.indexOf.get(backend);
    if (i === undefined) return;
    const now = this.now();
    const previous = backend.ewmaMs;
    let next: number;
    if (!ok) {
      const penalty = FAILURE_PENALTY * Math.max(latencyMs, this.slowest());
      next = Math.max(penalty, previous);
    } else if (previous === 0) {
      next = latencyMs;
    } else {
      const w = Math.exp(-(now - this.sampledAt[i]!) / this.decayMs);
      next = previous * w + latencyMs * (1 - w);
    }
    backend.ewmaMs = Math.max(next, MIN_EWMA_MS);
    this.sampledAt[i] = now;
  }

  /** Highest latency average of the service (failures only: O(n)). */
  private slowest(): number {
    let max = 0;
    for (let i = 0; i < this.backends.length; i++) {
      const ewma = this.backends[i]!.ewmaMs;
      if (ewma > max) max = ewma;
    }
    return max;
  }

  describe(): string {
    return "p2c-ewma: the cheaper of two random backends, cost = latency average x (active + 1) / weight";
  }
}

/** Order when a backend has no sample yet: idle unsampled (0) < any sampled (1) < busy unsampled. */
function unsampledRank(backend: BackendState): number {
  if (backend.ewmaMs !== 0) return 1;
  return backend.active === 0 ? 0 : UNSAMPLED_BUSY + backend.active;
}
