/** `divisor script test FILE`: run a Lua script against a sample request, offline, and print what it did. */
import type { Command } from "commander";
import { pino } from "pino";
import { DivisorError } from "../errors.js";
import { HeaderList } from "../http1/headers.js";
import type { ScriptChange } from "../middleware/lua/api.js";
import { Script } from "../middleware/lua/index.js";
import { luaSchema } from "../middleware/lua/schema.js";
import { loadLuaRuntime } from "../middleware/lua/vm.js";
import type { DirectResponse, Exchange, ResponseHeadView, UpstreamRequestHead } from "../middleware/plugin.js";
import { CLOSED_UPSTREAM_CLIENT } from "../middleware/upstream-client.js";
import { NO_PLUGIN_METRICS } from "../observability/metrics/plugin-metrics.js";
import type { BackendState } from "../service/balancers/types.js";
import { fail } from "./common.js";

interface TestOptions {
  request: string;
  header: string[];
  host: string;
  clientIp: string;
  var: string[];
  services?: string;
  backend: string[];
  status: string;
  responseHeader: string[];
  json?: boolean;
}

/** What the run did, as printed (and as --json writes it). */
interface Report {
  phases: { phase: string; result: "ok" | "failed"; error?: string }[];
  changes: ScriptChange[];
  service: string | null;
  backend: string | null;
  respond: { status: number; headers: Record<string, string | readonly string[]>; body: string } | null;
  upstream: { method: string; target: string; headers: [string, string][] } | null;
  response: { status: number; headers: [string, string][] } | null;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

export function registerScript(program: Command): void {
  const script = program.command("script").description("work with Lua scripts (type: lua middlewares)");
  script
    .command("test")
    .description("run a Lua script against a sample request, without a gateway, and print the phases it ran and what it changed")
    .argument("<file>", "the .lua file")
    .option("--request <line>", 'method and path (with query) of the sample request, e.g. "GET /api/users?page=2"', "GET /")
    .option("-H, --header <header>", 'a request header "name: value" (repeatable)', collect, [])
    .option("--host <host>", "the request's Host", "example.com")
    .option("--client-ip <ip>", "the client's address", "127.0.0.1")
    .option("--var <name=value>", "a vars.<name> value for the script (repeatable)", collect, [])
    .option("--services <names>", "comma-separated services route.use_service may pick (the middleware's `services`)")
    .option("--backend <address>", "a backend of the service, for selectBackend and route.use_backends (repeatable)", collect, [])
    .option("--status <code>", "status of the simulated backend response", "200")
    .option("--response-header <header>", 'a header "name: value" of the simulated backend response (repeatable)', collect, [])
    .option("--json", "print the report as JSON")
    .addHelpText(
      "after",
      [
        "",
        "Runs onRequest, selectBackend (with --backend), onUpstreamRequest, onResponse (against a simulated backend",
        "response) and onLog, as the gateway would, with the same sandbox and limits. Exits 1 when a phase fails.",
        "Example:",
        "  divisor script test scripts/lua/canary-header.lua --request 'GET /' -H 'x-canary: 1' --var canary=canary --services stable,canary",
      ].join("\n"),
    )
    .action((file: string, opts: TestOptions) => run(file, opts));
}

async function run(file: string, opts: TestOptions): Promise<void> {
  let report: Report;
  try {
    await loadLuaRuntime();
    report = runScript(file, opts);
  } catch (err) {
    fail(err);
  }
  if (opts.json === true) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(render(report));
  if (report.phases.some((p) => p.result === "failed")) process.exitCode = 1;
}

function pair(text: string, sep: string, what: string): [string, string] {
  const at = text.indexOf(sep);
  if (at <= 0) throw new DivisorError("ERR_CLI_USAGE", `${what} ${JSON.stringify(text)}: expected "name${sep}value"`);
  return [text.slice(0, at).trim(), text.slice(at + 1).trim()];
}

function runScript(file: string, opts: TestOptions): Report {
  const line = opts.request.trim().split(/\s+/);
  if (line.length !== 2 || !/^[A-Z]+$/.test(line[0]!) || !line[1]!.startsWith("/")) {
    throw new DivisorError("ERR_CLI_USAGE", `--request ${JSON.stringify(opts.request)}: expected a method and a path, e.g. "GET /api?x=1"`);
  }
  const status = Number(opts.status);
  if (!Number.isInteger(status) || status < 100 || status > 599) throw new DivisorError("ERR_CLI_USAGE", `--status ${opts.status}: expected an HTTP status`);
  const options = luaSchema.safeParse({
    type: "lua",
    file,
    vars: Object.fromEntries(opts.var.map((v) => pair(v, "=", "--var"))),
    services: opts.services === undefined ? [] : opts.services.split(",").map((s) => s.trim()).filter((s) => s !== ""),
  });
  if (!options.success) throw new DivisorError("ERR_CLI_USAGE", options.error.issues.map((i) => i.message).join("; "));
  const silent = pino({ level: "silent" });
  const script = new Script("script", options.data, { name: "script", metrics: NO_PLUGIN_METRICS, state: new Map(), upstream: CLOSED_UPSTREAM_CLIENT, log: silent });
  const changes: ScriptChange[] = [];
  script.trace(changes);
  const target = line[1]!;
  const q = target.indexOf("?");
  const headers = new HeaderList([]);
  for (const h of opts.header) headers.add(...pair(h, ":", "--header"));
  if (!headers.has("host")) headers.set("host", opts.host);
  const ex = new OfflineExchange(line[0]!, q < 0 ? target : target.slice(0, q), q < 0 ? "" : target.slice(q), headers, opts.host.toLowerCase(), opts.clientIp);
  const report: Report = { phases: [], changes, service: null, backend: null, respond: null, upstream: null, response: null };
  const mw = script.middleware();
  const phase = (name: string, fn: () => void): boolean => {
    try {
      fn();
      report.phases.push({ phase: name, result: "ok" });
      return true;
    } catch (err) {
      report.phases.push({ phase: name, result: "failed", error: err instanceof Error ? err.message : String(err) });
      return false;
    }
  };
  let answer: DirectResponse | undefined;
  let ok = true;
  if (mw.onRequest !== undefined) ok = phase("onRequest", () => (answer = mw.onRequest!(ex) as DirectResponse | undefined));
  report.service = ex.service ?? null;
  if (ok && answer !== undefined) {
    const body = typeof answer.body === "string" ? answer.body : answer.body.toString("latin1");
    report.respond = { status: answer.status, headers: answer.headers, body };
    ex.status = answer.status;
  } else if (ok) {
    const candidates = opts.backend.map(fakeBackend);
    if (mw.selectBackend !== undefined && candidates.length > 0) ok = phase("selectBackend", () => (ex.backend = mw.selectBackend!(ex, candidates)));
    report.backend = ex.backend?.address ?? null;
    const head: UpstreamRequestHead = { method: ex.request.method, target: ex.request.path + ex.request.query, headers: new HeaderList([...headers.raw]) };
    if (ok && mw.onUpstreamRequest !== undefined) ok = phase("onUpstreamRequest", () => mw.onUpstreamRequest!(ex, head));
    report.upstream = { method: head.method, target: head.target, headers: pairs(head.headers) };
    const response: ResponseHeadView = { status, headers: new HeaderList(opts.responseHeader.flatMap((h) => pair(h, ":", "--response-header"))) };
    if (ok && mw.onResponse !== undefined) ok = phase("onResponse", () => mw.onResponse!(ex, response));
    report.response = { status: response.status, headers: pairs(response.headers) };
    ex.status = response.status;
  }
  ex.durationMs = performance.now() - ex.startTime;
  if (mw.onLog !== undefined) phase("onLog", () => mw.onLog!(ex));
  script.close();
  return report;
}

function pairs(headers: HeaderList): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < headers.raw.length; i += 2) out.push([headers.raw[i]!, headers.raw[i + 1]!]);
  return out;
}

function fakeBackend(address: string): BackendState {
  const colon = address.lastIndexOf(":");
  return { id: `script-test/${address}`, address, host: address.slice(0, colon), port: Number(address.slice(colon + 1)), weight: 1, active: 0, ewmaMs: 0, available: true, drained: false };
}

function render(r: Report): string {
  const out: string[] = [];
  out.push(`phases: ${r.phases.length === 0 ? "(the script defines none)" : r.phases.map((p) => `${p.phase} ${p.result}`).join(", ")}`);
  for (const p of r.phases) if (p.error !== undefined) out.push(`  ${p.phase} failed: ${p.error}`);
  if (r.changes.length === 0) out.push("changes: none");
  else {
    out.push("changes:");
    for (const c of r.changes) {
      const value = c.value === undefined ? "" : Array.isArray(c.value) ? ` ${c.value.join(", ")}` : ` ${JSON.stringify(c.value)}`;
      out.push(`  ${c.phase}: ${c.action}${c.name === undefined ? "" : ` ${c.name}`}${value}`);
    }
  }
  if (r.service !== null) out.push(`service: ${r.service}`);
  if (r.backend !== null) out.push(`backend: ${r.backend}`);
  if (r.respond !== null) {
    out.push(`answered directly: ${r.respond.status}`);
    for (const [k, v] of Object.entries(r.respond.headers)) out.push(`  ${k}: ${String(v)}`);
    if (r.respond.body !== "") out.push(`  body: ${JSON.stringify(r.respond.body.length > 200 ? `${r.respond.body.slice(0, 200)}...` : r.respond.body)}`);
  }
  if (r.upstream !== null) {
    out.push(`to the backend: ${r.upstream.method} ${r.upstream.target}`);
    for (const [k, v] of r.upstream.headers) out.push(`  ${k}: ${v}`);
  }
  if (r.response !== null) {
    out.push(`to the client: ${r.response.status}`);
    for (const [k, v] of r.response.headers) out.push(`  ${k}: ${v}`);
  }
  return `${out.join("\n")}\n`;
}

/** The exchange a script sees in `divisor script test`: the sample request, no connection. */
class OfflineExchange implements Exchange {
  readonly id = 1;
  readonly request;
  readonly listener = "script-test";
  readonly router = "script-test";
  readonly tenant = undefined;
  service: string | undefined = undefined;
  readonly params = null;
  backend: BackendState | undefined = undefined;
  status = 0;
  readonly startTime = performance.now();
  durationMs = 0;
  readonly requestBytes = 0;
  readonly responseBytes = 0;
  readonly errorCode = undefined;
  readonly traceId = undefined;
  readonly locals = new Map<string | symbol, unknown>();
  readonly clientCertificate = null;
  readonly signal = new AbortController().signal;

  constructor(method: string, path: string, query: string, headers: HeaderList, host: string, clientIp: string) {
    this.request = { method, path, query, headers, host, scheme: "http" as const, clientIp, versionMinor: 1, httpVersion: "1.1" as const };
  }

  respond(status: number, body: string | Buffer = "", headers: Readonly<Record<string, string | readonly string[]>> = {}): DirectResponse {
    return { status, body, headers };
  }

  resetConnection(): DirectResponse {
    return { status: 0, body: "", headers: {} };
  }

  useService(name: string): void {
    this.service = name;
  }
}
