/**
 * deploy/ against a real Prometheus (Debian's `prometheus` package, installed by
 * scripts/test.sh): promtool checks the rules and the example config and runs the
 * rules' unit tests; then a Prometheus started here, in a temp dir on a free port,
 * scrapes a real gateway every second and answers every dashboard query and
 * every alert expression.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort } from "../helpers/net.js";
import { substituteGrafanaVariables } from "../helpers/promql.js";
import { ALERTS, deployQueries, type ObservedGateway, ROOT, startObservedGateway } from "./observed-gateway.js";

const PROMETHEUS = "/usr/bin/prometheus";
const PROMTOOL = "/usr/bin/promtool";
const MISSING = `needs Debian's prometheus package (${PROMETHEUS}, ${PROMTOOL}): scripts/test.sh installs it, or apt-get install --no-install-recommends prometheus`;

function promtool(...args: string[]): string {
  assert.ok(existsSync(PROMTOOL), MISSING);
  const r = spawnSync(PROMTOOL, args, { cwd: ROOT, encoding: "utf8" });
  assert.equal(r.status, 0, `promtool ${args.join(" ")} failed:\n${r.stdout}${r.stderr}`);
  return r.stdout + r.stderr;
}

describe("promtool", () => {
  test("accepts the alerting rules", () => {
    assert.match(promtool("check", "rules", ALERTS), /SUCCESS: 13 rules found/);
  });

  test("accepts the example scrape config and the rule file it loads", () => {
    assert.match(promtool("check", "config", "deploy/prometheus/prometheus.yml"), /SUCCESS: 1 rule files found/);
  });

  test("passes the rules' unit tests: each alert fires on its synthetic series, and not on the ones it must ignore", () => {
    assert.match(promtool("test", "rules", "deploy/prometheus/alerts.test.yaml"), /SUCCESS/);
  });
});

interface QueryAnswer {
  status: string;
  error?: string;
  data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
}

describe("a real Prometheus scraping a real gateway", () => {
  let observed: ObservedGateway;
  let prometheus: ChildProcess;
  let dir: string;
  let api: string;
  let log = "";
  let traffic = true;
  let trafficDone: Promise<void>;

  async function query(expr: string): Promise<QueryAnswer> {
    const res = await fetch(`${api}/api/v1/query`, { method: "POST", body: new URLSearchParams({ query: expr }) });
    return (await res.json()) as QueryAnswer;
  }

  async function scrapes(): Promise<number> {
    const a = await query('count_over_time(up{job="divisor"}[5m])');
    return Number(a.data?.result[0]?.value[1] ?? 0);
  }

  async function waitFor(what: string, done: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await done().catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; prometheus said:\n${log}`);
      if (prometheus.exitCode !== null) throw new Error(`prometheus exited with ${prometheus.exitCode}:\n${log}`);
      await sleep(200);
    }
  }

  before(async () => {
    assert.ok(existsSync(PROMETHEUS), MISSING);
    observed = await startObservedGateway();
    trafficDone = (async () => {
      while (traffic) {
        await observed.round();
        await sleep(50);
      }
    })();
    dir = await mkdtemp(join(tmpdir(), "divisor-prometheus-"));
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    await writeFile(
      join(dir, "prometheus.yml"),
      [
        "global: { scrape_interval: 1s, evaluation_interval: 1s }",
        `rule_files: [${JSON.stringify(join(ROOT, ALERTS))}]`,
        "scrape_configs:",
        "  - job_name: divisor",
        `    static_configs: [{ targets: ["127.0.0.1:${observed.adminPort}"] }]`,
        "",
      ].join("\n"),
    );
    prometheus = spawn(
      PROMETHEUS,
      [
        `--config.file=${join(dir, "prometheus.yml")}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      { cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    prometheus.stdout!.on("data", (c: Buffer) => (log += c.toString()));
    prometheus.stderr!.on("data", (c: Buffer) => (log += c.toString()));
    await waitFor("prometheus to be ready", async () => (await fetch(`${api}/-/ready`)).status === 200);
    await waitFor("two scrapes", async () => (await scrapes()) >= 2);
    // A reload while Prometheus watches: the reload panels and annotation see it.
    await observed.reload();
    const seen = await scrapes();
    await waitFor("four more scrapes", async () => (await scrapes()) >= seen + 4);
  });

  after(async () => {
    traffic = false;
    await trafficDone;
    if (prometheus !== undefined && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus.once("exit", resolve));
      prometheus.kill("SIGTERM");
      const timer = setTimeout(() => prometheus.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    await observed?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  test("scrapes the admin listener's /metrics as a healthy target", async () => {
    const res = (await (await fetch(`${api}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; lastError: string }[] } };
    assert.deepEqual(
      res.data.activeTargets.map((t) => [t.health, t.lastError]),
      [["up", ""]],
    );
  });

  test("answers every dashboard panel and annotation query with data", async () => {
    const empty: string[] = [];
    for (const q of deployQueries().filter((x) => x.kind === "panel" || x.kind === "annotation")) {
      const expr = substituteGrafanaVariables(q.expr);
      const a = await query(expr);
      assert.equal(a.status, "success", `${q.where}: ${a.error}\n${expr}`);
      if (a.data!.result.length === 0) empty.push(`${q.where}: ${expr}`);
    }
    assert.deepEqual(empty, [], "queries that returned nothing after known traffic");
  });

  test("finds values for every dashboard variable", async () => {
    for (const q of deployQueries().filter((x) => x.kind === "variable")) {
      const res = await fetch(`${api}/api/v1/series?${new URLSearchParams({ "match[]": substituteGrafanaVariables(q.expr) })}`);
      const body = (await res.json()) as { status: string; error?: string; data: Record<string, string>[] };
      assert.equal(body.status, "success", `${q.where}: ${body.error}`);
      const values = new Set(body.data.map((s) => s[q.label!]).filter((v) => v !== undefined && v !== ""));
      assert.ok(values.size > 0, `${q.where} lists no ${q.label}`);
    }
  });

  test("evaluates every alert expression without error", async () => {
    for (const q of deployQueries().filter((x) => x.kind === "alert")) {
      const a = await query(q.expr);
      assert.equal(a.status, "success", `${q.where}: ${a.error}`);
    }
  });

  test("loads the rule file and evaluates every rule healthily; the router that answers only 503 has its alert pending", async () => {
    type Rule = { name: string; health: string; lastError?: string };
    const res = (await (await fetch(`${api}/api/v1/rules`)).json()) as { data: { groups: { rules: Rule[] }[] } };
    const rules = res.data.groups.flatMap((g) => g.rules);
    assert.equal(rules.length, 13);
    for (const r of rules) assert.equal(r.health, "ok", `${r.name}: ${r.lastError}`);
    type Alert = { labels: Record<string, string>; state: string };
    const alerts = ((await (await fetch(`${api}/api/v1/alerts`)).json()) as { data: { alerts: Alert[] } }).data.alerts;
    const summary = alerts.map((a) => `${a.labels.alertname}{router=${a.labels.router}} ${a.state}`);
    // Every rule waits at least a minute (`for`), so this short test sees alerts pending, never firing.
    assert.ok(summary.includes("DivisorHigh5xxRatio{router=flaky} pending"), summary.join(", "));
    assert.ok(!summary.some((a) => a.includes("DivisorHigh5xxRatio{router=api}")), summary.join(", "));
    assert.ok(!alerts.some((a) => a.state === "firing"), summary.join(", "));
  });
});
