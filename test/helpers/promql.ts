/**
 * What a PromQL expression reads: the metric names and label matchers of its
 * vector selectors, found with Prometheus's own PromQL grammar
 * (@prometheus-io/lezer-promql, the parser behind Prometheus's query editor), so
 * strings, label matchers, `by (...)` lists, function names, keywords and
 * durations are never mistaken for metric names.
 *
 * Grafana's template syntax ($var, ${var}, $__rate_interval) is not PromQL:
 * `substituteGrafanaVariables` replaces it first.
 */
import type { SyntaxNode } from "@lezer/common";
import { parser } from "@prometheus-io/lezer-promql";

/** One vector selector: `name{label="value", ...}`. */
export interface Selector {
  readonly metric: string;
  /** Label names its matchers test. */
  readonly labels: readonly string[];
}

export class PromQLSyntaxError extends Error {}

function text(expr: string, node: SyntaxNode): string {
  return expr.slice(node.from, node.to);
}

/** The vector selectors of `expr`; throws PromQLSyntaxError (with the position) when it does not parse. */
export function selectors(expr: string): Selector[] {
  const tree = parser.parse(expr);
  const found: Selector[] = [];
  let error: number | undefined;
  tree.iterate({
    enter(ref) {
      if (ref.type.isError) {
        error ??= ref.from;
        return false;
      }
      if (ref.name !== "VectorSelector") return;
      const node = ref.node;
      const id = node.getChild("Identifier");
      const labels: string[] = [];
      let metric = id === null ? "" : text(expr, id);
      for (const matcher of node.getChild("LabelMatchers")?.getChildren("UnquotedLabelMatcher") ?? []) {
        const name = text(expr, matcher.getChild("LabelName")!);
        const value = matcher.getChild("StringLiteral");
        // {__name__="x"} is another way to write the name x.
        if (name === "__name__" && value !== null && matcher.getChild("MatchOp")?.getChild("EqlSingle") !== null) metric = JSON.parse(text(expr, value)) as string;
        else labels.push(name);
      }
      found.push({ metric, labels });
      return false;
    },
  });
  if (error !== undefined) {
    throw new PromQLSyntaxError(`PromQL syntax error at offset ${error}: ${expr.slice(0, error)}⟨here⟩${expr.slice(error)}`);
  }
  return found;
}

/** Values the checks give Grafana's variables: `.*` for label variables (All), fixed windows for intervals. */
export const GRAFANA_TEST_VALUES: Readonly<Record<string, string>> = {
  __rate_interval: "15s",
  __interval: "5s",
  __range: "1m",
};

/**
 * Replaces $name, ${name} and [[name]] by `values[name]`, or by `.*` for names
 * without a value (label variables, which dashboards use only in `=~` matchers).
 */
export function substituteGrafanaVariables(expr: string, values: Readonly<Record<string, string>> = GRAFANA_TEST_VALUES): string {
  return expr.replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]/g, (_m, a?: string, b?: string, c?: string) => values[(a ?? b ?? c)!] ?? ".*");
}

/** Grafana's `label_values(selector, label)` variable query: the selector's PromQL and the label. */
export function labelValuesQuery(query: string): { selector: string; label: string } | undefined {
  const m = /^\s*label_values\(\s*(.+?)\s*,\s*(\w+)\s*\)\s*$/.exec(query);
  return m === null ? undefined : { selector: m[1]!, label: m[2]! };
}
