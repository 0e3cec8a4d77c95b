import cluster from "node:cluster";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { loadConfigFile } from "../config/load.js";
import type { DivisorConfig } from "../config/schema.js";
import type { AdminServer } from "../admin/server.js";
import type { AdminConfig } from "../config/schema-observability.js";
import { adminGatewayOf, createGateway, type Gateway } from "../gateway/gateway.js";
import { createLogger, type Logger } from "../observability/logger.js";
import { TLS_TICKET_KEYS_ENV } from "../listener/listener.js";
import { configPath, fail, loadOrExit } from "./common.js";
import type { ClusterAdmin, WorkerSlot } from "../admin/cluster/primary.js";

interface StartOptions {
  config?: string;
  watch?: boolean;
  workers: string;
  pidFile?: string;
}

/** Set by the primary for its workers: the primary runs the demo backends and the admin listener once. */
const WORKER_SKIPS_DEMO = "DIVISOR_WORKER_SKIP_DEMO";
/** The worker's slot (0..N-1), kept by the process that replaces it: the worker label of /metrics. */
const WORKER_INDEX = "DIVISOR_WORKER_INDEX";
/** For a worker replacing a dead one: what the admin API changed in the others (split weights), JSON. */
const WORKER_STATE = "DIVISOR_WORKER_STATE";

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
        await runGateway(path, config, log.child({ worker: Number(process.env[WORKER_INDEX]) }), { worker: process.env[WORKER_SKIPS_DEMO] === "1", watch: false, pidFile: undefined });
        return;
      }
      if (workers === 1) {
        await runGateway(path, config, log, { worker: false, watch: opts.watch === true, pidFile: opts.pidFile });
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

/** Take over the others' state; a state that cannot be read leaves this worker on the file's (it must not stop it from serving). */
function restoreInherited(gateway: ReturnType<typeof adminGatewayOf>, json: string, log: Logger): void {
  try {
    gateway.restoreState(JSON.parse(json));
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, "could not take over the other workers' state; this worker starts from the configuration file");
  }
}

/** One process serving the gateway (the only one, or a cluster worker). */
async function runGateway(
  path: string,
  config: DivisorConfig,
  log: Logger,
  options: { worker: boolean; watch: boolean; pidFile: string | undefined },
): Promise<void> {
  // A worker leaves the demo backends and the admin listener to the primary.
  const forThisProcess = (c: DivisorConfig): DivisorConfig => (options.worker ? { ...c, demo: undefined, admin: undefined } : c);
  let gateway: Gateway;
  try {
    // The admin API's POST /api/reload and SIGHUP both re-read the file through loadConfig.
    gateway = createGateway(forThisProcess(config), { source: path, logger: log, loadConfig: async () => forThisProcess(await loadConfigFile(path)) });
    const inherited = process.env[WORKER_STATE];
    // Before listening: a replacing worker serves no request with weights the others no longer use.
    if (options.worker && inherited !== undefined) restoreInherited(adminGatewayOf(gateway), inherited, log);
    if (options.worker) {
      const { serveAdminOverIpc } = await import("../admin/cluster/worker.js");
      serveAdminOverIpc(adminGatewayOf(gateway));
    }
    const bound = await gateway.listen();
    for (const b of bound) log.info({ listener: b.name, address: `${b.address}:${b.port}` }, `listening on http://${b.address}:${b.port}`);
    const admin = gateway.adminAddress;
    if (admin !== undefined) log.info({ admin: `${admin.address}:${admin.port}` }, `admin API on http://${admin.address}:${admin.port} (metrics at /metrics)`);
    writePidFile(options.pidFile);
    log.info({ config: path }, "gateway started");
  } catch (err) {
    fail(err);
  }

  // gateway.reload() runs reloads one at a time (these and the admin API's).
  const reload = (reason: string) => {
    log.info({ config: path, reason }, "reloading the configuration");
    // The gateway logs the outcome ("configuration reloaded", or the refusal with its problems).
    gateway.reload().catch(() => {});
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
  const slots: WorkerSlot[] = Array.from({ length: count }, (_, index) => ({ index, worker: undefined, restarts: 0 }));
  // One set of TLS session ticket keys for every worker: a session resumes on whichever worker takes the connection.
  const ticketKeys = randomBytes(48).toString("hex");
  const fork = (slot: WorkerSlot, state?: string) => {
    const env: Record<string, string> = { [WORKER_SKIPS_DEMO]: "1", [WORKER_INDEX]: String(slot.index), [TLS_TICKET_KEYS_ENV]: ticketKeys };
    if (state !== undefined) env[WORKER_STATE] = state;
    slot.worker = cluster.fork(env);
  };
  // The buckets of the in-memory rate limits, shared by every worker (and kept across reloads).
  const { PrimaryRateLimits } = await import("../middleware/rate-limit/cluster.js");
  const rateLimits = new PrimaryRateLimits(cluster);
  // Listening to the workers from the start: one that announces itself before an admin section is configured is still known.
  const { ClusterAdmin } = await import("../admin/cluster/primary.js");
  const admin = new PrimaryAdmin(new ClusterAdmin(slots, log, (w) => rateLimits.writeMetrics(w)), log);
  const exitWhenNoWorkers = () => {
    if (Object.keys(cluster.workers ?? {}).length > 0) return;
    log.info("stopped");
    void Promise.all([admin.close(), demo?.close()]).then(() => process.exit(0));
  };
  cluster.on("exit", (worker, code, signal) => {
    const slot = slots.find((s) => s.worker === worker);
    if (slot !== undefined) slot.worker = undefined;
    if (stopping) return exitWhenNoWorkers();
    if (slot === undefined) return;
    log.error({ worker: slot.index, pid: worker.process.pid, code, signal, restartInMs: backoffMs }, "worker died; restarting it");
    const timer = setTimeout(async () => {
      restarts.delete(timer);
      // The replacement takes over what the admin API changed in the others (split weights).
      const state = await admin.cluster.savedState();
      if (stopping) return;
      slot.restarts++;
      fork(slot, state);
    }, backoffMs);
    restarts.add(timer);
    backoffMs = Math.min(backoffMs * 2, 30_000);
  });
  cluster.on("listening", () => {
    backoffMs = 500;
  });
  // Before forking, as a single process binds it before serving: an admin address in use stops the start.
  try {
    await admin.sync(config.admin);
  } catch (err) {
    fail(err);
  }
  for (const slot of slots) fork(slot);
  log.info({ workers: count, config: path }, "primary started");

  const toWorkers = (signal: NodeJS.Signals) => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal);
  };
  // The workers reload themselves; the primary follows the admin section (address, tokens).
  const reload = () => {
    toWorkers("SIGHUP");
    loadConfigFile(path)
      .then((next) => admin.sync(next.admin))
      .catch((err: unknown) => log.error({ config: path, err: err instanceof Error ? err.message : String(err) }, "the primary keeps its admin listener as it was"));
  };
  process.on("SIGHUP", reload);
  if (opts.watch) watchConfig(path, reload);
  process.on("SIGUSR1", () => toWorkers("SIGUSR1"));
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

/**
 * The admin listener of a --workers primary (loaded only when `admin` is
 * configured): follows the config's admin section across reloads and answers
 * through ClusterAdmin.
 */
class PrimaryAdmin {
  private server: AdminServer | null = null;

  constructor(
    readonly cluster: ClusterAdmin,
    private readonly log: Logger,
  ) {}

  async sync(config: AdminConfig | undefined): Promise<void> {
    if (this.server !== null && (config === undefined || config.address !== this.server.config.address)) {
      await this.server.close();
      this.server = null;
    }
    if (config === undefined) return;
    if (this.server !== null) {
      this.server.update(config);
      return;
    }
    const { AdminServer } = await import("../admin/server.js");
    const server = new AdminServer(config, this.cluster.dispatch, this.log.child({ component: "admin" }));
    const a = await server.listen();
    this.server = server;
    this.log.info({ admin: `${a.address}:${a.port}` }, `admin API on http://${a.address}:${a.port} (metrics of every worker at /metrics)`);
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.cluster.close();
  }
}
