/** The bench's printed report: one table, Divisor's ratios to each peer, and the issue's targets. */
import { errorCount, type WrkResult } from "./wrk.js";

/** One target's measured figures. */
export interface Measured {
  readonly ok: true;
  readonly id: string;
  readonly label: string;
  readonly wrk: WrkResult;
  /** CPU time of the measured processes during the measured run, per completed request. */
  readonly cpuUsPerRequest: number;
  /** The shared backend's CPU time per request in the same run (shows upstream connection reuse). */
  readonly backendCpuUsPerRequest: number;
  readonly peakRssBytes: number;
  /** Milliseconds from spawn to the first 200 through the target. */
  readonly firstResponseMs: number;
  /** Cores' worth of CPU that processes outside the bench used during the measured run. */
  readonly otherLoadCores: number;
}

/** A target that could not be measured, and why. */
export interface Failed {
  readonly ok: false;
  readonly id: string;
  readonly label: string;
  readonly error: string;
}

export type TargetResult = Measured | Failed;

/** The issue's targets for Divisor. */
export const GOALS = {
  cpuVsNginx: 1.5,
  throughputVsNodeHttpProxy: 2,
  peakRssMiB: 60,
  firstResponseMs: 150,
  /** CPU per request with metrics on, relative to metrics off (issue 4). */
  metricsOverhead: 1.05,
  /** CPU per request with a typical middleware chain (rate-limit + security-headers, metrics on), relative to the same proxy without it. */
  typicalChain: 1.25,
  /** CPU µs per request a typical header-rewriting Lua script adds (issue 8). */
  luaScriptUs: 50,
} as const;

export interface ReportHeader {
  readonly date: string;
  readonly connections: number;
  readonly duration: number;
  readonly scenario: string;
  readonly cores: number;
  readonly loadAverage: string;
  readonly versions: Record<string, string>;
}

const MiB = 1024 * 1024;

function fmtMs(ms: number): string {
  return ms < 10 ? `${ms.toFixed(2)}ms` : `${ms.toFixed(1)}ms`;
}

function fmtErrors(w: WrkResult): string {
  const n = errorCount(w);
  if (n === 0) return "0";
  const s = w.socketErrors;
  const parts = [
    w.badStatus > 0 ? `${w.badStatus} status>=400` : "",
    s.connect > 0 ? `${s.connect} connect` : "",
    s.read > 0 ? `${s.read} read` : "",
    s.write > 0 ? `${s.write} write` : "",
    s.timeout > 0 ? `${s.timeout} timeout` : "",
  ].filter((p) => p !== "");
  return `${n} !! (${parts.join(", ")})`;
}

const COLUMNS = ["target", "req/s", "p50", "p99", "CPU µs/req", "peak RSS", "first 200", "others", "errors"] as const;
const WIDTHS = [22, 9, 9, 9, 11, 9, 10, 6, 0] as const;

/** Other work above this many cores during a run makes its figures doubtful. */
export const NOISY_CORES = 0.2;

function row(cells: readonly string[]): string {
  return cells
    .map((c, i) => {
      const w = WIDTHS[i] ?? 0;
      if (w === 0) return c;
      return i === 0 ? c.padEnd(w) : c.padStart(w);
    })
    .join("  ")
    .trimEnd();
}

/** The table of every target, one row each. */
export function resultTable(results: readonly TargetResult[]): string[] {
  const lines = [row(COLUMNS)];
  for (const r of results) {
    if (!r.ok) {
      lines.push(row([r.label, "—", "—", "—", "—", "—", "—", "—", `NOT MEASURED: ${r.error.split("\n")[0]}`]));
      continue;
    }
    lines.push(
      row([
        r.label,
        Math.round(r.wrk.requestsPerSecond).toLocaleString("en-US"),
        fmtMs(r.wrk.p50Ms),
        fmtMs(r.wrk.p99Ms),
        r.cpuUsPerRequest.toFixed(1),
        `${(r.peakRssBytes / MiB).toFixed(1)} MB`,
        `${Math.round(r.firstResponseMs)} ms`,
        r.otherLoadCores.toFixed(2),
        fmtErrors(r.wrk),
      ]),
    );
  }
  return lines;
}

function measured(results: readonly TargetResult[], id: string): Measured | undefined {
  const r = results.find((x) => x.id === id);
  return r?.ok ? r : undefined;
}

/** Divisor's CPU-per-request and throughput ratios to each measured peer. */
export function ratioLines(results: readonly TargetResult[]): string[] {
  const divisor = measured(results, "divisor");
  if (divisor === undefined) return ["ratios: Divisor was not measured"];
  const lines = ["ratios, divisor / peer:   CPU µs/req   req/s"];
  for (const peer of results) {
    if (!peer.ok || peer.id === "divisor" || peer.id === "direct") continue;
    const cpu = divisor.cpuUsPerRequest / peer.cpuUsPerRequest;
    const rps = divisor.wrk.requestsPerSecond / peer.wrk.requestsPerSecond;
    lines.push(`  ${peer.label.padEnd(22)}${`${cpu.toFixed(2)}x`.padStart(11)}${`${rps.toFixed(2)}x`.padStart(8)}`);
  }
  const out = lines.length > 1 ? lines : ["ratios: no peer was measured"];
  return [...out, ...pairLines(results)];
}

/** Like-for-like rows (the same workload on both sides): Divisor's row over each peer's. */
const PAIRS: readonly (readonly [string, string])[] = [
  ["divisor-https", "nginx-https"],
  ["divisor-https", "haproxy-https"],
  ["divisor-h2", "nginx-h2"],
  ["divisor-h2", "haproxy-h2"],
  ["divisor-compress", "nginx-gzip"],
  // The same header rewrite as a Lua script and as a TypeScript plugin (each row's cost over divisor is below).
  ["divisor-lua", "divisor-plugin"],
];

function pairLines(results: readonly TargetResult[]): string[] {
  const lines: string[] = [];
  for (const [ours, theirs] of PAIRS) {
    const a = measured(results, ours);
    const b = measured(results, theirs);
    if (a === undefined || b === undefined) continue;
    const cpu = a.cpuUsPerRequest / b.cpuUsPerRequest;
    const rps = a.wrk.requestsPerSecond / b.wrk.requestsPerSecond;
    lines.push(`  ${`${ours} / ${theirs}`.padEnd(34)}${`${cpu.toFixed(2)}x`.padStart(7)}${`${rps.toFixed(2)}x`.padStart(8)}`);
  }
  return [...(lines.length === 0 ? [] : ["like for like, same workload:      CPU µs/req   req/s", ...lines]), ...middlewareCostLines(results)];
}

/** Rows that add a middleware to `divisor`'s config: what it costs, as that row over `divisor`. */
const MIDDLEWARE_ROWS: readonly string[] = ["divisor-lua", "divisor-plugin"];

function middlewareCostLines(results: readonly TargetResult[]): string[] {
  const base = measured(results, "divisor");
  if (base === undefined) return [];
  const lines: string[] = [];
  for (const id of MIDDLEWARE_ROWS) {
    const row = measured(results, id);
    if (row === undefined) continue;
    const extra = row.cpuUsPerRequest - base.cpuUsPerRequest;
    lines.push(`  ${`${id} / divisor`.padEnd(34)}${`${(row.cpuUsPerRequest / base.cpuUsPerRequest).toFixed(2)}x`.padStart(7)}${`${(row.wrk.requestsPerSecond / base.wrk.requestsPerSecond).toFixed(2)}x`.padStart(8)}   ${extra >= 0 ? "+" : ""}${extra.toFixed(1)} µs/req`);
  }
  return lines.length === 0 ? [] : ["a middleware's cost over divisor:  CPU µs/req   req/s   extra CPU", ...lines];
}

/** One of the issue's targets, checked. */
export interface GoalCheck {
  readonly goal: string;
  readonly value: string;
  /** undefined when a figure it needs was not measured. */
  readonly pass: boolean | undefined;
}

/** Checks Divisor against the issue's targets. */
export function checkGoals(results: readonly TargetResult[]): GoalCheck[] {
  const d = measured(results, "divisor");
  const nginx = measured(results, "nginx");
  const nhp = measured(results, "node-http-proxy");
  const noMetrics = measured(results, "divisor-no-metrics");
  const chain = measured(results, "divisor-chain");
  const lua = measured(results, "divisor-lua");
  const check = (goal: string, value: number | undefined, unit: string, pass: (v: number) => boolean): GoalCheck =>
    value === undefined ? { goal, value: "n/a", pass: undefined } : { goal, value: `${value.toFixed(unit === "x" ? 2 : 1)}${unit}`, pass: pass(value) };
  return [
    check(`CPU µs/req ≤ ${GOALS.cpuVsNginx}x nginx's`, d && nginx && d.cpuUsPerRequest / nginx.cpuUsPerRequest, "x", (v) => v <= GOALS.cpuVsNginx),
    check(
      `req/s ≥ ${GOALS.throughputVsNodeHttpProxy}x node-http-proxy's`,
      d && nhp && d.wrk.requestsPerSecond / nhp.wrk.requestsPerSecond,
      "x",
      (v) => v >= GOALS.throughputVsNodeHttpProxy,
    ),
    check(`peak RSS ≤ ${GOALS.peakRssMiB} MB`, d && d.peakRssBytes / MiB, " MB", (v) => v <= GOALS.peakRssMiB),
    check(`first proxied request ≤ ${GOALS.firstResponseMs} ms`, d?.firstResponseMs, " ms", (v) => v <= GOALS.firstResponseMs),
    check(
      `CPU µs/req with metrics ≤ ${GOALS.metricsOverhead}x without`,
      d && noMetrics && d.cpuUsPerRequest / noMetrics.cpuUsPerRequest,
      "x",
      (v) => v <= GOALS.metricsOverhead,
    ),
    check(
      `CPU µs/req with the typical chain ≤ ${GOALS.typicalChain}x bare`,
      d && chain && chain.cpuUsPerRequest / d.cpuUsPerRequest,
      "x",
      (v) => v <= GOALS.typicalChain,
    ),
    check(`CPU µs/req a Lua header script adds ≤ ${GOALS.luaScriptUs}`, d && lua && lua.cpuUsPerRequest - d.cpuUsPerRequest, " µs", (v) => v <= GOALS.luaScriptUs),
  ];
}

function goalLines(results: readonly TargetResult[]): string[] {
  const lines = ["targets (divisor):"];
  for (const g of checkGoals(results)) {
    const verdict = g.pass === undefined ? "n/a (not measured)" : g.pass ? "PASS" : "FAIL";
    lines.push(`  ${g.goal.padEnd(36)}${g.value.padStart(10)}  ${verdict}`);
  }
  return lines;
}

/** Lines that shout about any errors, so a run with failures cannot be mistaken for a clean one. */
export function errorLines(results: readonly TargetResult[]): string[] {
  const out: string[] = [];
  for (const r of results) {
    if (!r.ok) out.push(`!! ${r.label} was not measured: ${r.error.split("\n")[0]}`);
    else if (errorCount(r.wrk) > 0) out.push(`!! ${r.label} had ${fmtErrors(r.wrk)} during the measured run`);
  }
  return out;
}

/** Lines that warn about runs disturbed by other work on the machine. */
export function noiseLines(results: readonly TargetResult[]): string[] {
  const noisy = results.filter((r): r is Measured => r.ok && r.otherLoadCores > NOISY_CORES);
  if (noisy.length === 0) return [];
  const list = noisy.map((r) => `${r.label} ${r.otherLoadCores.toFixed(2)}`).join(", ");
  return [`~ noisy: other work used more than ${NOISY_CORES} cores during the runs of ${list}; their figures are low, repeat when the machine is quieter`];
}

/** The block to paste into an issue note. */
export function summaryBlock(h: ReportHeader, results: readonly TargetResult[]): string {
  const what = h.scenario === "post-1k" ? "POST 1 KiB body, 12-byte response" : "12-byte GET";
  const versions = Object.entries(h.versions)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  return [
    `== Divisor bench summary (${h.date}, ${h.connections} conns, ${h.duration}s, ${what}, proxy on 1 core) ==`,
    `host: ${h.cores} cores, load average ${h.loadAverage} at start; ${versions}`,
    ...resultTable(results),
    ...ratioLines(results),
    ...goalLines(results),
    ...noiseLines(results),
    ...errorLines(results),
  ].join("\n");
}
