import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { defaultConfigOnFreePorts } from "./default-config.js";
import { freePort, get, startBackend, type TestBackend } from "../helpers/net.js";
import { exited, outputOf, until } from "../helpers/process.js";

const ROOT = resolve(import.meta.dirname, "../..");
const CLI = ["--import", "tsx", join(ROOT, "src/cli/main.ts")];

let dir: string;
let backend: TestBackend;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "divisor-workers-"));
  // Slow enough that concurrent requests hold several upstream connections at once.
  backend = await startBackend((_req, res) => setTimeout(() => res.end("ok"), 5));
});
after(async () => {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Pids of the worker processes that logged "gateway started". */
function workerPids(logs: string): number[] {
  return [...logs.matchAll(/"pid":(\d+)[^\n]*"msg":"gateway started"/g)].map((m) => Number(m[1]));
}

/** Pids holding an established TCP connection to the backend's port (from ss). */
function pidsConnectedTo(port: number): Set<number> {
  const out = execFileSync("ss", ["-tnpH", "state", "established", "dport", `= :${port}`], { encoding: "utf8" });
  return new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}

test("--workers 2 runs two gateway processes sharing the listener; SIGHUP and divisor reload reach both; a dead worker is restarted; SIGTERM drains them", async () => {
  const port = await freePort();
  const file = join(dir, "workers.yaml");
  const pidFile = join(dir, "divisor.pid");
  writeFileSync(file, `listeners: [{ address: "127.0.0.1:${port}" }]\nservices: { app: { backends: ["${backend.address}"] } }\nrouters: { all: { service: app } }\n`);
  const child = spawn(process.execPath, [...CLI, "start", "-c", file, "--workers", "2", "--pid-file", pidFile], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const logs = outputOf(child);
  try {
    await until(() => workerPids(logs()).length === 2, "two workers to start");
    const workers = workerPids(logs());
    assert.notEqual(workers[0], workers[1]);
    assert.ok(existsSync(pidFile));

    // Fresh connections are spread over the workers: both end up with upstream connections.
    const seen = new Set<number>();
    for (let round = 0; round < 20 && seen.size < 2; round++) {
      await Promise.all(Array.from({ length: 20 }, () => get(`http://127.0.0.1:${port}/`, { agent: false })));
      const connected = new Promise<void>((r) => {
        // Hold a few requests open while we look.
        const agent = new http.Agent({ keepAlive: true });
        Promise.all(Array.from({ length: 10 }, () => get(`http://127.0.0.1:${port}/`, { agent }))).then(() => {
          agent.destroy();
          r();
        });
      });
      for (const pid of pidsConnectedTo(backend.port)) if (workers.includes(pid)) seen.add(pid);
      await connected;
    }
    assert.equal(seen.size, 2, "both workers proxied requests");

    child.kill("SIGHUP");
    await until(() => (logs().match(/configuration reloaded/g) ?? []).length === 2, "both workers to reload");
    const reload = await new Promise<{ code: number; out: string }>((r) =>
      execFile(process.execPath, [...CLI, "reload", "--pid-file", pidFile], { cwd: ROOT }, (err, stdout) => r({ code: err ? 1 : 0, out: stdout })),
    );
    assert.equal(reload.code, 0);
    await until(() => (logs().match(/configuration reloaded/g) ?? []).length === 4, "divisor reload to reach both workers");

    process.kill(workers[0]!, "SIGKILL");
    await until(() => workerPids(logs()).length === 3, "the dead worker to be replaced");
    assert.match(logs(), /worker died; restarting it/);
    assert.equal((await get(`http://127.0.0.1:${port}/`)).status, 200);
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited(child), 0);
  assert.ok(!existsSync(pidFile), "the pid file was left behind");
});

test("divisor reload fails clearly without a running gateway, and --workers refuses an invalid config before forking", async () => {
  const missing = await new Promise<{ code: number; err: string }>((r) =>
    execFile(process.execPath, [...CLI, "reload", "--pid-file", join(dir, "none.pid")], { cwd: ROOT }, (err, _out, stderr) => r({ code: err ? 1 : 0, err: stderr })),
  );
  assert.equal(missing.code, 1);
  assert.match(missing.err, /cannot read the pid file/);

  // A pid file left by a process that has exited.
  const stale = join(dir, "stale.pid");
  const gone = spawn(process.execPath, ["-e", ""]);
  await exited(gone);
  writeFileSync(stale, `${gone.pid}\n`);
  const staleRun = await new Promise<{ code: number; err: string }>((r) =>
    execFile(process.execPath, [...CLI, "reload", "--pid-file", stale], { cwd: ROOT }, (err, _out, stderr) => r({ code: err ? 1 : 0, err: stderr })),
  );
  assert.equal(staleRun.code, 1);
  assert.match(staleRun.err, /stale pid file/);

  const bad = join(dir, "bad.yaml");
  writeFileSync(bad, "listeners: []\n");
  const child = spawn(process.execPath, [...CLI, "start", "-c", bad, "--workers", "2"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const logs = outputOf(child);
  assert.equal(await exited(child), 1);
  assert.doesNotMatch(logs(), /primary started/);
});

test("the built divisor command runs --workers 2 with its launcher as the worker entry, and the demo backends once, in the primary", async () => {
  const bin = join(ROOT, "dist/cli/divisor.cjs");
  assert.ok(existsSync(bin), "dist/cli/divisor.cjs is missing: run npm run build first (scripts/test.sh does)");
  const { file, ports } = await defaultConfigOnFreePorts(dir, "built-workers.yaml");
  const child = spawn(bin, ["start", "-c", file, "--workers", "2"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const logs = outputOf(child);
  try {
    await until(() => workerPids(logs()).length === 2, "two workers to start");
    const backends = new Set<string>();
    for (let i = 0; i < 3; i++) backends.add(JSON.parse((await get(`http://127.0.0.1:${ports[0]}/`)).body).backend);
    assert.equal(backends.size, 3);
    assert.doesNotMatch(logs(), /EADDRINUSE/);
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited(child), 0);
});

test("SIGTERM while every worker is dead and waiting out its restart back-off exits 0 without starting new workers", { timeout: 30_000 }, async () => {
  const port = await freePort();
  const file = join(dir, "dead.yaml");
  writeFileSync(file, `listeners: [{ address: "127.0.0.1:${port}" }]\nservices: { app: { backends: ["${backend.address}"] } }\nrouters: { all: { service: app } }\n`);
  const child = spawn(process.execPath, [...CLI, "start", "-c", file, "--workers", "2"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const logs = outputOf(child);
  try {
    await until(() => workerPids(logs()).length === 2, "two workers to start");
    for (const pid of workerPids(logs())) process.kill(pid, "SIGKILL");
    await until(() => (logs().match(/worker died; restarting it/g) ?? []).length === 2, "both deaths to be seen");
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited(child), 0);
  assert.equal(workerPids(logs()).length, 2, "a worker was restarted during shutdown");
});
