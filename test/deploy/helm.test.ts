/**
 * deploy/helm/divisor, rendered without helm (Debian has none; test/deploy/helm/
 * renders the subset of Go templates the chart uses) for the chart's values and
 * each file of its ci/ folder: every object is checked against the Kubernetes
 * OpenAPI shapes of its kind (test/deploy/helm/openapi.ts), the objects against
 * each other (selectors, ports, names), the RBAC against least privilege, the
 * gateway configuration in the ConfigMap against the gateway's own schema, and the
 * pod's command line with that configuration starts a gateway whose probes answer.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { Ajv } from "ajv";
import { parse, stringify } from "yaml";
import { parseConfigText } from "../../src/config/load.js";
import { assertBuilt, BIN, ROOT } from "../helpers/cli.js";
import { freePort, get } from "../helpers/net.js";
import { exitedWithin, outputOf, ownGroup } from "../helpers/process.js";
import { CHART, chartValues, type K8sObject, mergeValues, type Rendered, renderChart } from "./helm/chart.js";
import { checkObject } from "./helm/openapi.js";
import { readyStatus } from "./readiness.js";
import { Renderer, TemplateError } from "./helm/template.js";

type Values = Record<string, unknown>;
// biome-ignore lint/suspicious/noExplicitAny: rendered objects are walked field by field
type Any = any;

const ciFiles = readdirSync(join(CHART, "ci"))
  .filter((f) => f.endsWith(".yaml"))
  .sort();
const cases: { name: string; values: Values[] }[] = [
  { name: "the chart's own values", values: [] },
  ...ciFiles.map((f) => ({ name: `ci/${f}`, values: [parse(readFileSync(join(CHART, "ci", f), "utf8")) as Values] })),
];

const find = (r: Rendered, kind: string, name?: string): Any[] => r.objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const one = (r: Rendered, kind: string, name?: string): Any => {
  const found = find(r, kind, name);
  assert.equal(found.length, 1, `expected one ${kind}${name === undefined ? "" : ` ${name}`}, got ${found.length}`);
  return found[0];
};
const workload = (r: Rendered): Any => r.objects.find((o) => o.kind === "Deployment" || o.kind === "DaemonSet");
const matches = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

/** The gateway configuration the ConfigMap carries, validated with the gateway's schema. */
function gatewayConfig(r: Rendered): { text: string; parsed: Any } {
  const text = one(r, "ConfigMap").data["divisor.yaml"] as string;
  return { text, parsed: parse(text) };
}

describe("the Go template subset renderer (test-only, standing for helm)", () => {
  const render = (source: string, values: Values = {}) => {
    const r = new Renderer();
    r.add("t", source);
    return r.render("t", { Values: values });
  };

  test("trims whitespace on the side of a dash and keeps it elsewhere", () => {
    assert.equal(render("a  {{- 1 -}}  b {{ 2 }} c"), "a1b 2 c", "{{- and -}} trim, {{ }} does not");
  });

  test("evaluates if / else if / else, with, and range over lists and maps", () => {
    const src = "{{ if .Values.a }}A{{ else if .Values.b }}B{{ else }}C{{ end }}|{{ with .Values.m }}{{ .k }}{{ else }}none{{ end }}|{{ range $i, $v := .Values.l }}{{ $i }}={{ $v }};{{ end }}|{{ range $k, $v := .Values.m }}{{ $k }}:{{ $v }}{{ end }}";
    assert.equal(render(src, { b: true, m: { k: "v" }, l: ["x", "y"] }), "B|v|0=x;1=y;|k:v", "control structures");
    assert.equal(render(src, { a: 1, m: {}, l: [] }), "A|none||", "empty map and list are false");
  });

  test("pipes the value as the last argument and includes defines with nindent", () => {
    const src = '{{- define "x" -}}k: {{ .v | quote }}{{- end -}}root:{{ include "x" .Values | nindent 2 }}\n{{ .Values.missing | default "d" }} {{ printf "%s-%d" "a" 3 }}';
    assert.equal(render(src, { v: "q" }), 'root:\n  k: "q"\nd a-3', "pipelines, include, nindent, default, printf");
  });

  test("renders toYaml with sorted keys and returns the deciding value from and/or", () => {
    assert.equal(render("{{ toYaml .Values }}", { b: 1, a: [true] }), "a:\n  - true\nb: 1", "toYaml sorts keys, no trailing newline");
    assert.equal(render("{{ and 1 0 2 }} {{ or 0 \"\" 3 }} {{ and .Values.none true }}", {}), "0 3 ", "and/or as in Go: the first deciding argument");
  });

  test("refuses what Go or Helm would refuse, and what it does not know", () => {
    assert.throws(() => render("{{ .Values.a.b }}"), /nil pointer evaluating .Values.a.b/, "a field of nil");
    assert.throws(() => render('{{ fail "no" }}'), /t:1: no/, "fail");
    assert.throws(() => render("{{ tpl . }}"), /function "tpl" is not in the subset/, "an unknown function");
    assert.throws(() => render("{{ if 1 }}x"), TemplateError, "an if without end");
    assert.throws(() => render("{{ .Values }}", { a: 1 }), /use toYaml/, "printing a map");
  });
});

describe("the OpenAPI shape check (test-only)", () => {
  const deployment = () => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x" },
    spec: { selector: { matchLabels: { a: "b" } }, template: { spec: { containers: [{ name: "c", ports: [{ containerPort: 80 }] }] } } },
  });

  test("accepts a well-formed object", () => {
    assert.deepEqual(checkObject(deployment()), [], "a minimal Deployment fits");
  });

  test("names an unknown field, a value of the wrong type and a missing required field, with their paths", () => {
    const d: Any = deployment();
    d.spec.replica = 2;
    d.spec.template.spec.containers[0].ports[0].containerPort = "80";
    delete d.spec.template.spec.containers[0].name;
    const problems = checkObject(d).join("\n");
    assert.match(problems, /\.spec\.replica: no such field in V1DeploymentSpec/, "the misspelt field");
    assert.match(problems, /\.spec\.template\.spec\.containers\[0\]\.ports\[0\]\.containerPort: expected a number, got "80"/, "the string port");
    assert.match(problems, /\.spec\.template\.spec\.containers\[0\]: V1Container requires name/, "the missing container name");
  });

  test("checks an integer field and an IntOrString, and knows the ServiceMonitor CRD", () => {
    assert.match(checkObject({ apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { ports: [{ port: 80.5, targetPort: true }] } }).join("\n"), /port: expected an integer[\s\S]*targetPort: expected an integer or a string/, "int32 and IntOrString");
    assert.match(checkObject({ apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "m" }, spec: { endpoints: [{ prot: "admin" }] } }).join("\n"), /prot: no such field in MonitoringV1Endpoint[\s\S]*requires selector/, "the CRD's fields");
    assert.match(checkObject({ apiVersion: "v9", kind: "Nothing", metadata: {} }).join(), /no OpenAPI shape known/, "an unknown kind is a problem, not a pass");
  });
});

for (const c of cases) {
  describe(`the chart rendered with ${c.name}`, () => {
    const r = renderChart({ values: c.values });

    test("renders only objects whose every field fits the Kubernetes OpenAPI shapes of its kind", () => {
      assert.ok(r.objects.length > 0, "the chart should render objects");
      for (const o of r.objects) {
        const problems = checkObject(o);
        assert.deepEqual(problems, [], `${o.kind} ${o.metadata?.name} (from ${r.sources.get(o)}) does not fit its OpenAPI shape:\n${problems.join("\n")}\n${stringify(o)}`);
        assert.ok(o.metadata.name.length <= 63 && /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(o.metadata.name), `${o.kind} name ${o.metadata.name} should be a DNS label`);
      }
      const keys = r.objects.map((o) => `${o.kind}/${o.metadata.namespace ?? ""}/${o.metadata.name}`);
      assert.equal(new Set(keys).size, keys.length, `no two objects of a kind should share a name: ${keys.join(", ")}`);
    });

    test("puts a gateway configuration in the ConfigMap that the gateway's schema accepts", () => {
      const { text, parsed } = gatewayConfig(r);
      const env = { DIVISOR_ADMIN_TOKEN: "a-token-of-at-least-16-chars" };
      if (r.values.controller && (r.values.controller as Values).enabled) {
        assert.deepEqual(
          parsed.providers.map((p: Any) => p.type),
          ["kubernetes"],
          "controller mode should configure one kubernetes provider",
        );
        const [provider] = parsed.providers;
        assert.equal(provider.ingress.class, (r.values.controller as Any).ingress.class, "the provider serves the IngressClass the chart names");
        assert.equal(provider.gatewayApi.controllerName, "divisor.dev/gateway-controller", "the Gateway API controller name");
        parseConfigText(text, "configmap divisor.yaml", { env });
      } else {
        assert.ok(!("providers" in parsed), "no provider outside controller mode");
        parseConfigText(text, "configmap divisor.yaml", { env });
      }
      assert.equal(parsed.admin.tokens[0].token, "$" + "{DIVISOR_ADMIN_TOKEN}", "the admin token comes from the environment (a Secret), never the ConfigMap");
    });

    test("binds the listeners on the container ports the Service targets, and probes the admin port", () => {
      const { parsed } = gatewayConfig(r);
      const pod = workload(r).spec.template.spec;
      const [container] = pod.containers;
      const portNames = new Map<string, number>(container.ports.map((p: Any) => [p.name, p.containerPort]));
      for (const l of parsed.listeners) {
        const port = Number(String(l.address).split(":").at(-1));
        assert.ok([...portNames.values()].includes(port), `listener ${l.name} (${l.address}) should have a containerPort in ports; container ports: ${[...portNames].join(", ")}`);
        assert.ok(String(l.address).startsWith("0.0.0.0:"), `listener ${l.name} should bind 0.0.0.0 in a pod, got ${l.address}`);
      }
      assert.equal(portNames.get("admin"), Number(String(parsed.admin.address).split(":")[1]), "the admin containerPort is the admin listener's port");
      for (const probe of ["startupProbe", "readinessProbe", "livenessProbe"]) assert.equal(container[probe].httpGet.port, "admin", `${probe} should use the admin port`);
      assert.equal(container.readinessProbe.httpGet.path, "/readyz", "readiness is /readyz");
      assert.equal(container.livenessProbe.httpGet.path, "/healthz", "liveness is /healthz");
      for (const svc of find(r, "Service")) {
        assert.ok(matches(svc.spec.selector, workload(r).spec.template.metadata.labels), `Service ${svc.metadata.name} should select the pods`);
        for (const p of svc.spec.ports) assert.ok(portNames.has(p.targetPort), `Service ${svc.metadata.name} port ${p.name} targets ${p.targetPort}, which no container port is named`);
      }
    });

    test("refers only to objects it makes or the values name, and selects its own pods", () => {
      const w = workload(r);
      const pod = w.spec.template.spec;
      assert.ok(matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels), "the workload's selector matches its pod labels");
      assert.equal(pod.volumes.find((v: Any) => v.name === "config").configMap.name, one(r, "ConfigMap").metadata.name, "the config volume mounts the chart's ConfigMap");
      const secretRef = pod.containers[0].env.find((e: Any) => e.name === "DIVISOR_ADMIN_TOKEN").valueFrom.secretKeyRef;
      const existing = (r.values.admin as Any).existingSecret as string;
      if (existing === "") {
        const secret = one(r, "Secret", secretRef.name);
        const token = Buffer.from(secret.data[secretRef.key], "base64").toString();
        assert.ok(token.length >= 16, `the generated admin token should be at least 16 characters, got ${token.length}`);
      } else {
        assert.equal(secretRef.name, existing, "the admin token comes from admin.existingSecret");
        assert.equal(secretRef.key, (r.values.admin as Any).existingSecretKey, "under admin.existingSecretKey");
        assert.equal(find(r, "Secret").length, 0, "no Secret is made when one is given");
      }
      assert.equal(one(r, "ServiceAccount").metadata.name, pod.serviceAccountName, "the pods run as the chart's ServiceAccount");
      assert.equal(pod.automountServiceAccountToken, (r.values.controller as Any).enabled, "the API token is mounted only in controller mode");
      const grace = Number(String((r.values.config as Any).shutdown?.gracePeriod ?? "30s").replace(/s$/, ""));
      const preStop = Number(pod.containers[0].lifecycle.preStop.exec.command[1]);
      assert.ok(pod.terminationGracePeriodSeconds > preStop + grace, `terminationGracePeriodSeconds (${pod.terminationGracePeriodSeconds}) should exceed the preStop sleep (${preStop}) plus shutdown.gracePeriod (${grace})`);
      for (const pdb of find(r, "PodDisruptionBudget")) assert.ok(matches(pdb.spec.selector.matchLabels, w.spec.template.metadata.labels), "the PDB selects the pods");
      for (const hpa of find(r, "HorizontalPodAutoscaler")) {
        assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: "apps/v1", kind: "Deployment", name: w.metadata.name }, "the HPA scales the Deployment");
        assert.ok(!("replicas" in w.spec), "with an HPA the Deployment leaves replicas to it");
      }
      for (const sm of find(r, "ServiceMonitor")) {
        const admin = find(r, "Service").find((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
        assert.ok(admin?.spec.ports.some((p: Any) => p.name === sm.spec.endpoints[0].port), "the ServiceMonitor selects the admin Service and its port");
        assert.deepEqual(sm.spec.endpoints[0].authorization.credentials, { name: secretRef.name, key: secretRef.key }, "it scrapes with the admin token");
      }
    });
  });
}

/** Every rule of the ClusterRole and Roles, as "group resource verb" strings. */
function grants(objects: K8sObject[]): Set<string> {
  const out = new Set<string>();
  for (const o of objects as Any[]) for (const rule of o.rules) for (const g of rule.apiGroups) for (const res of rule.resources) for (const v of rule.verbs) out.add(`${g || "core"} ${res} ${v}`);
  return out;
}

const READ = ["get", "list", "watch"];
const STATUS = ["update", "patch"];
const expand = (group: string, resources: string[], verbs: string[]) => resources.flatMap((r) => verbs.map((v) => `${group} ${r} ${v}`));

describe("the chart's RBAC, least privilege", () => {
  test("makes no RBAC and mounts no API token outside controller mode", () => {
    const r = renderChart();
    for (const kind of ["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "IngressClass"]) assert.equal(find(r, kind).length, 0, `no ${kind} without controller mode`);
  });

  test("watching every namespace: one ClusterRole reading what the provider routes by, writing only status", () => {
    const r = renderChart({ values: [{ controller: { enabled: true, gatewayApi: { enabled: true } } }] });
    assert.equal(find(r, "Role").length, 0, "no Role when every namespace is watched");
    const expected = new Set([
      ...expand("core", ["services", "secrets"], READ),
      ...expand("discovery.k8s.io", ["endpointslices"], READ),
      ...expand("networking.k8s.io", ["ingresses", "ingressclasses"], READ),
      ...expand("networking.k8s.io", ["ingresses/status"], STATUS),
      ...expand("gateway.networking.k8s.io", ["gatewayclasses", "gateways", "httproutes"], READ),
      ...expand("gateway.networking.k8s.io", ["gatewayclasses/status", "gateways/status", "httproutes/status"], STATUS),
    ]);
    assert.deepEqual([...grants(find(r, "ClusterRole"))].sort(), [...expected].sort(), "the ClusterRole grants exactly these");
    const binding = one(r, "ClusterRoleBinding");
    assert.equal(binding.roleRef.name, one(r, "ClusterRole").metadata.name, "the binding names the ClusterRole");
    assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: one(r, "ServiceAccount").metadata.name, namespace: "gateway" }], "bound to the chart's ServiceAccount only");
  });

  test("watching listed namespaces: a Role in each, and the ClusterRole keeps only cluster-scoped kinds", () => {
    const r = renderChart({ values: [{ controller: { enabled: true, namespaces: ["shop", "blog"] } }] });
    for (const kind of ["Role", "RoleBinding"]) {
      const namespaces = find(r, kind).map((o) => o.metadata.namespace);
      assert.deepEqual(namespaces.sort(), ["blog", "shop"], `one ${kind} per namespace`);
    }
    assert.deepEqual([...grants(find(r, "ClusterRole"))].sort(), expand("networking.k8s.io", ["ingressclasses"], READ).sort(), "the ClusterRole reads IngressClasses only (Gateway API is off)");
    for (const role of find(r, "Role")) {
      assert.ok(!grants([role]).has("gateway.networking.k8s.io gateways get"), "no Gateway API access when it is off");
      assert.ok(grants([role]).has("networking.k8s.io ingresses/status patch"), "Ingress status can be written");
    }
    const { parsed } = gatewayConfig(r);
    assert.deepEqual(parsed.providers[0].namespaces, ["shop", "blog"], "the provider watches the same namespaces");
  });

  test("never grants a wildcard, create or delete", () => {
    for (const c of cases) {
      const r = renderChart({ values: c.values });
      for (const g of grants([...find(r, "ClusterRole"), ...find(r, "Role")])) assert.ok(!/\*|create|delete|deletecollection|escalate|bind|impersonate/.test(g), `${c.name}: ${g} is more than the controller needs`);
    }
  });

  test("makes the IngressClass of the divisor ingress controller, the default class when asked", () => {
    const plain = one(renderChart({ values: [{ controller: { enabled: true } }] }), "IngressClass");
    assert.deepEqual(plain.spec, { controller: "divisor.dev/ingress-controller" }, "IngressClass spec");
    assert.equal(plain.metadata.name, "divisor", "named by controller.ingress.class");
    assert.equal(plain.metadata.annotations, undefined, "not the default class unless asked");
    const dflt = one(renderChart({ values: [{ controller: { enabled: true, ingress: { default: true } } }] }), "IngressClass");
    assert.equal(dflt.metadata.annotations["ingressclass.kubernetes.io/is-default-class"], "true", "the default class when controller.ingress.default");
  });
});

describe("the chart refuses values that cannot work, saying what to change", () => {
  const refusals: [string, Values, RegExp][] = [
    ["a kind other than Deployment or DaemonSet", { kind: "StatefulSet" }, /kind: StatefulSet is not supported; use Deployment or DaemonSet/],
    ["an admin section in config", { config: { admin: { address: "0.0.0.0:9901" } } }, /config\.admin: the chart writes the admin section/],
    ["a providers section in config", { config: { providers: [] } }, /config\.providers: the chart writes the providers section; set controller\.\* instead/],
    ["an admin token under 16 characters", { admin: { token: "short" } }, /admin\.token: the admin token must be at least 16 characters/],
    ["an HPA on a DaemonSet", { kind: "DaemonSet", autoscaling: { enabled: true } }, /autoscaling\.enabled works with kind: Deployment only/],
    ["a ServiceMonitor without the admin Service", { serviceMonitor: { enabled: true }, admin: { service: { enabled: false } } }, /serviceMonitor\.enabled needs admin\.service\.enabled/],
  ];
  for (const [what, values, message] of refusals) {
    test(`refuses ${what}`, () => {
      assert.throws(() => renderChart({ values: [values] }), message, `rendering with ${JSON.stringify(values)} should fail with ${message}`);
    });
  }

  test("uses admin.token when given, and keeps config's own keys as they are", () => {
    const r = renderChart({ values: [{ admin: { token: "0123456789abcdef-given" }, config: { proxy: { trustedProxies: ["10.0.0.0/8"] } } }] });
    assert.equal(Buffer.from(one(r, "Secret").data.token, "base64").toString(), "0123456789abcdef-given", "the Secret holds admin.token");
    assert.deepEqual(gatewayConfig(r).parsed.proxy, { trustedProxies: ["10.0.0.0/8"] }, "config keys pass through");
  });

  test("the Deployment rolls on a config change, not on an unrelated one", () => {
    const checksum = (v: Values[]) => workload(renderChart({ values: v })).spec.template.metadata.annotations["checksum/config"];
    assert.notEqual(checksum([]), checksum([{ config: { logging: { level: "debug" } } }]), "a config change changes the pod template");
    assert.equal(checksum([]), checksum([{ replicaCount: 5 }]), "a replica change does not");
  });
});

describe("the pod of the rendered chart, run as its container would run it", () => {
  test("starts with the ConfigMap's divisor.yaml, the pod's args and the Secret's token; the probes answer", async () => {
    assertBuilt();
    const r = renderChart();
    const container = workload(r).spec.template.spec.containers[0];
    const token = Buffer.from(one(r, "Secret").data.token, "base64").toString();
    const dir = mkdtempSync(join(tmpdir(), "divisor-helm-pod-"));
    // The pod's ports are fixed (8080, 9901); here each gets a free port instead, the rest is the ConfigMap's text.
    const port = await freePort();
    const adminPort = await freePort();
    const text = (gatewayConfig(r).text as string).replace("0.0.0.0:8080", `0.0.0.0:${port}`).replace(`0.0.0.0:${container.ports.find((p: Any) => p.name === "admin").containerPort}`, `0.0.0.0:${adminPort}`);
    writeFileSync(join(dir, "divisor.yaml"), text);
    const args = (container.args as string[]).map((a) => (a === "/etc/divisor/divisor.yaml" ? join(dir, "divisor.yaml") : a));
    let child: ChildProcess | undefined;
    try {
      child = ownGroup(spawn(BIN, args, { cwd: ROOT, env: { PATH: process.env.PATH, DIVISOR_ADMIN_TOKEN: token, POD_NAME: "edge-divisor-0", POD_NAMESPACE: "gateway" }, stdio: ["ignore", "pipe", "pipe"], detached: true }));
      const logs = outputOf(child);
      const probe = (path: string) =>
        get(`http://127.0.0.1:${adminPort}${path}`, { timeout: 2000 }).then(
          (res) => res.status,
          () => 0,
        );
      const ready = await readyStatus(`http://127.0.0.1:${adminPort}${container.readinessProbe.httpGet.path}`, child);
      assert.equal(ready, 200, `the readiness probe should pass; exit code ${child.exitCode}:\n${logs()}`);
      assert.equal(await probe(container.livenessProbe.httpGet.path), 200, "the liveness probe passes");
      const metrics = await get(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(metrics.status, 200, "the ServiceMonitor's scrape with the Secret's token is served");
      assert.ok(!logs().includes(token), "the token never appears in the logs");
      child.kill("SIGTERM");
      assert.equal(await exitedWithin(child, 15_000), 0, `SIGTERM (after the preStop sleep) stops it cleanly:\n${logs()}`);
    } finally {
      if (child !== undefined && child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("values.schema.json (helm checks values against it on install, upgrade, template and lint)", () => {
  // Helm validates with a JSON Schema draft-07 validator, as Ajv's default is.
  const validate = new Ajv({ allErrors: true, strict: true }).compile(JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8")));

  for (const c of cases) {
    test(`accepts ${c.name}`, () => {
      const values = c.values.reduce(mergeValues, chartValues());
      assert.ok(validate(values), `${c.name} should fit values.schema.json: ${JSON.stringify(validate.errors, null, 2)}`);
    });
  }

  const bad: [string, Values, RegExp][] = [
    ["a misspelt key", { replicas: 3 }, /"additionalProperty":"replicas".*must NOT have additional properties/],
    ["an unsupported kind", { kind: "StatefulSet" }, /"instancePath":"\/kind".*must be equal to one of the allowed values/],
    ["a port given as a string", { ports: [{ name: "http", containerPort: "8080", servicePort: 80 }] }, /"instancePath":"\/ports\/0\/containerPort".*must be integer/],
    ["zero workers", { workers: "0" }, /"instancePath":"\/workers"/],
    ["a port name Kubernetes refuses", { ports: [{ name: "HTTP_Port", containerPort: 8080, servicePort: 80 }] }, /"instancePath":"\/ports\/0\/name".*must match pattern/],
  ];
  for (const [what, values, message] of bad) {
    test(`refuses ${what}, naming where`, () => {
      assert.ok(!validate(mergeValues(chartValues(), values)), `${JSON.stringify(values)} should not fit the schema`);
      assert.match(JSON.stringify(validate.errors), message, "the error names the value's path");
    });
  }
});

/** Every documented key of values.yaml: leaves, lists and empty maps; `config` is free-form (the gateway's own schema). */
function valueKeys(values: Values, prefix = ""): string[] {
  return Object.entries(values).flatMap(([k, v]) => {
    const path = `${prefix}${k}`;
    if (path === "config" || typeof v !== "object" || v === null || Array.isArray(v) || Object.keys(v).length === 0) return [path];
    return valueKeys(v as Values, `${path}.`);
  });
}

describe("docs/helm.md", () => {
  const doc = readFileSync(join(ROOT, "docs/helm.md"), "utf8");
  const table = doc.slice(doc.indexOf("\n## Values\n"), doc.indexOf("\n## ", doc.indexOf("\n## Values\n") + 1));
  const documented = new Set([...table.matchAll(/^\| `([A-Za-z0-9.]+)` \|/gm)].map((m) => m[1]!));

  test("documents every key of values.yaml in its values table", () => {
    const missing = valueKeys(chartValues()).filter((k) => !documented.has(k));
    assert.deepEqual(missing, [], `docs/helm.md's Values table should have a "| \`key\` |" row for each of: ${missing.join(", ")}`);
  });

  /** The first yaml block after a heading of docs/helm.md. */
  const example = (heading: string): Values => {
    const at = doc.indexOf(`\n## ${heading}\n`);
    assert.ok(at >= 0, `docs/helm.md should have a "## ${heading}" section`);
    const block = /```yaml\n([\s\S]*?)```/.exec(doc.slice(at))!;
    return parse(block[1]!) as Values;
  };

  for (const heading of ["The gateway configuration", "Controller mode", "A DaemonSet on the nodes' ports"]) {
    test(`its "${heading}" example renders objects that fit their shapes, with values the schema takes`, () => {
      const values = example(heading);
      const validate = new Ajv({ allErrors: true, strict: true }).compile(JSON.parse(readFileSync(join(CHART, "values.schema.json"), "utf8")));
      assert.ok(validate(mergeValues(chartValues(), values)), `the example's values should fit values.schema.json: ${JSON.stringify(validate.errors)}`);
      const r = renderChart({ values: [values] });
      for (const o of r.objects) assert.deepEqual(checkObject(o), [], `${o.kind} ${o.metadata.name} from the example`);
      const { text } = gatewayConfig(r);
      parseConfigText(text, `docs/helm.md "${heading}" example`, { env: { DIVISOR_ADMIN_TOKEN: "a-token-of-at-least-16-chars" } });
    });
  }

  test("documents no key that values.yaml does not have", () => {
    const keys = new Set(valueKeys(chartValues()));
    const stale = [...documented].filter((k) => !keys.has(k));
    assert.deepEqual(stale, [], `docs/helm.md documents keys values.yaml does not have: ${stale.join(", ")}`);
  });
});
