import cluster from "node:cluster";
import fs from "node:fs";
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { loadConfigFile } from "../config/load.js";
import type { DivisorConfig } from "../config/schema.js";
import { createGateway, type Gateway } from "../gateway/gateway.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { describeFailure } from "../observability/logging.js";
import { configPath, fail, loadOrExit } from "./common.js";

interface StartOptions {
  config?: string;
  watch?: boolean;
  workers: string;
  pidFile?: string;
}

/** Set by the primary for its workers: the primary runs the demo backends once. */
const WORKER_SKIPS_DEMO = "DIVISOR_WORKER_SKIP_DEMO";

export function registerStart(program: Command): void {
  program
    .command("start")
    .description("run the gateway (SIGHUP or --watch reloads the config; SIGTERM/SIGINT stop it gracefully)")
    .option("-c, --config <file>", "configuration file (default: the bundled default config with demo backends)")
    .option("-w, --watch", "reload when the configuration file changes")
    .option("--workers <n>", 'worker processes sharing the listeners ("auto" = one per CPU)', "1")
    .option("--pid-file <file>", "write the process id here (for divisor reload); removed on exit")
    .action(async (opts: StartOptions) => {
      const path = configPath(opts.config);
      const workers = parseWorkers(opts.workers);
      const config = await loadOrExit(path);
      const log = createLogger({ level: config.logging.level, format: config.logging.format });
      if (cluster.isWorker) {
        await runGateway(path, config, log, { skipDemo: process.env[WORKER_SKIPS_DEMO] === "1", watch: false, pidFile: undefined });
        return;
      }
      if (workers === 1) {
        await runGateway(path, config, log, { skipDemo: false, watch: opts.watch === true, pidFile: opts.pidFile });
        return;
      }
      await runPrimary(path, config, log, workers, opts);
    });
}

function parseWorkers(value: string): number {
  if (value === "auto") return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1024) fail(new Error(`--workers expects a whole number from 1 to 1024 or "auto", got "${value}"`));
  return n;
}

function writePidFile(file: string | undefined): void {
  if (file === undefined) return;
  try {
    fs.writeFileSync(file, `${process.pid}\n`);
  } catch (err) {
    fail(new Error(`cannot write the pid file ${file}: ${(err as Error).message}`));
  }
  process.on("exit", () => fs.rmSync(file, { force: true }));
}

/** Watch the config file; call `onChange` once per burst of changes. */
function watchConfig(path: string, onChange: () => void): void {
  let timer: NodeJS.Timeout | undefined;
  fs.watch(path, () => {
    clearTimeout(timer);
    timer = setTimeout(onChange, 100);
  });
}

/** One process serving the gateway (the only one, or a cluster worker). */
async function runGateway(
  path: string,
  config: DivisorConfig,
  log: Logger,
  options: { skipDemo: boolean; watch: boolean; pidFile: string | undefined },
): Promise<void> {
  const withoutDemo = (c: DivisorConfig): DivisorConfig => (options.skipDemo ? { ...c, demo: undefined } : c);
  let gateway: Gateway;
  try {
    gateway = createGateway(withoutDemo(config), { source: path, logger: log });
    const bound = await gateway.listen();
    for (const b of bound) log.info({ listener: b.name, address: `${b.address}:${b.port}` }, `listening on http://${b.address}:${b.port}`);
    const admin = gateway.adminAddress;
    if (admin !== undefined) log.info({ admin: `${admin.address}:${admin.port}` }, `admin API on http://${admin.address}:${admin.port} (metrics at /metrics)`);
    writePidFile(options.pidFile);
    log.info({ config: path }, "gateway started");
  } catch (err) {
    fail(err);
  }

  let reloading = Promise.resolve();
  const reload = (reason: string) => {
    reloading = reloading.then(async () => {
      log.info({ config: path, reason }, "reloading the configuration");
      let next: DivisorConfig;
      try {
        next = await loadConfigFile(path);
      } catch (err) {
        log.error({ config: path, reason, ...describeFailure(err) }, "reload refused; the previous configuration stays in force");
        return;
      }
      // The gateway logs the outcome ("configuration reloaded", or the refusal with its problems).
      await gateway.reload(withoutDemo(next)).catch(() => {});
    });
  };
  process.on("SIGHUP", () => reload("SIGHUP"));
  // logrotate: reopen the access log's files (the same as `kill -USR1` to nginx).
  process.on("SIGUSR1", () => gateway.reopenLogs());
  if (options.watch) watchConfig(path, () => reload("file changed"));

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    log.info({ signal, gracePeriodMs: gateway.config.shutdown.gracePeriod }, "stopping: finishing in-flight requests");
    gateway.close().then(
      () => {
        log.info("stopped");
        process.exit(0);
      },
      (err) => {
        log.error({ err: String(err) }, "error while stopping");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}

/**
 * The cluster primary: validates the config, runs the demo backends once, forks the
 * workers (which share the listening sockets), forwards SIGHUP to them, restarts
 * one that dies, and on SIGTERM/SIGINT lets every worker drain before exiting.
 */
async function runPrimary(path: string, config: DivisorConfig, log: Logger, count: number, opts: StartOptions): Promise<void> {
  let demo: { close(): Promise<void> } | undefined;
  if (config.demo !== undefined) {
    const { startDemoBackends } = await import("../demo/backends.js");
    try {
      demo = await startDemoBackends(config.demo.backends);
    } catch (err) {
      fail(err);
    }
  }
  writePidFile(opts.pidFile);
  let stopping = false;
  let backoffMs = 500;
  const restarts = new Set<NodeJS.Timeout>();
  const fork = () => cluster.fork({ [WORKER_SKIPS_DEMO]: "1" });
  const exitWhenNoWorkers = () => {
    if (Object.keys(cluster.workers ?? {}).length > 0) return;
    log.info("stopped");
    void (demo?.close() ?? Promise.resolve()).then(() => process.exit(0));
  };
  cluster.on("exit", (worker, code, signal) => {
    if (stopping) return exitWhenNoWorkers();
    log.error({ worker: worker.process.pid, code, signal, restartInMs: backoffMs }, "worker died; restarting it");
    const timer = setTimeout(() => {
      restarts.delete(timer);
      fork();
    }, backoffMs);
    restarts.add(timer);
    backoffMs = Math.min(backoffMs * 2, 30_000);
  });
  cluster.on("listening", () => {
    backoffMs = 500;
  });
  for (let i = 0; i < count; i++) fork();
  log.info({ workers: count, config: path }, "primary started");

  const toWorkers = (signal: NodeJS.Signals) => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  process.on("SIGHUP", () => toWorkers("SIGHUP"));
  process.on("SIGUSR1", () => toWorkers("SIGUSR1"));
  if (opts.watch) watchConfig(path, () => toWorkers("SIGHUP"));
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping: every worker finishes its in-flight requests");
    // A restart still waiting out its back-off does not happen.
    for (const timer of restarts) clearTimeout(timer);
    toWorkers("SIGTERM");
    exitWhenNoWorkers();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
}
