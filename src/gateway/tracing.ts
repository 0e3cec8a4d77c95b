/**
 * Owns the tracer provider across reloads: the OpenTelemetry SDK is imported only
 * when the config has `tracing`; a reload that changes `tracing` builds a new
 * provider for new exchanges and flushes and shuts down the old one; close()
 * flushes and stops the one in force.
 */
import type { TracingConfig } from "../config/schema-observability.js";
import { TracingStats } from "../observability/tracing/stats.js";
import type { LoadedTracing } from "../observability/tracing/tracer.js";
import type { ExchangeTracer } from "../observability/tracing/types.js";

/** A tracer chosen for a new config, not in force until `commit()`. */
export interface PreparedTracing {
  readonly tracer: ExchangeTracer | null;
  /** The new config is in force: retire the provider it replaces. */
  commit(): void;
  /** The new config was refused: drop the provider built for it. */
  abort(): void;
}

export class TracingOwner {
  /** Created with the first tracer, then kept (and exposed in /metrics) for the gateway's life. */
  stats: TracingStats | null = null;
  private current: { key: string; loaded: LoadedTracing } | null = null;

  /** The tracer in force (null = off). */
  get tracer(): ExchangeTracer | null {
    return this.current?.loaded.tracer ?? null;
  }

  /** Build (or keep) the tracer for `config`. */
  async prepare(config: TracingConfig | undefined): Promise<PreparedTracing> {
    const key = config === undefined ? "" : JSON.stringify(config);
    const previous = this.current;
    if ((previous?.key ?? "") === key) return { tracer: this.tracer, commit: noop, abort: noop };
    let next: { key: string; loaded: LoadedTracing } | null = null;
    if (config !== undefined) {
      // Loaded only when configured: the SDK and exporters are about 4 MB of code.
      const { createTracing } = await import("../observability/tracing/tracer.js");
      if (this.stats === null) this.stats = new TracingStats();
      next = { key, loaded: createTracing(config, this.stats) };
    }
    return {
      tracer: next?.loaded.tracer ?? null,
      commit: () => {
        this.current = next;
        if (previous !== null) retire(previous.loaded);
      },
      abort: () => {
        if (next !== null) retire(next.loaded);
      },
    };
  }

  /** Export what is queued and stop exporting. */
  async close(): Promise<void> {
    const current = this.current;
    this.current = null;
    if (current !== null) await current.loaded.shutdown().catch(noop);
  }
}

/** Flush and stop a provider in the background: a slow endpoint must not hold up a reload. */
function retire(loaded: LoadedTracing): void {
  loaded.shutdown().catch(noop);
}

function noop(): void {}
