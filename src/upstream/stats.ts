// Hot path: counters of one backend's connections and failed tries, kept with its pool across reloads.
import type { UpstreamFailure } from "../errors.js";
import { HistogramCell } from "../observability/metrics/histogram.js";

/** Every kind of failed try, in the order metrics list them. */
export const UPSTREAM_FAILURES: readonly UpstreamFailure[] = [
  "connect-refused",
  "connect-timeout",
  "connect-error",
  "tls-error",
  "response-timeout",
  "protocol-error",
  "reset",
  "no-backend",
  "pool-exhausted",
];

export class UpstreamStats {
  /** Time to establish new connections (ms). */
  readonly connect: HistogramCell;
  /** Failed tries by kind. */
  readonly failures: Record<UpstreamFailure, number> = {
    "connect-refused": 0,
    "connect-timeout": 0,
    "connect-error": 0,
    "tls-error": 0,
    "response-timeout": 0,
    "protocol-error": 0,
    reset: 0,
    "no-backend": 0,
    "pool-exhausted": 0,
  };
  /** Connections opened in all. */
  opened = 0;

  constructor(boundsMs: Float64Array) {
    this.connect = new HistogramCell(boundsMs);
  }
}
