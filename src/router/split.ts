// Hot path: a router's traffic split picks one of its compiled targets per request (compiled once, in compileSplit).

/** What a split reads from a request. */
export interface SplitSource {
  /** Value of a request header (name lowercase), or undefined. */
  header(name: string): string | undefined;
  cookie(name: string): string | undefined;
}

/** One side of a split: a service's target, reached by weight, by a match rule or by its sticky cookie. */
export interface SplitArm<T> {
  /** Service name, also the sticky cookie's value. */
  readonly service: string;
  /** Its weight as configured (the file's); the weights in force are the split's `weights`. */
  readonly weight: number;
  /** The target to use when the request already carries the right sticky cookie (or there is none). */
  readonly target: T;
  /** The target that also sets the sticky cookie; equals `target` when the split is not sticky. */
  readonly assign: T;
}

/** One A/B rule: a header or a cookie (exact value, or any when value is null) picks an arm. */
export interface SplitRule {
  readonly cookie: boolean;
  /** Header name lowercased, or cookie name as written. */
  readonly name: string;
  readonly value: string | null;
  readonly arm: number;
}

/**
 * The weights in force and the round-robin position over them. Replaced whole,
 * never edited: a change of weights applies to the next request entirely.
 */
interface Weighting {
  readonly weights: Float64Array;
  readonly current: Float64Array;
  readonly total: number;
}

function weighting(weights: readonly number[]): Weighting {
  let total = 0;
  for (const w of weights) total += w;
  return { weights: Float64Array.from(weights), current: new Float64Array(weights.length), total };
}

/**
 * Chooses among a router's targets: A/B rules first, then a sticky cookie naming
 * an arm that still has weight, then smooth weighted round-robin (nginx's: exact
 * shares, evenly interleaved, deterministic).
 */
export class TrafficSplit<T> {
  private weighting: Weighting;

  constructor(
    readonly arms: readonly SplitArm<T>[],
    private readonly rules: readonly SplitRule[],
    /** Sticky cookie name, or null. */
    private readonly sticky: string | null,
  ) {
    this.weighting = weighting(arms.map((a) => a.weight));
  }

  /** The weights in force, in the order of `arms`. */
  get weights(): readonly number[] {
    return Array.from(this.weighting.weights);
  }

  /**
   * Put other weights in force (one per arm, in the order of `arms`; integers ≥ 0,
   * one above 0 — the caller checked): the next request is chosen by them, and the
   * round-robin starts over.
   */
  setWeights(weights: readonly number[]): void {
    if (weights.length !== this.arms.length) throw new RangeError(`a split of ${this.arms.length} services takes ${this.arms.length} weights, got ${weights.length}`);
    this.weighting = weighting(weights);
  }

  choose(req: SplitSource): T {
    const arms = this.arms;
    for (let i = 0; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      const v = rule.cookie ? req.cookie(rule.name) : req.header(rule.name);
      if (v !== undefined && (rule.value === null || v === rule.value)) return this.stickTo(arms[rule.arm]!, req);
    }
    if (this.sticky !== null) {
      const remembered = req.cookie(this.sticky);
      if (remembered !== undefined) {
        const weights = this.weighting.weights;
        for (let i = 0; i < arms.length; i++) {
          if (arms[i]!.service === remembered && weights[i]! > 0) return arms[i]!.target;
        }
      }
    }
    const { weights, current, total } = this.weighting;
    let best = 0;
    for (let i = 0; i < arms.length; i++) {
      current[i]! += weights[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    return arms[best]!.assign;
  }

  /** A rule's arm: set the cookie only when the request does not carry it already. */
  private stickTo(arm: SplitArm<T>, req: SplitSource): T {
    if (this.sticky === null || req.cookie(this.sticky) === arm.service) return arm.target;
    return arm.assign;
  }
}
