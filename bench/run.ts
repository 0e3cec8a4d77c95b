/**
 * `npm run bench`: Divisor side by side with nginx, HAProxy, node-http-proxy and
 * @fastify/http-proxy, in one run, against one nginx backend, and Divisor's ratios
 * to each. Reproduces DESIGN.md's "Hot path" table; docs/benchmarks.md explains it.
 *
 *   npm run bench -- --duration 10 --connections 50 --only divisor,nginx --json
 *
 * Core 0: the backend and wrk. Core 1: the proxy under test, alone.
 * It measures; it is not a test: it exits 0 when a target is missed, 1 when it cannot run.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ensureDivisorBuilt } from "./proxy/build.js";
import { BACKEND_BODY, backendNginxConf, COMPRESS_PATH, compressDocument, compressLua, POST_BODY_BYTES, postLua, writeBenchCertificate } from "./proxy/configs.js";
import { freePort, requestOnce, timeToFirst200 } from "./proxy/net.js";
import { type BenchOptions, parseBenchOptions, USAGE } from "./proxy/options.js";
import { type BenchProcess, clockTicksPerSecond, cpuTicks, killAllNow, logTail, machineBusyTicks, ownTicks, peakRss, stopProcess } from "./proxy/processes.js";
import { checkGoals, errorLines, type Measured, type ReportHeader, summaryBlock, type TargetResult } from "./proxy/report.js";
import { nginxWorkers, startNginx, TARGETS, type TargetContext } from "./proxy/targets.js";
import { hostInfo, ensureTools, toolVersions } from "./proxy/tools.js";
import { runWrk } from "./proxy/wrk.js";
import { runH2load } from "./proxy/h2load.js";

const ROOT = resolve(import.meta.dirname, "..");
const log = (line: string): void => console.log(line);
const loud = (line: string): void => console.log(process.stdout.isTTY ? `\x1b[1;31m${line}\x1b[0m` : line);

/** What a measurement needs to know about the run. */
interface Run {
  readonly options: BenchOptions;
  readonly dir: string;
  readonly backend: BenchProcess;
  readonly loadCore: number;
  /** Path of the wrk Lua script of the scenario, if any. */
  readonly script: string | undefined;
  /** Path of the wrk Lua script of the compress workload. */
  readonly compressScript: string;
  readonly compressBody: string;
}

/** Checks one answer, warms up, then measures with wrk while reading the target's CPU time. */
async function measure(run: Run, id: string, label: string, port: number, pidsOf: () => number[], firstResponseMs: number, compress = false, overTls = false, h2 = false): Promise<Measured> {
  const { options } = run;
  const post = options.scenario === "post-1k" && !compress;
  const check = compress
    ? await requestOnce(port, "GET", undefined, COMPRESS_PATH, { "accept-encoding": "gzip" })
    : await requestOnce(port, post ? "POST" : "GET", post ? Buffer.alloc(POST_BODY_BYTES, "x") : undefined, "/", {}, overTls);
  const expected = compress ? run.compressBody : BACKEND_BODY;
  if (check.status !== 200 || check.body !== expected || (compress && check.contentEncoding !== "gzip")) {
    throw new Error(`wrong answer before measuring: status ${check.status}, content-encoding ${check.contentEncoding}, body ${JSON.stringify(check.body.slice(0, 80))}`);
  }
  const wrk = { port, core: run.loadCore, connections: options.connections, script: compress ? run.compressScript : run.script, tls: overTls };
  // HTTP/2 rows: h2load (wrk speaks HTTP/1.1 only), the same connections with 10 streams each.
  const h2Body = post ? join(run.dir, "post-body.bin") : undefined;
  if (h2Body !== undefined) writeFileSync(h2Body, Buffer.alloc(POST_BODY_BYTES, "x"));
  const load = h2 ? (o: typeof wrk & { seconds: number }) => runH2load({ ...o, logFile: join(run.dir, `${id}-h2load.log`), bodyFile: h2Body }) : runWrk;
  if (options.warmup > 0) await load({ ...wrk, seconds: options.warmup });
  const pids = pidsOf();
  const backendPids = nginxWorkers(run.backend);
  // Everything of ours: the target, the backend, the bench and (once reaped) wrk; the rest of
  // the machine's busy time is other people's work competing for the two cores.
  const ours = (): number => cpuTicks([...new Set([...pids, ...backendPids])]) + ownTicks();
  const before = cpuTicks(pids);
  const backendBefore = cpuTicks(backendPids);
  const oursBefore = ours();
  const busyBefore = machineBusyTicks();
  const startedAt = performance.now();
  const result = await load({ ...wrk, seconds: options.duration });
  const elapsedTicks = ((performance.now() - startedAt) / 1000) * clockTicksPerSecond();
  const otherLoadCores = Math.max(0, machineBusyTicks() - busyBefore - (ours() - oursBefore)) / elapsedTicks;
  const usPerTick = 1e6 / clockTicksPerSecond();
  const perRequest = (ticks: number): number => (result.requests > 0 ? (ticks * usPerTick) / result.requests : Number.NaN);
  return {
    otherLoadCores,
    ok: true,
    id,
    label,
    wrk: result,
    cpuUsPerRequest: perRequest(cpuTicks(pids) - before),
    backendCpuUsPerRequest: perRequest(cpuTicks(backendPids) - backendBefore),
    peakRssBytes: peakRss(pids),
    firstResponseMs,
  };
}

function describe(r: TargetResult): string {
  if (!r.ok) return `NOT MEASURED: ${r.error}`;
  return `${Math.round(r.wrk.requestsPerSecond)} req/s, ${r.cpuUsPerRequest.toFixed(1)} CPU µs/req (backend ${r.backendCpuUsPerRequest.toFixed(1)}), first 200 after ${Math.round(r.firstResponseMs)} ms`;
}

async function runTarget(run: Run, ctx: TargetContext, id: string, backendFirstMs: number, divisorProblem: string | undefined): Promise<TargetResult> {
  if (id === "direct") {
    const label = "direct (backend)";
    try {
      return await measure(run, id, label, ctx.backendPort, () => nginxWorkers(run.backend), backendFirstMs);
    } catch (err) {
      return { ok: false, id, label, error: (err as Error).message };
    }
  }
  const target = TARGETS.find((t) => t.id === id)!;
  if (id === "divisor" && divisorProblem !== undefined) return { ok: false, id, label: target.label, error: divisorProblem };
  const port = await freePort();
  const startedAt = performance.now();
  const proc = target.start(ctx, port);
  try {
    const first = await timeToFirst200(port, startedAt, proc.exited, 20_000, 2, target.tls === true);
    return await measure(run, id, target.label, port, () => target.measuredPids(proc), first, target.workload === "compress", target.tls === true, target.http2 === true);
  } catch (err) {
    return { ok: false, id, label: target.label, error: `${(err as Error).message}\n--- ${proc.logFile}:\n${logTail(proc)}` };
  } finally {
    await stopProcess(proc);
  }
}

async function main(): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseBenchOptions(process.argv.slice(2));
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    log(USAGE);
    return 0;
  }
  const host = hostInfo();
  ensureTools(log);
  const header: ReportHeader = {
    date: new Date().toISOString().slice(0, 10),
    connections: options.connections,
    duration: options.duration,
    scenario: options.scenario,
    cores: host.cores,
    loadAverage: host.loadAverage,
    versions: toolVersions(),
  };
  log(`divisor bench: ${options.only.join(", ")}; ${options.scenario}; ${options.connections} connections; ${options.warmup}s warm-up + ${options.duration}s each`);
  log(`host: ${host.cores} cores, load average ${host.loadAverage} (other work on the machine makes the numbers noisy)`);
  // Core 0: backend and wrk; core 1: the proxy under test. One core: everything shares it.
  const loadCore = 0;
  const proxyCore = host.cores >= 2 ? 1 : 0;
  if (proxyCore === loadCore) loud("!! only one core: the proxy shares it with wrk and the backend; ratios are still comparable, absolute numbers are not");

  let divisorProblem: string | undefined;
  if (options.only.includes("divisor")) {
    const build = ensureDivisorBuilt(ROOT, log);
    if (!build.ok) {
      divisorProblem = build.reason;
      loud(`!! Divisor cannot be measured: ${build.reason}`);
    } else if (build.note !== undefined) loud(`!! ${build.note}`);
  }

  const dir = mkdtempSync(join(tmpdir(), "divisor-bench-"));
  const onSignal = (signal: NodeJS.Signals): void => {
    killAllNow();
    rmSync(dir, { recursive: true, force: true });
    console.error(`\ninterrupted by ${signal}; every server the bench started is stopped`);
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  process.once("exit", killAllNow);

  // Logs stay when something went wrong, so the cause can be read.
  let keepLogs = true;
  try {
    const compressBody = compressDocument();
    // nginx's workers run as nobody: the run's dir (0700 from mkdtemp) must let them reach the document.
    chmodSync(dir, 0o711);
    writeFileSync(join(dir, "compress.json"), compressBody, { mode: 0o644 });
    if (options.only.some((id) => TARGETS.find((t) => t.id === id)?.tls === true)) writeBenchCertificate(dir);
    const compressScript = join(dir, "compress.lua");
    writeFileSync(compressScript, compressLua());
    const backendPort = await freePort();
    const backendStart = performance.now();
    const backend = startNginx("backend", loadCore, dir, backendNginxConf(dir, backendPort));
    let backendFirstMs: number;
    try {
      backendFirstMs = await timeToFirst200(backendPort, backendStart, backend.exited);
    } catch (err) {
      throw new Error(`the backend nginx did not start: ${(err as Error).message}\n${logTail(backend)}`);
    }
    let script: string | undefined;
    if (options.scenario === "post-1k") {
      script = join(dir, "post-1k.lua");
      writeFileSync(script, postLua());
    }
    const run: Run = { options, dir, backend, loadCore, script, compressScript, compressBody };
    const ctx: TargetContext = { dir, root: ROOT, backendPort, core: proxyCore };
    const results: TargetResult[] = [];
    for (const id of options.only) {
      log(`-- ${id} ...`);
      const result = await runTarget(run, ctx, id, backendFirstMs, divisorProblem);
      results.push(result);
      (result.ok ? log : loud)(`   ${describe(result)}`);
    }
    await stopProcess(backend);

    log("");
    const summary = summaryBlock(header, results);
    for (const line of summary.split("\n")) (line.startsWith("!!") ? loud : log)(line);
    keepLogs = errorLines(results).length > 0;

    if (options.json) {
      const resultsDir = join(ROOT, "bench/results");
      mkdirSync(resultsDir, { recursive: true });
      const file = join(resultsDir, `${new Date().toISOString().replace(/[:.]/g, "-")}.json`);
      writeFileSync(file, `${JSON.stringify({ header, options, results, goals: checkGoals(results), summary }, null, 2)}\n`);
      log(`\nresults written to ${file}`);
    }
  } finally {
    killAllNow();
    if (keepLogs) log(`\nlogs kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    killAllNow();
    console.error(`bench failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
