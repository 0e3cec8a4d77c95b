// Hot path: a service's retry budget (as Envoy's and Finagle's): retries may add only a
// share of recent requests, so a failing backend cannot make the gateway multiply load.

const WINDOW_SECONDS = 10;

/**
 * Counts requests and retries in one-second buckets over the last 10 seconds. A
 * retry is allowed while retries < minPerSecond × 10 + ratio × requests. Lives in
 * the service registry, so a reload keeps its counts.
 */
export class RetryBudget {
  ratio: number;
  minPerSecond: number;
  private readonly requests = new Float64Array(WINDOW_SECONDS);
  private readonly retries = new Float64Array(WINDOW_SECONDS);
  private second = 0;

  constructor(ratio: number, minPerSecond: number) {
    this.ratio = ratio;
    this.minPerSecond = minPerSecond;
  }

  /** Advance to the current second, clearing buckets that fell out of the window. */
  private roll(now: number): number {
    const second = Math.floor(now / 1000);
    if (second !== this.second) {
      const gap = Math.min(second - this.second, WINDOW_SECONDS);
      for (let i = 1; i <= gap; i++) {
        const b = (this.second + i) % WINDOW_SECONDS;
        this.requests[b] = 0;
        this.retries[b] = 0;
      }
      this.second = second;
    }
    return second % WINDOW_SECONDS;
  }

  /** Count one request (first tries only). */
  recordRequest(now = Date.now()): void {
    this.requests[this.roll(now)]! += 1;
  }

  /** Take one retry from the budget; false when the budget is spent. */
  tryRetry(now = Date.now()): boolean {
    const bucket = this.roll(now);
    let requests = 0;
    let retries = 0;
    for (let i = 0; i < WINDOW_SECONDS; i++) {
      requests += this.requests[i]!;
      retries += this.retries[i]!;
    }
    if (retries + 1 > this.minPerSecond * WINDOW_SECONDS + this.ratio * requests) return false;
    this.retries[bucket]! += 1;
    return true;
  }

  /** Retries spent in the window (for tests and, later, metrics). */
  get spent(): number {
    this.roll(Date.now());
    let n = 0;
    for (let i = 0; i < WINDOW_SECONDS; i++) n += this.retries[i]!;
    return n;
  }
}
