import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { dashboardJson } from "../../scripts/grafana-dashboard.js";
import { type ParsedFamily, parseExposition } from "../helpers/prometheus.js";
import { selectors, substituteGrafanaVariables } from "../helpers/promql.js";
import { DASHBOARD, type DeployQuery, deployQueries, type ObservedGateway, ROOT, readDashboard, startObservedGateway } from "./observed-gateway.js";

/** Labels Prometheus itself adds to every scraped sample (and `worker`, which `--workers` adds). */
const TARGET_LABELS = new Set(["job", "instance", "worker"]);
/** Series Prometheus makes, not the gateway. */
const PROMETHEUS_SERIES = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped"]);
const SUFFIXES: readonly (readonly [string, string])[] = [
  ["_total", "counter"],
  ["_bucket", "histogram"],
  ["_sum", "histogram"],
  ["_count", "histogram"],
];

/** The family a sample name belongs to: itself, or the name without a counter's or histogram's suffix. */
function familyOf(name: string, families: readonly ParsedFamily[]): ParsedFamily | undefined {
  const exact = families.find((f) => f.name === name);
  if (exact !== undefined) return exact;
  for (const [suffix, type] of SUFFIXES) {
    if (!name.endsWith(suffix)) continue;
    const f = families.find((x) => x.name === name.slice(0, -suffix.length) && x.type === type);
    if (f !== undefined) return f;
  }
  return undefined;
}

/** What in `queries` names a metric or label the exposition does not have, one line each. */
function unknownReferences(queries: readonly DeployQuery[], families: readonly ParsedFamily[]): string[] {
  const problems: string[] = [];
  for (const query of queries) {
    for (const s of selectors(substituteGrafanaVariables(query.expr))) {
      if (PROMETHEUS_SERIES.has(s.metric)) continue;
      const family = familyOf(s.metric, families);
      const own = family?.samples.filter((x) => x.name === s.metric) ?? [];
      if (family === undefined) {
        problems.push(`${query.where}: no metric family ${s.metric}`);
        continue;
      }
      if (own.length === 0) {
        const names = [...new Set(family.samples.map((x) => x.name))].join(", ");
        problems.push(`${query.where}: family ${family.name} (${family.type}) has no sample named ${s.metric}; its samples are ${names}`);
        continue;
      }
      const labels = new Set(own.flatMap((x) => Object.keys(x.labels)));
      for (const label of s.labels) {
        if (!labels.has(label) && !TARGET_LABELS.has(label)) problems.push(`${query.where}: ${s.metric} has no label ${label} (it has ${[...labels].join(", ")})`);
      }
    }
  }
  return problems;
}

/** Metric names written in backticks in a Markdown page; `a_{x,y}_b` stands for a_x_b and a_y_b, `name{label}` for name. */
function documentedNames(markdown: string): Set<string> {
  const out = new Set<string>();
  for (const [, code] of markdown.matchAll(/`([a-z0-9_:{},]+)`/g)) {
    const m = /^([a-z0-9_:]*)\{([a-z0-9_,]+)\}([a-z0-9_:]*)$/.exec(code!);
    if (m !== null && m[2]!.includes(",")) for (const part of m[2]!.split(",")) out.add(`${m[1]}${part}${m[3]}`);
    else out.add(code!.replace(/\{[a-z_,]*\}$/, ""));
  }
  return out;
}

describe("deploy/grafana/divisor.json", () => {
  const dash = readDashboard();

  test("is what scripts/grafana-dashboard.ts generates", () => {
    assert.equal(readFileSync(join(ROOT, DASHBOARD), "utf8"), dashboardJson(), `${DASHBOARD} is stale: run \`npm run gen\` and commit the result`);
  });

  test("reads from a prometheus datasource variable, in every panel, target and query variable", () => {
    const ds = dash.templating.list.find((v: { type: string }) => v.type === "datasource");
    assert.deepEqual({ name: ds.name, query: ds.query }, { name: "DS", query: "prometheus" });
    const refs = [...dash.panels.filter((p: { type: string }) => p.type !== "row"), ...dash.panels.flatMap((p: { targets?: unknown[] }) => p.targets ?? [])];
    refs.push(...dash.templating.list.filter((v: { type: string }) => v.type === "query"));
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JavaScript template
    for (const r of refs) assert.deepEqual(r.datasource, { type: "prometheus", uid: "${DS}" });
  });

  test("has unique panel ids, a grid without overlaps, and a known unit on every panel", () => {
    const ids = new Set<number>();
    const cells = new Set<string>();
    const units = new Set(["reqps", "s", "bytes", "Bps", "percentunit", "short", "none"]);
    for (const p of dash.panels) {
      assert.ok(!ids.has(p.id), `panel id ${p.id} is used twice`);
      ids.add(p.id);
      const { x, y, w, h } = p.gridPos;
      assert.ok(x >= 0 && w > 0 && x + w <= 24, `panel ${p.id} "${p.title}" fits the 24-column grid`);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          assert.ok(!cells.has(`${i},${j}`), `panel ${p.id} "${p.title}" overlaps another at ${i},${j}`);
          cells.add(`${i},${j}`);
        }
      }
      if (p.type === "row") continue;
      assert.ok(units.has(p.fieldConfig.defaults.unit), `panel "${p.title}" has unit ${p.fieldConfig.defaults.unit}`);
      assert.ok(p.targets.length > 0 && p.description.length > 0, `panel "${p.title}" has queries and a description`);
    }
  });

  test("uses only variables it defines, and defines tenant, router, service and backend", () => {
    const defined = new Set<string>(dash.templating.list.map((v: { name: string }) => v.name));
    for (const name of ["DS", "instance", "tenant", "router", "service", "backend"]) assert.ok(defined.has(name), `variable ${name} is defined`);
    const builtIn = new Set(["__rate_interval", "__interval", "__range"]);
    for (const q of deployQueries()) {
      for (const m of q.expr.matchAll(/\$\{?(\w+)/g)) {
        if (q.kind === "alert") assert.fail(`${q.where} uses Grafana variable $${m[1]}`);
        assert.ok(defined.has(m[1]!) || builtIn.has(m[1]!), `${q.where} uses undefined variable $${m[1]}`);
      }
    }
  });

  test("has the rows the operators' checklist asks for", () => {
    const rows = dash.panels.filter((p: { type: string }) => p.type === "row").map((p: { title: string }) => p.title);
    assert.deepEqual(rows, ["Traffic", "Errors", "Latency", "Backends", "Services", "Listeners", "Configuration", "Process"]);
  });
});

describe("every metric the dashboard and the alerts name exists on a real gateway", () => {
  let observed: ObservedGateway;
  let families: ParsedFamily[];

  before(async () => {
    observed = await startObservedGateway();
    for (let i = 0; i < 5; i++) await observed.round();
    await observed.reload();
    const res = await fetch(`http://127.0.0.1:${observed.adminPort}/metrics`);
    families = parseExposition(await res.text(), "text");
  });

  after(() => observed.close());

  test("finds the queries: panels, annotations, variables and alerts", () => {
    const kinds = new Map<string, number>();
    for (const q of deployQueries()) kinds.set(q.kind, (kinds.get(q.kind) ?? 0) + 1);
    assert.ok((kinds.get("panel") ?? 0) >= 40, `panel queries: ${kinds.get("panel")}`);
    assert.equal(kinds.get("variable"), 5);
    assert.equal(kinds.get("alert"), 13);
    assert.equal(kinds.get("annotation"), 1);
  });

  test("every referenced metric family, sample name and matched label is in /metrics", () => {
    assert.deepEqual(unknownReferences(deployQueries(), families), []);
  });

  test("a made-up metric, a counter without _total and a misspelt label are caught", () => {
    const bogus: DeployQuery[] = [
      { where: "made-up", expr: 'sum(rate(divisor_http_requests_totl{router=~"$router"}[$__rate_interval]))', kind: "panel" },
      { where: "no _total", expr: "rate(divisor_retries[5m])", kind: "alert" },
      { where: "label", expr: 'divisor_backend_up{sevrice="app"} == 0', kind: "alert" },
      { where: "bucket of a counter", expr: "divisor_retries_bucket", kind: "alert" },
      { where: "name in a matcher", expr: 'sum({__name__="divisor_no_such_thing"})', kind: "alert" },
    ];
    const problems = unknownReferences(bogus, families);
    assert.equal(problems.length, 5, problems.join("\n"));
    assert.match(problems[0]!, /^made-up: no metric family divisor_http_requests_totl$/);
    assert.match(problems[1]!, /^no _total: family divisor_retries \(counter\) has no sample named divisor_retries;/);
    assert.match(problems[2]!, /^label: divisor_backend_up has no label sevrice/);
    assert.match(problems[3]!, /^bucket of a counter: no metric family divisor_retries_bucket$/);
    assert.match(problems[4]!, /^name in a matcher: no metric family divisor_no_such_thing$/);
  });

  test("docs/metrics.md documents every metric family the gateway exposes", () => {
    const documented = documentedNames(readFileSync(join(ROOT, "docs/metrics.md"), "utf8"));
    const sampleNames = (f: ParsedFamily) => (f.type === "counter" ? [`${f.name}_total`] : [f.name]);
    const missing = families.flatMap(sampleNames).filter((name) => !documented.has(name));
    assert.deepEqual(missing, [], "families missing from docs/metrics.md");
    assert.ok(documented.has("nodejs_eventloop_lag_p99_seconds") && documented.has("nodejs_active_resources"), "brace and label forms are read");
  });

  test("a query that is not PromQL is refused with its position", () => {
    assert.throws(() => unknownReferences([{ where: "x", expr: "sum(rate(divisor_retries_total[5m])", kind: "alert" }], families), /PromQL syntax error at offset/);
  });
});
