// Hot path: a histogram cell; observe() is one bucket search and three additions.

/**
 * Counts of observations per bucket (not cumulative; exposition adds them up),
 * their sum and their count. Bounds are in seconds, observations in milliseconds.
 */
export class HistogramCell {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  private readonly boundsMs: Float64Array;

  constructor(boundsMs: Float64Array) {
    this.boundsMs = boundsMs;
    // One more slot for observations above the last bound (+Inf).
    this.counts = new Float64Array(boundsMs.length + 1);
  }

  observe(ms: number): void {
    const bounds = this.boundsMs;
    let i = 0;
    const n = bounds.length;
    while (i < n && ms > bounds[i]!) i++;
    this.counts[i]!++;
    this.sum += ms;
    this.count++;
  }
}

/** Histogram bounds in seconds (as configured) turned into the milliseconds cells compare with. */
export function boundsInMs(seconds: readonly number[]): Float64Array {
  return Float64Array.from(seconds, (s) => s * 1000);
}
