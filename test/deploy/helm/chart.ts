/**
 * `helm template` for deploy/helm/divisor without helm (Debian has none): values.yaml
 * deep-merged with the given values files (maps merge, anything else replaces, null
 * removes the key, as Helm does), Helm's built-in objects, every templates/*.yaml
 * rendered with test/deploy/helm/template.ts (the `_*.tpl` files only define), the
 * output split into YAML documents.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { ROOT } from "../../helpers/cli.js";
import { Renderer } from "./template.js";

export const CHART = join(ROOT, "deploy/helm/divisor");

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface Rendered {
  /** Every object rendered, in file order. */
  objects: K8sObject[];
  /** The template file each object came from. */
  sources: Map<K8sObject, string>;
  values: Record<string, unknown>;
}

type Values = Record<string, unknown>;

const isMap = (v: unknown): v is Values => typeof v === "object" && v !== null && !Array.isArray(v);

/** Helm's coalescing of user values over the chart's. */
export function mergeValues(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else if (isMap(v) && isMap(out[k])) out[k] = mergeValues(out[k] as Values, v);
    else out[k] = v;
  }
  return out;
}

export function chartValues(): Values {
  return parse(readFileSync(join(CHART, "values.yaml"), "utf8")) as Values;
}

/** Renders the chart as `helm template <release> deploy/helm/divisor -n <namespace> -f <files...>` would. */
export function renderChart(options: { release?: string; namespace?: string; values?: Values[] } = {}): Rendered {
  const chart = parse(readFileSync(join(CHART, "Chart.yaml"), "utf8")) as { name: string; version: string; appVersion: string };
  let values = chartValues();
  for (const v of options.values ?? []) values = mergeValues(values, v);
  const renderer = new Renderer();
  const dir = join(CHART, "templates");
  const files = readdirSync(dir).sort();
  for (const file of files) renderer.add(`${chart.name}/templates/${file}`, readFileSync(join(dir, file), "utf8"));
  const objects: K8sObject[] = [];
  const sources = new Map<K8sObject, string>();
  for (const file of files.filter((f) => f.endsWith(".yaml") && !f.startsWith("_"))) {
    const name = `${chart.name}/templates/${file}`;
    const root = {
      Values: values,
      Release: { Name: options.release ?? "edge", Namespace: options.namespace ?? "gateway", Service: "Helm", IsInstall: true, IsUpgrade: false, Revision: 1 },
      Chart: { Name: chart.name, Version: chart.version, AppVersion: chart.appVersion },
      Template: { Name: name, BasePath: `${chart.name}/templates` },
      Capabilities: { KubeVersion: { Version: "v1.30.0", Major: "1", Minor: "30" } },
    };
    const text = renderer.render(name, root);
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0) throw new Error(`${name} rendered invalid YAML: ${doc.errors.map((e) => e.message).join("; ")}\n${text}`);
      const object = doc.toJS() as K8sObject | null;
      if (object === null) continue;
      objects.push(object);
      sources.set(object, name);
    }
  }
  return { objects, sources, values };
}
