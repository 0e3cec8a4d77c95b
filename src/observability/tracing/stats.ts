/**
 * Counters of the tracer itself. They belong to the gateway, not to one tracer
 * provider, so they keep counting across reloads that rebuild the provider.
 */
import type { ExpositionWriter } from "../metrics/exposition.js";

export class TracingStats {
  /** Spans the OTLP endpoint accepted. */
  spansExported = 0;
  /** Export requests that failed (endpoint unreachable, refused, timed out). */
  exportFailures = 0;
  /** Spans in export requests that failed. */
  spansFailed = 0;
  /** Ended spans dropped because the export queue was full. */
  spansDropped = 0;

  render(w: ExpositionWriter): void {
    w.family("divisor_tracing_spans_exported", "counter", "Spans the OTLP endpoint accepted.").sample([], this.spansExported);
    w.family("divisor_tracing_export_failures", "counter", "OTLP export requests that failed (endpoint unreachable, refused or timed out); their spans are lost.").sample(
      [],
      this.exportFailures,
    );
    w.family("divisor_tracing_spans_failed", "counter", "Spans lost in failed OTLP export requests.").sample([], this.spansFailed);
    w.family("divisor_tracing_spans_dropped", "counter", "Ended spans dropped because the export queue (tracing.batching.maxQueueSize) was full.").sample(
      [],
      this.spansDropped,
    );
  }
}
