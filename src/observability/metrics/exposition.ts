/**
 * Writes metric families in the Prometheus text format (0.0.4) or in OpenMetrics
 * 1.0 (`application/openmetrics-text`), which differ in how counters are named
 * and in the closing `# EOF`.
 */
import type { HistogramCell } from "./histogram.js";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

export type MetricType = "counter" | "gauge" | "histogram";
export type Labels = readonly (readonly [string, string])[];

/** Label values escaped as both formats require: backslash, double quote, newline. */
function escapeLabel(value: string): string {
  return value.replace(/[\\"\n]/g, (c) => (c === "\n" ? "\\n" : `\\${c}`));
}

function escapeHelp(text: string): string {
  return text.replace(/[\\\n]/g, (c) => (c === "\n" ? "\\n" : "\\\\"));
}

export function renderLabels(labels: Labels): string {
  if (labels.length === 0) return "";
  let out = "{";
  for (let i = 0; i < labels.length; i++) {
    if (i > 0) out += ",";
    out += `${labels[i]![0]}="${escapeLabel(labels[i]![1])}"`;
  }
  return `${out}}`;
}

function formatValue(v: number): string {
  if (v === Number.POSITIVE_INFINITY) return "+Inf";
  if (v === Number.NEGATIVE_INFINITY) return "-Inf";
  if (Number.isNaN(v)) return "NaN";
  return String(v);
}

export class ExpositionWriter {
  readonly openMetrics: boolean;
  private out: string[] = [];
  /** Sample name of the family being written (counters get "_total"). */
  private sampleName = "";

  constructor(openMetrics: boolean) {
    this.openMetrics = openMetrics;
  }

  /**
   * Start a family. `name` is the base name: for counters without "_total" (the
   * writer adds it), for others the full name. Units, when given, end the name.
   */
  family(name: string, type: MetricType, help: string, unit?: string): this {
    const familyName = type === "counter" && !this.openMetrics ? `${name}_total` : name;
    this.sampleName = type === "counter" ? `${name}_total` : name;
    this.out.push(`# HELP ${familyName} ${escapeHelp(help)}`, `# TYPE ${familyName} ${type}`);
    if (unit !== undefined && this.openMetrics) this.out.push(`# UNIT ${familyName} ${unit}`);
    return this;
  }

  /** One counter or gauge sample of the current family. */
  sample(labels: Labels, value: number): this {
    this.out.push(`${this.sampleName}${renderLabels(labels)} ${formatValue(value)}`);
    return this;
  }

  /** One histogram series of the current family; the cell counts milliseconds, exposition is in seconds. */
  histogram(labels: Labels, cell: HistogramCell, boundsSeconds: readonly number[]): this {
    const name = this.sampleName;
    const base = renderLabels(labels);
    const prefix = base === "" ? "{" : `${base.slice(0, -1)},`;
    let cumulative = 0;
    for (let i = 0; i < boundsSeconds.length; i++) {
      cumulative += cell.counts[i]!;
      this.out.push(`${name}_bucket${prefix}le="${formatValue(boundsSeconds[i]!)}"} ${cumulative}`);
    }
    cumulative += cell.counts[boundsSeconds.length]!;
    this.out.push(`${name}_bucket${prefix}le="+Inf"} ${cumulative}`);
    this.out.push(`${name}_sum${base} ${formatValue(cell.sum / 1000)}`);
    this.out.push(`${name}_count${base} ${cumulative}`);
    return this;
  }

  finish(): string {
    if (this.openMetrics) this.out.push("# EOF");
    const text = `${this.out.join("\n")}\n`;
    this.out = [];
    return text;
  }
}

/** Whether an Accept header asks for OpenMetrics (what Prometheus sends when it prefers it). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept?.includes("application/openmetrics-text") === true;
}
