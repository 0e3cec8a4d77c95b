// Hot path (record): a service's recent response-head latencies, for hedging delays.

const SAMPLES = 512;

/**
 * The last 512 response-head latencies of a service in a ring; `refresh()` (run by
 * the sweeper, not per request) sorts a copy so `percentile(p)` is a lookup. Kept in
 * the service registry across reloads.
 */
export class LatencyWindow {
  private readonly ring = new Float64Array(SAMPLES);
  private count = 0;
  private next = 0;
  private sorted = new Float64Array(0);
  private dirty = false;
  private refreshedAt = 0;

  record(ms: number): void {
    this.ring[this.next] = ms;
    this.next = (this.next + 1) % SAMPLES;
    if (this.count < SAMPLES) this.count++;
    this.dirty = true;
  }

  /** Re-sort, at most every 250 ms and only after new samples (the sweeper calls it often). */
  refresh(now = performance.now()): void {
    if (!this.dirty || now - this.refreshedAt < 250) return;
    this.dirty = false;
    this.refreshedAt = now;
    this.sorted = this.ring.slice(0, this.count).sort();
  }

  /** The p-th percentile (0..100) as of the last refresh, or undefined before any sample. */
  percentile(p: number): number | undefined {
    const n = this.sorted.length;
    if (n === 0) return undefined;
    return this.sorted[Math.min(n - 1, Math.floor((p / 100) * n))];
  }
}
