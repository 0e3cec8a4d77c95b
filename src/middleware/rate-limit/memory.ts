/**
 * In-memory rate-limit stores: exact within one process. Time is in milliseconds of
 * a monotonic clock (the exchange's startTime). Memory is bounded: a key back to its
 * full quota holds nothing and is dropped (one check per new key, a full sweep when
 * the map is at maxKeys), and past maxKeys the oldest key is forgotten.
 */

/** The outcome of one decision; stores reuse one object (decisions are synchronous). */
export interface Decision {
  allowed: boolean;
  /** Requests still allowed right now after this one. */
  remaining: number;
  /** Milliseconds until the quota is full again. */
  resetMs: number;
  /** When denied: milliseconds until a request would be allowed. */
  retryAfterMs: number;
}

export interface RateLimitStore {
  decide(key: string, now: number): Decision;
  readonly size: number;
}

abstract class BoundedMap<V> {
  protected readonly entries = new Map<string, V>();
  private lastSweep = Number.NEGATIVE_INFINITY;
  constructor(
    private readonly maxKeys: number,
    private readonly sweepEveryMs: number,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  protected abstract idle(value: V, now: number): boolean;

  /** Make room for a new key. */
  protected admit(now: number): void {
    // Up to two idle keys per new one: idle keys drain faster than new ones arrive.
    for (let i = 0; i < 2; i++) {
      const oldest = this.entries.keys().next();
      if (oldest.done || !this.idle(this.entries.get(oldest.value)!, now)) break;
      this.entries.delete(oldest.value);
    }
    if (this.entries.size < this.maxKeys) return;
    if (now - this.lastSweep >= this.sweepEveryMs) {
      this.lastSweep = now;
      for (const [key, value] of this.entries) if (this.idle(value, now)) this.entries.delete(key);
    }
    while (this.entries.size >= this.maxKeys) this.entries.delete(this.entries.keys().next().value!);
  }
}

/**
 * GCRA (the generic cell rate algorithm, a token bucket kept as one number per key:
 * the theoretical arrival time TAT). A request at `now` is allowed when
 * TAT - now <= tolerance, where tolerance = (burst - 1) * interval and
 * interval = period / rate; an allowed request moves TAT to max(TAT, now) + interval.
 */
export class GcraStore extends BoundedMap<number> implements RateLimitStore {
  private readonly interval: number;
  private readonly tolerance: number;
  private readonly result: Decision = { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 };

  constructor(rate: number, period: number, burst: number, maxKeys: number) {
    super(maxKeys, period);
    this.interval = period / rate;
    this.tolerance = (burst - 1) * this.interval;
  }

  protected idle(tat: number, now: number): boolean {
    return tat <= now;
  }

  decide(key: string, now: number): Decision {
    const r = this.result;
    let tat = this.entries.get(key);
    if (tat === undefined) {
      this.admit(now);
      tat = now;
    } else if (tat < now) tat = now;
    const ahead = tat - now;
    if (ahead > this.tolerance) {
      r.allowed = false;
      r.remaining = 0;
      r.resetMs = ahead;
      r.retryAfterMs = ahead - this.tolerance;
      return r;
    }
    const next = tat + this.interval;
    this.entries.set(key, next);
    r.allowed = true;
    r.remaining = Math.floor((this.tolerance - (next - now)) / this.interval) + 1;
    if (r.remaining < 0) r.remaining = 0;
    r.resetMs = next - now;
    r.retryAfterMs = 0;
    return r;
  }
}

interface Window {
  /** Start of the current fixed window. */
  start: number;
  previous: number;
  current: number;
}

/**
 * Sliding window: counts in fixed windows of `period`, and a request is allowed when
 * previous * (1 - elapsed / period) + current < rate (the previous window's count
 * weighted by how much of it the sliding window still covers).
 */
export class SlidingWindowStore extends BoundedMap<Window> implements RateLimitStore {
  private readonly result: Decision = { allowed: false, remaining: 0, resetMs: 0, retryAfterMs: 0 };

  constructor(
    private readonly rate: number,
    private readonly period: number,
    maxKeys: number,
  ) {
    super(maxKeys, period);
  }

  protected idle(w: Window, now: number): boolean {
    return now - w.start >= 2 * this.period;
  }

  decide(key: string, now: number): Decision {
    const r = this.result;
    const period = this.period;
    let w = this.entries.get(key);
    if (w === undefined) {
      this.admit(now);
      w = { start: now - (now % period), previous: 0, current: 0 };
      this.entries.set(key, w);
    } else if (now - w.start >= period) {
      const windows = Math.floor((now - w.start) / period);
      w.previous = windows === 1 ? w.current : 0;
      w.current = 0;
      w.start += windows * period;
    }
    const elapsed = now - w.start;
    const weighted = w.previous * (1 - elapsed / period) + w.current;
    r.resetMs = period - elapsed + (w.previous > 0 || w.current > 0 ? period : 0);
    if (weighted + 1 > this.rate) {
      r.allowed = false;
      r.remaining = 0;
      // Wait until the previous window's weight has fallen enough, or the window turns.
      const room = this.rate - 1 - w.current;
      r.retryAfterMs =
        room >= 0 ? Math.max(1, period * (1 - room / w.previous) - elapsed) : period - elapsed + period * (1 - (this.rate - 1) / w.current);
      return r;
    }
    w.current++;
    r.allowed = true;
    r.remaining = Math.max(0, Math.floor(this.rate - weighted - 1));
    r.retryAfterMs = 0;
    return r;
  }
}
