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
 * Chooses among a router's targets: A/B rules first, then a sticky cookie naming
 * an arm that still has weight, then smooth weighted round-robin (nginx's: exact
 * shares, evenly interleaved, deterministic).
 */
export class TrafficSplit<T> {
  private readonly current: Float64Array;
  private readonly total: number;

  constructor(
    readonly arms: readonly SplitArm<T>[],
    private readonly rules: readonly SplitRule[],
    /** Sticky cookie name, or null. */
    private readonly sticky: string | null,
  ) {
    this.current = new Float64Array(arms.length);
    let total = 0;
    for (let i = 0; i < arms.length; i++) total += arms[i]!.weight;
    this.total = total;
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
        for (let i = 0; i < arms.length; i++) {
          const arm = arms[i]!;
          if (arm.service === remembered && arm.weight > 0) return arm.target;
        }
      }
    }
    const current = this.current;
    let best = 0;
    for (let i = 0; i < arms.length; i++) {
      current[i]! += arms[i]!.weight;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= this.total;
    return arms[best]!.assign;
  }

  /** A rule's arm: set the cookie only when the request does not carry it already. */
  private stickTo(arm: SplitArm<T>, req: SplitSource): T {
    if (this.sticky === null || req.cookie(this.sticky) === arm.service) return arm.target;
    return arm.assign;
  }
}
