/**
 * Metrics that middlewares declare through their PluginContext (built-in ones and
 * users' plugins alike): counters and gauges, registered by family name and kept
 * across reloads, rendered with the gateway's own families at /metrics. Every
 * series carries the middleware's name as its first label.
 */
import { ConfigError } from "../../errors.js";
import type { ExpositionWriter, Labels } from "./exposition.js";

/** One series of a family: a label set's value. */
export interface MetricCell {
  /** Add `by` (default 1); counters only go up. */
  inc(by?: number): void;
  /** Gauges only: set the value. */
  set(value: number): void;
}

/** A family as one middleware sees it: its series by label values (in the declared order). */
export interface MetricFamily {
  /** The series for these label values; keep the cell when the values are fixed (no lookup per request). */
  labels(...values: string[]): MetricCell;
}

/**
 * What a middleware may declare. `name` follows Prometheus conventions: a counter's
 * name without "_total" (the exposition adds it), units at the end.
 *
 * @example
 * create(options, { metrics }) {
 *   const rejected = metrics.counter("divisor_example_rejected", "Requests refused.", ["reason"]).labels("no-key");
 *   return { onRequest(ex) { rejected.inc(); return ex.respond(401) } };
 * }
 */
export interface PluginMetrics {
  counter(name: string, help: string, labelNames?: readonly string[]): MetricFamily;
  gauge(name: string, help: string, labelNames?: readonly string[]): MetricFamily;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

class Cell implements MetricCell {
  value = 0;
  constructor(
    readonly labels: Labels,
    private readonly gauge: boolean,
  ) {}
  inc(by = 1): void {
    this.value += by;
  }
  set(value: number): void {
    if (!this.gauge) throw new TypeError("set() is for gauges; a counter only goes up with inc()");
    this.value = value;
  }
}

class Family {
  readonly cells = new Map<string, Cell>();
  constructor(
    readonly name: string,
    readonly type: "counter" | "gauge",
    readonly help: string,
    readonly labelNames: readonly string[],
  ) {}

  cell(middleware: string, values: readonly string[]): Cell {
    const key = `${middleware}\u0000${values.join("\u0000")}`;
    let cell = this.cells.get(key);
    if (cell === undefined) {
      if (values.length !== this.labelNames.length) {
        throw new TypeError(`${this.name} has labels (${this.labelNames.join(", ")}): labels() takes ${this.labelNames.length} values, got ${values.length}`);
      }
      const labels: [string, string][] = [["middleware", middleware]];
      for (let i = 0; i < values.length; i++) labels.push([this.labelNames[i]!, values[i]!]);
      cell = new Cell(labels, this.type === "gauge");
      this.cells.set(key, cell);
    }
    return cell;
  }
}

/** Every family middlewares declared, owned by the gateway's metrics (kept across reloads). */
export class PluginMetricsRegistry {
  private readonly families = new Map<string, Family>();

  /** The API one middleware gets: its series carry middleware="<name>". */
  forMiddleware(middleware: string): PluginMetrics {
    const declare = (type: "counter" | "gauge", name: string, help: string, labelNames: readonly string[] = []): MetricFamily => {
      const family = this.family(type, name, help, labelNames, middleware);
      return { labels: (...values: string[]) => family.cell(middleware, values) };
    };
    return {
      counter: (name, help, labelNames) => declare("counter", name, help, labelNames),
      gauge: (name, help, labelNames) => declare("gauge", name, help, labelNames),
    };
  }

  private family(type: "counter" | "gauge", name: string, help: string, labelNames: readonly string[], middleware: string): Family {
    const where = `middlewares.${middleware}`;
    const refuse = (message: string) => new ConfigError([{ file: "<config>", line: 0, column: 0, path: where, message }]);
    if (!NAME.test(name) || name.endsWith("_total")) throw refuse(`metric name "${name}" is not valid: letters, digits, '_' and ':', and a counter without "_total" (added on exposition)`);
    for (const l of labelNames) if (!LABEL.test(l) || l === "middleware" || l.startsWith("__")) throw refuse(`label name "${l}" of ${name} is not valid (or reserved)`);
    const existing = this.families.get(name);
    if (existing === undefined) {
      const family = new Family(name, type, help, [...labelNames]);
      this.families.set(name, family);
      return family;
    }
    if (existing.type !== type || existing.labelNames.join(",") !== labelNames.join(",")) {
      throw refuse(`metric ${name} is already declared as a ${existing.type} with labels (${existing.labelNames.join(", ")}); declare it the same way everywhere`);
    }
    return existing;
  }

  render(w: ExpositionWriter): void {
    for (const f of this.families.values()) {
      w.family(f.name, f.type, f.help);
      for (const cell of f.cells.values()) w.sample(cell.labels, cell.value);
    }
  }
}

/** For compiling without a gateway (the CLI's offline checks): declares nothing, counts nothing. */
export const NO_PLUGIN_METRICS: PluginMetrics = (() => {
  const cell: MetricCell = { inc() {}, set() {} };
  const family: MetricFamily = { labels: () => cell };
  return { counter: () => family, gauge: () => family };
})();
