/**
 * What the bench measures, one entry per target: how to start it on a port in
 * front of the shared backend, and which of its processes to account for.
 * Adding a peer is one entry here (and its config in configs.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type DivisorVariant, divisorYaml, haproxyConf, proxyNginxConf } from "./configs.js";
import { installExamplePlugin } from "./plugin-package.js";
import { type BenchProcess, descendants, spawnPinned } from "./processes.js";

/** Where and against what a target runs. */
export interface TargetContext {
  /** The run's temp dir: configs, pid files, logs. */
  readonly dir: string;
  /** The repository root (for dist/ and bench/peers/). */
  readonly root: string;
  readonly backendPort: number;
  /** The core proxies are pinned to. */
  readonly core: number;
}

export interface Target {
  readonly id: string;
  /** What the row is called in the report. */
  readonly label: string;
  /** Starts the target listening on `port`. */
  start(ctx: TargetContext, port: number): BenchProcess;
  /** The processes whose CPU time and peak RSS are the target's cost. */
  measuredPids(proc: BenchProcess): number[];
  /** "compress": measured on the compress workload (~10 KB JSON, Accept-Encoding: gzip) whatever the scenario. */
  readonly workload?: "compress";
  /** Served over HTTPS (the bench's self-signed certificate, made in the run's dir): wrk and the checks speak TLS. */
  readonly tls?: boolean;
  /** Loaded over HTTP/2 (TLS, ALPN h2) by h2load instead of wrk; implies tls. */
  readonly http2?: boolean;
}

/** The process and everything it started (Node's own threads are inside the process's figures). */
const processTree = (proc: BenchProcess): number[] => [proc.pid, ...descendants(proc.pid)];
/** nginx's workers: the master only supervises and sits idle during a run. */
export const nginxWorkers = (proc: BenchProcess): number[] => descendants(proc.pid);

function writeConfig(ctx: TargetContext, file: string, text: string): string {
  const path = join(ctx.dir, file);
  writeFileSync(path, text);
  return path;
}

/** Starts an nginx master in the foreground with its config, error log and temp paths in `ctx.dir`. */
export function startNginx(name: string, core: number, dir: string, conf: string): BenchProcess {
  mkdirSync(join(dir, `${name}-tmp`), { recursive: true });
  const path = join(dir, `${name}.conf`);
  writeFileSync(path, conf);
  return spawnPinned(name, core, "nginx", ["-p", dir, "-e", join(dir, `${name}.error.log`), "-c", path, "-g", "daemon off;"], dir);
}

/** The Divisor entry point the bench runs (built JavaScript, no TypeScript loader). */
export const DIVISOR_MAIN = "dist/cli/divisor.cjs";

function divisorTarget(id: string, variant: DivisorVariant): Target {
  return {
    id,
    ...(variant === "compress" ? { workload: "compress" as const } : {}),
    ...(variant === "https" ? { tls: true } : {}),
    ...(variant === "h2" ? { tls: true, http2: true } : {}),
    label: id,
    start: (ctx, port) => {
      if (variant === "plugin") installExamplePlugin(ctx.dir, ctx.root);
      const conf = writeConfig(ctx, `${id}.yaml`, divisorYaml(port, ctx.backendPort, variant, ctx.dir));
      // Run as users do, through the bin's shebang, which carries Divisor's Node flags.
      return spawnPinned(id, ctx.core, join(ctx.root, DIVISOR_MAIN), ["start", "-c", conf], ctx.dir);
    },
    measuredPids: processTree,
  };
}

export const TARGETS: readonly Target[] = [
  divisorTarget("divisor", "default"),
  divisorTarget("divisor-admin", "admin"),
  divisorTarget("divisor-bare", "bare"),
  divisorTarget("divisor-no-metrics", "no-metrics"),
  divisorTarget("divisor-tracing", "tracing"),
  divisorTarget("divisor-access-log", "access-log"),
  divisorTarget("divisor-chain", "chain"),
  divisorTarget("divisor-cache", "cache"),
  divisorTarget("divisor-compress", "compress"),
  divisorTarget("divisor-https", "https"),
  divisorTarget("divisor-h2", "h2"),
  divisorTarget("divisor-lua", "lua"),
  divisorTarget("divisor-plugin", "plugin"),
  {
    id: "nginx",
    label: "nginx",
    start: (ctx, port) => startNginx("nginx", ctx.core, ctx.dir, proxyNginxConf(ctx.dir, port, ctx.backendPort)),
    measuredPids: nginxWorkers,
  },
  {
    id: "nginx-gzip",
    label: "nginx-gzip",
    workload: "compress",
    start: (ctx, port) => startNginx("nginx-gzip", ctx.core, ctx.dir, proxyNginxConf(ctx.dir, port, ctx.backendPort, true)),
    measuredPids: nginxWorkers,
  },
  {
    id: "nginx-https",
    label: "nginx-https",
    tls: true,
    start: (ctx, port) => startNginx("nginx-https", ctx.core, ctx.dir, proxyNginxConf(ctx.dir, port, ctx.backendPort, false, true)),
    measuredPids: nginxWorkers,
  },
  {
    id: "nginx-h2",
    label: "nginx-h2",
    tls: true,
    http2: true,
    start: (ctx, port) => startNginx("nginx-h2", ctx.core, ctx.dir, proxyNginxConf(ctx.dir, port, ctx.backendPort, false, true, true)),
    measuredPids: nginxWorkers,
  },
  {
    id: "haproxy",
    label: "haproxy",
    start: (ctx, port) => {
      const conf = writeConfig(ctx, "haproxy.cfg", haproxyConf(ctx.dir, port, ctx.backendPort));
      return spawnPinned("haproxy", ctx.core, "haproxy", ["-f", conf, "-db"], ctx.dir);
    },
    measuredPids: processTree,
  },
  {
    id: "haproxy-https",
    label: "haproxy-https",
    tls: true,
    start: (ctx, port) => {
      const conf = writeConfig(ctx, "haproxy-https.cfg", haproxyConf(ctx.dir, port, ctx.backendPort, true));
      return spawnPinned("haproxy-https", ctx.core, "haproxy", ["-f", conf, "-db"], ctx.dir);
    },
    measuredPids: processTree,
  },
  {
    id: "haproxy-h2",
    label: "haproxy-h2",
    tls: true,
    http2: true,
    start: (ctx, port) => {
      const conf = writeConfig(ctx, "haproxy-h2.cfg", haproxyConf(ctx.dir, port, ctx.backendPort, true, true));
      return spawnPinned("haproxy-h2", ctx.core, "haproxy", ["-f", conf, "-db"], ctx.dir);
    },
    measuredPids: processTree,
  },
  {
    id: "node-http-proxy",
    label: "node-http-proxy",
    start: (ctx, port) =>
      spawnPinned("node-http-proxy", ctx.core, process.execPath, [join(ctx.root, "bench/peers/node-http-proxy.mjs"), String(port), String(ctx.backendPort)], ctx.dir, ctx.root),
    measuredPids: processTree,
  },
  {
    id: "fastify-http-proxy",
    label: "@fastify/http-proxy",
    start: (ctx, port) =>
      spawnPinned("fastify-http-proxy", ctx.core, process.execPath, [join(ctx.root, "bench/peers/fastify-http-proxy.mjs"), String(port), String(ctx.backendPort)], ctx.dir, ctx.root),
    measuredPids: processTree,
  },
];

/** Every id `--only` accepts: the proxies plus "direct", wrk straight at the backend. */
export const TARGET_IDS: readonly string[] = ["direct", ...TARGETS.map((t) => t.id)];
