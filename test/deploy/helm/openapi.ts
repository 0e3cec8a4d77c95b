/**
 * Checks a Kubernetes object against the OpenAPI shapes of its kind, offline: the
 * models of @kubernetes/client-node (generated from the Kubernetes OpenAPI spec)
 * give each type's fields and their types (`attributeTypeMap`), and their .d.ts
 * says which fields are required (declared without `?`). Every field name, every
 * value's type (string, integer, boolean, list, map, IntOrString, nested types)
 * and every required field is checked. Kinds the package lacks (the Prometheus
 * Operator's ServiceMonitor) get their shape below, written from the published CRD
 * (monitoring.coreos.com/v1), in the same form.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
// The models alone: the package's index also loads its HTTP client, whose undici needs Node 22's zlib (zstd) to load.
import * as k8s from "@kubernetes/client-node/dist/gen/models/all.js";

interface Attribute {
  name: string;
  baseName: string;
  type: string;
  format: string;
}

interface Shape {
  attributes: Attribute[];
  required: Set<string>;
}

const attr = (baseName: string, type: string, format = ""): Attribute => ({ name: baseName, baseName, type, format });

/** ServiceMonitor (monitoring.coreos.com/v1), the fields of its CRD the chart may use. */
const CRD_SHAPES: Record<string, Shape> = {
  MonitoringV1ServiceMonitor: {
    attributes: [attr("apiVersion", "string"), attr("kind", "string"), attr("metadata", "V1ObjectMeta"), attr("spec", "MonitoringV1ServiceMonitorSpec")],
    required: new Set(["spec"]),
  },
  MonitoringV1ServiceMonitorSpec: {
    attributes: [
      attr("endpoints", "Array<MonitoringV1Endpoint>"),
      attr("selector", "V1LabelSelector"),
      attr("namespaceSelector", "MonitoringV1NamespaceSelector"),
      attr("jobLabel", "string"),
      attr("targetLabels", "Array<string>"),
      attr("podTargetLabels", "Array<string>"),
      attr("sampleLimit", "number", "int64"),
    ],
    required: new Set(["selector"]),
  },
  MonitoringV1NamespaceSelector: { attributes: [attr("any", "boolean"), attr("matchNames", "Array<string>")], required: new Set() },
  MonitoringV1Endpoint: {
    attributes: [
      attr("port", "string"),
      attr("targetPort", "IntOrString"),
      attr("path", "string"),
      attr("scheme", "string"),
      attr("params", "{ [key: string]: Array<string>; }"),
      attr("interval", "string"),
      attr("scrapeTimeout", "string"),
      attr("honorLabels", "boolean"),
      attr("honorTimestamps", "boolean"),
      attr("authorization", "MonitoringV1SafeAuthorization"),
      attr("tlsConfig", "any"),
      attr("relabelings", "Array<any>"),
      attr("metricRelabelings", "Array<any>"),
    ],
    required: new Set(),
  },
  MonitoringV1SafeAuthorization: { attributes: [attr("type", "string"), attr("credentials", "V1SecretKeySelector")], required: new Set() },
};

/** The client-node model class of an apiVersion + kind (apps/v1 Deployment -> V1Deployment). */
export function modelOf(apiVersion: string, kind: string): string {
  if (apiVersion === "monitoring.coreos.com/v1" && kind === "ServiceMonitor") return "MonitoringV1ServiceMonitor";
  const version = apiVersion.split("/").at(-1)!;
  return `${version[0]!.toUpperCase()}${version.slice(1)}${kind}`;
}

const modelsDir = dirname(createRequire(import.meta.url).resolve("@kubernetes/client-node/dist/gen/models/all.js"));
const shapes = new Map<string, Shape>();

function shapeOf(type: string): Shape | undefined {
  const crd = CRD_SHAPES[type];
  if (crd !== undefined) return crd;
  const cached = shapes.get(type);
  if (cached !== undefined) return cached;
  const model = (k8s as unknown as Record<string, { getAttributeTypeMap?: () => Attribute[] } | undefined>)[type];
  if (model?.getAttributeTypeMap === undefined) return undefined;
  // Required fields: those the generated declaration gives without `?` ('name': string;).
  const dts = readFileSync(join(modelsDir, `${type}.d.ts`), "utf8");
  const required = new Set([...dts.matchAll(/^\s+'([^']+)': /gm)].map((m) => m[1]!));
  const shape = { attributes: model.getAttributeTypeMap(), required };
  shapes.set(type, shape);
  return shape;
}

/** Problems of `value` as a `type`, each with its path; empty when it fits. */
export function checkShape(value: unknown, type: string, path = ""): string[] {
  const here = path === "" ? "(root)" : path;
  if (type === "any" || type === "object") return [];
  if (type === "string") return typeof value === "string" ? [] : [`${here}: expected a string, got ${JSON.stringify(value)}`];
  if (type === "boolean") return typeof value === "boolean" ? [] : [`${here}: expected a boolean, got ${JSON.stringify(value)}`];
  if (type === "number") return typeof value === "number" ? [] : [`${here}: expected a number, got ${JSON.stringify(value)}`];
  if (type === "Date") return typeof value === "string" ? [] : [`${here}: expected a date-time string`];
  if (type === "IntOrString") return Number.isInteger(value) || typeof value === "string" ? [] : [`${here}: expected an integer or a string, got ${JSON.stringify(value)}`];
  const list = /^Array<(.+)>$/.exec(type);
  if (list !== null) {
    if (!Array.isArray(value)) return [`${here}: expected a list of ${list[1]}, got ${JSON.stringify(value)}`];
    return value.flatMap((v, i) => checkShape(v, list[1]!, `${path}[${i}]`));
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map !== null) {
    if (typeof value !== "object" || value === null || Array.isArray(value)) return [`${here}: expected a map of ${map[1]}, got ${JSON.stringify(value)}`];
    return Object.entries(value).flatMap(([k, v]) => checkShape(v, map[1]!, `${path}.${k}`));
  }
  const shape = shapeOf(type);
  if (shape === undefined) return [`${here}: no OpenAPI shape known for type ${type}`];
  if (typeof value !== "object" || value === null || Array.isArray(value)) return [`${here}: expected an object (${type}), got ${JSON.stringify(value)}`];
  const problems: string[] = [];
  const byName = new Map(shape.attributes.map((a) => [a.baseName, a]));
  for (const [key, v] of Object.entries(value)) {
    const a = byName.get(key);
    if (a === undefined) {
      problems.push(`${path}.${key}: no such field in ${type} (fields: ${[...byName.keys()].join(", ")})`);
      continue;
    }
    problems.push(...checkShape(v, a.type, `${path}.${key}`));
    if (a.type === "number" && (a.format === "int32" || a.format === "int64") && typeof v === "number" && !Number.isInteger(v)) problems.push(`${path}.${key}: expected an integer (${a.format}), got ${v}`);
  }
  for (const key of shape.required) if (!(key in value)) problems.push(`${here}: ${type} requires ${key}`);
  return problems;
}

/** Problems of a whole object, checked against the model of its apiVersion and kind. */
export function checkObject(object: { apiVersion?: unknown; kind?: unknown; [field: string]: unknown }): string[] {
  if (typeof object.apiVersion !== "string" || typeof object.kind !== "string") return ["an object needs apiVersion and kind"];
  const model = modelOf(object.apiVersion, object.kind);
  if (shapeOf(model) === undefined) return [`${object.apiVersion} ${object.kind}: no OpenAPI shape known (model ${model})`];
  return checkShape(object, model);
}
