/**
 * What the deploy/ checks watch: a real gateway with every kind of metric the
 * dashboard and the alerts read (healthy, failing and unreachable backends,
 * health checks, circuit breakers, a tenant, an admin listener with process
 * metrics, a file provider), traffic that exercises them, and the queries of deploy/.
 */
import { TestCa } from "../helpers/certs.js";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { freePort, get, RawClient, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { labelValuesQuery } from "../helpers/promql.js";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../..");
export const DASHBOARD = "deploy/grafana/divisor.json";
export const ALERTS = "deploy/prometheus/alerts.yaml";

export interface ObservedGateway {
  readonly gw: TestGateway;
  readonly adminPort: number;
  /** One round of traffic: 2xx, 5xx, 404, a tenant's router, an unreachable backend. */
  round(): Promise<void>;
  /** A reload with the same configuration (counted as a successful reload). */
  reload(): Promise<void>;
  close(): Promise<void>;
}

export async function startObservedGateway(): Promise<ObservedGateway> {
  const backends: TestBackend[] = [];
  const ok = async () => {
    const b = await startBackend();
    backends.push(b);
    return b.address;
  };
  const failing = await startBackend((req, res) => {
    req.resume();
    res.statusCode = 503;
    res.end("down for a bit");
  });
  backends.push(failing);
  const gone = await startBackend();
  const goneAddress = gone.address;
  await gone.close(); // nothing listens there any more: connects are refused
  const adminPort = await freePort();
  // A provider, so the divisor_provider_* families (and the alert on them) exist.
  const provided = mkdtempSync(join(tmpdir(), "divisor-observed-"));
  writeFileSync(join(provided, "provided.yaml"), "routers:\n  provided: { match: { path: { prefix: /provided } }, service: app }\n");
  // An HTTPS listener too, so the TLS families (and the alerts on them) exist.
  const ca = new TestCa();
  const leaf = ca.issue(["observed.example.test"], "observed");
  const listeners: DivisorConfigInput["listeners"] = [
    { address: "127.0.0.1:0" },
    { address: "127.0.0.1:0", name: "https", tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] }, http2: {} },
    // And one with ACME, for the divisor_acme_* families (on demand only, so it orders nothing unasked).
    {
      address: "127.0.0.1:0",
      name: "acme",
      tls: { acme: { directory: "https://127.0.0.1:1/directory", termsOfServiceAgreed: true, onDemand: { allow: ["*.observed.example.test"] }, storage: { type: "file", path: join(ca.dir, "acme") } } },
    },
  ];
  const config: Omit<DivisorConfigInput, "listeners"> = {
    admin: { address: `127.0.0.1:${adminPort}` },
    services: {
      app: { backends: [await ok(), await ok()], healthCheck: { interval: 200, timeout: 1000 }, limits: { maxInFlight: 50 } },
      flaky: { backends: [failing.address], circuitBreaker: { consecutiveFailures: 1_000_000 }, serviceBreaker: { enabled: true, consecutiveFailures: 1_000_000 } },
      // Its breaker opens after a few refused connects and keeps trying: both connect errors and no-backend answers go on.
      gone: { backends: [goneAddress], retries: { attempts: 0 }, circuitBreaker: { consecutiveFailures: 2, openDuration: 50, maxOpenDuration: 100 } },
    },
    routers: {
      api: { match: { path: { prefix: "/api" } }, service: "app" },
      flaky: { match: { path: { prefix: "/flaky" } }, service: "flaky" },
      gone: { match: { path: { prefix: "/gone" } }, service: "gone" },
    },
    tenants: { acme: { hosts: ["acme.test"], routers: { shop: { service: "app" } } } },
    providers: [{ type: "file", name: "provided", path: provided }],
  };
  const gw = await startGateway({ ...config, listeners });
  const malformed = async () => {
    const raw = new RawClient(gw.port);
    await raw.ready;
    raw.write("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    await raw.waitClosed();
  };
  await malformed();
  return {
    gw,
    adminPort,
    async round() {
      await get(`${gw.url}/api/x`);
      await get(`${gw.url}/api/x`, { method: "POST" }, "payload");
      await get(`${gw.url}/flaky`);
      await get(`${gw.url}/gone`);
      await get(`${gw.url}/nowhere`);
      await get(`${gw.url}/`, { headers: { host: "acme.test" } });
    },
    reload: () => gw.gateway.reload({ listeners, ...config }),
    async close() {
      await gw.close();
      await Promise.all(backends.map((b) => b.close()));
      ca.close();
      rmSync(provided, { recursive: true, force: true });
    },
  };
}

/** One PromQL expression of deploy/, and where it is. */
export interface DeployQuery {
  readonly where: string;
  readonly expr: string;
  /** panel: must return data on a gateway with traffic; alert: must evaluate; variable: a label_values selector. */
  readonly kind: "panel" | "annotation" | "variable" | "alert";
  /** For variables: the label whose values they list. */
  readonly label?: string;
}

interface GrafanaPanel {
  id: number;
  type: string;
  title: string;
  targets?: { expr: string; refId: string }[];
}

// biome-ignore lint/suspicious/noExplicitAny: the dashboard is JSON read as written
export function readDashboard(): any {
  return JSON.parse(readFileSync(join(ROOT, DASHBOARD), "utf8"));
}

/** Every query of the dashboard (panels, annotations, variables) and of the alerting rules. */
export function deployQueries(): DeployQuery[] {
  const out: DeployQuery[] = [];
  const dash = readDashboard();
  for (const p of dash.panels as GrafanaPanel[]) {
    for (const t of p.targets ?? []) out.push({ where: `${DASHBOARD} panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr, kind: "panel" });
  }
  for (const a of dash.annotations.list as { name: string; datasource: { type: string }; target?: { expr?: string } }[]) {
    if (a.datasource.type !== "prometheus") continue;
    if (a.target?.expr === undefined) throw new Error(`${DASHBOARD} annotation "${a.name}" has no target.expr`);
    out.push({ where: `${DASHBOARD} annotation "${a.name}"`, expr: a.target.expr, kind: "annotation" });
  }
  for (const v of dash.templating.list as { name: string; type: string; query: { query: string } | string }[]) {
    if (v.type !== "query") continue;
    const text = typeof v.query === "string" ? v.query : v.query.query;
    const lv = labelValuesQuery(text);
    if (lv === undefined) throw new Error(`${DASHBOARD} variable ${v.name}: expected label_values(selector, label), got ${text}`);
    out.push({ where: `${DASHBOARD} variable $${v.name}`, expr: lv.selector, kind: "variable", label: lv.label });
  }
  const rules = parseYaml(readFileSync(join(ROOT, ALERTS), "utf8")) as { groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[] };
  for (const g of rules.groups) {
    for (const r of g.rules) out.push({ where: `${ALERTS} ${g.name}/${r.alert ?? r.record}`, expr: String(r.expr), kind: "alert" });
  }
  return out;
}
