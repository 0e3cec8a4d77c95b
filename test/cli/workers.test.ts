import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { defaultConfigOnFreePorts } from "./default-config.js";
import { runBuilt, startBuilt } from "../helpers/cli.js";
import { freePort, get as getOnce, startBackend, type TestBackend } from "../helpers/net.js";
import { type ParsedFamily, parseExposition, sampleValue, samples } from "../helpers/prometheus.js";
import { exited, exitedWithin, killGroups, outputOf, ownGroup, pidsConnectedTo, until, workerPids } from "../helpers/process.js";

const ROOT = resolve(import.meta.dirname, "../..");
const CLI = ["--import", "tsx", join(ROOT, "src/cli/main.ts")];
/** Long enough for a loaded 2-core machine; a gateway that takes longer is stuck, and is killed. */
const DRAIN_MS = 20_000;
/** A GET that fails after 15 s instead of hanging the test on a worker that never answers. */
const get = (url: string, options: http.RequestOptions = {}) => getOnce(url, { timeout: 15_000, ...options });

let dir: string;
let backend: TestBackend;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "divisor-workers-"));
  // Slow enough that concurrent requests hold several upstream connections at once.
  backend = await startBackend((_req, res) => setTimeout(() => res.end("ok"), 5));
});
after(async () => {
  // Tests whose timeout fired never ran their finally: end their gateways and workers here.
  killGroups();
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});



test("--workers 2 runs two gateway processes sharing the listener; SIGHUP and divisor reload reach both; a dead worker is restarted; SIGTERM drains them", async () => {
  const port = await freePort();
  const file = join(dir, "workers.yaml");
  const pidFile = join(dir, "divisor.pid");
  writeFileSync(file, `listeners: [{ address: "127.0.0.1:${port}" }]\nservices: { app: { backends: ["${backend.address}"] } }\nrouters: { all: { service: app } }\n`);
  const child = ownGroup(spawn(process.execPath, [...CLI, "start", "-c", file, "--workers", "2", "--pid-file", pidFile], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true }));
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
  assert.equal(await exitedWithin(child, DRAIN_MS), 0);
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
  const child = ownGroup(spawn(process.execPath, [...CLI, "start", "-c", bad, "--workers", "2"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true }));
  const logs = outputOf(child);
  assert.equal(await exitedWithin(child, DRAIN_MS), 1);
  assert.doesNotMatch(logs(), /primary started/);
});

test("the built divisor command runs --workers 2 with its launcher as the worker entry, and the demo backends once, in the primary", async () => {
  const bin = join(ROOT, "dist/cli/divisor.cjs");
  assert.ok(existsSync(bin), "dist/cli/divisor.cjs is missing: run npm run build first (scripts/test.sh does)");
  const { file, ports } = await defaultConfigOnFreePorts(dir, "built-workers.yaml");
  const child = ownGroup(spawn(bin, ["start", "-c", file, "--workers", "2"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true }));
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
  assert.equal(await exitedWithin(child, DRAIN_MS), 0);
});

test("SIGTERM while every worker is dead and waiting out its restart back-off exits 0 without starting new workers", { timeout: 30_000 }, async () => {
  const port = await freePort();
  const file = join(dir, "dead.yaml");
  writeFileSync(file, `listeners: [{ address: "127.0.0.1:${port}" }]\nservices: { app: { backends: ["${backend.address}"] } }\nrouters: { all: { service: app } }\n`);
  const child = ownGroup(spawn(process.execPath, [...CLI, "start", "-c", file, "--workers", "2"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true }));
  const logs = outputOf(child);
  try {
    await until(() => workerPids(logs()).length === 2, "two workers to start");
    for (const pid of workerPids(logs())) process.kill(pid, "SIGKILL");
    await until(() => (logs().match(/worker died; restarting it/g) ?? []).length === 2, "both deaths to be seen");
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exitedWithin(child, DRAIN_MS), 0);
  assert.equal(workerPids(logs()).length, 2, "a worker was restarted during shutdown");
});

/** /readyz, asked again for up to 15 s until it says ready (workers start in parallel with the primary's listener; slowly on a loaded machine). */
async function readyz(admin: string): Promise<Awaited<ReturnType<typeof get>>> {
  let res = await get(`${admin}/readyz`);
  for (let i = 0; i < 150 && res.status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    res = await get(`${admin}/readyz`);
  }
  return res;
}

test("under --workers 2 the primary owns the admin API: /metrics counts every worker's requests exactly, /readyz waits for every worker, other routes and profiles are forwarded, a stopped worker is left out of a scrape", { timeout: 120_000 }, async () => {
  const [port, adminPort] = await Promise.all([freePort(), freePort()]);
  const file = join(dir, "admin-workers.yaml");
  writeFileSync(
    file,
    `listeners: [{ address: "127.0.0.1:${port}" }]\nadmin: { address: "127.0.0.1:${adminPort}" }\n` +
      `services: { app: { backends: ["${backend.address}"] } }\nrouters: { all: { service: app } }\n`,
  );
  const { child, logs } = startBuilt(["-c", file, "--workers", "2"], process.env, { detached: true });
  ownGroup(child);
  const admin = `http://127.0.0.1:${adminPort}`;
  const sum = (families: ParsedFamily[], name: string) => samples(families, name).reduce((n, s) => n + s.value, 0);
  try {
    await until(() => workerPids(logs()).length === 2 && logs().includes("admin API on"), "two workers and the admin API");
    assert.doesNotMatch(logs(), /EADDRINUSE/, "workers bind no admin listener");
    const ready = await readyz(admin);
    assert.equal(ready.status, 200, ready.body);
    assert.deepEqual(
      JSON.parse(ready.body).workers.map((w: { worker: number; ready: boolean }) => [w.worker, w.ready]),
      [
        [0, true],
        [1, true],
      ],
    );

    // Known traffic, on fresh connections so that both workers take some.
    const sent = 40;
    for (let i = 0; i < sent; i++) assert.equal((await get(`http://127.0.0.1:${port}/`, { agent: false })).status, 200);
    const text = parseExposition((await get(`${admin}/metrics`)).body, "text");
    assert.equal(sum(text, "divisor_http_requests_total"), sent, "the sum over the worker labels is every request sent");
    assert.deepEqual(new Set(samples(text, "divisor_http_requests_total").map((s) => s.labels.worker)), new Set(["0", "1"]));
    assert.equal(sampleValue(text, "divisor_worker_up", { worker: "0" }), 1);
    assert.equal(sampleValue(text, "divisor_worker_up", { worker: "1" }), 1);
    assert.equal(sampleValue(text, "divisor_workers"), 2);
    const open = await get(`${admin}/metrics`, { headers: { accept: "application/openmetrics-text; version=1.0.0" } });
    assert.match(String(open.headers["content-type"]), /^application\/openmetrics-text/);
    assert.equal(sum(parseExposition(open.body, "openmetrics"), "divisor_http_requests_total"), sent);

    // Forwarded routes: one worker by default or the one asked for; a slot that does not exist is a 400.
    const health = JSON.parse((await get(`${admin}/healthz`)).body);
    const pids = health.workers.map((w: { pid: number }) => w.pid);
    assert.deepEqual(health.workers.map((w: { running: boolean }) => w.running), [true, true]);
    const index = await get(`${admin}/api?worker=1`);
    assert.equal(index.status, 200);
    assert.ok(JSON.parse(index.body).endpoints.some((e: { path: string }) => e.path === "/debug/pprof/profile"));
    const noSlot = await get(`${admin}/api?worker=2`);
    assert.equal(noSlot.status, 400);
    assert.match(JSON.parse(noSlot.body).error.message, /worker must be a worker slot from 0 to 1, got "2"/);

    // A CPU profile of worker 1 through divisor debug, and a streamed heap snapshot of worker 0.
    const out = join(dir, "worker1.cpuprofile");
    const run = await runBuilt(["debug", "profile", "--admin", admin, "--worker", "1", "--seconds", "1", "-o", out]);
    assert.equal(run.code, 0, run.err);
    assert.ok(Array.isArray(JSON.parse(readFileSync(out, "utf8")).nodes));
    const heap = await get(`${admin}/debug/pprof/heap`, { timeout: 60_000 });
    assert.equal(heap.status, 200);
    assert.equal(heap.headers["transfer-encoding"], "chunked");
    assert.match(String(heap.headers["content-disposition"]), new RegExp(`divisor-${pids[0]}-`), "worker 0 took it");
    assert.ok(JSON.parse(heap.body).snapshot.meta);

    // A worker that does not answer in time is left out and counted; the scrape still answers.
    process.kill(pids[1], "SIGSTOP");
    try {
      const started = Date.now();
      const partial = parseExposition((await get(`${admin}/metrics`)).body, "text");
      // The worker answer timeout is 3 s; the slack is for a loaded machine, the point is that the scrape does not wait on the stopped worker.
      assert.ok(Date.now() - started < 9000);
      assert.equal(sampleValue(partial, "divisor_worker_up", { worker: "1" }), 0);
      assert.equal(sampleValue(partial, "divisor_worker_scrape_failures_total", { worker: "1" }), 1);
      assert.deepEqual(new Set(samples(partial, "divisor_http_requests_total").map((s) => s.labels.worker)), new Set(["0"]));
      assert.match(logs(), /"worker":1,[^\n]*left a worker out of a \/metrics scrape/);
    } finally {
      process.kill(pids[1], "SIGCONT");
    }

    // A worker that dies comes back in the same slot, counted.
    process.kill(pids[0], "SIGKILL");
    await until(() => workerPids(logs()).length === 3, "worker 0 to be replaced");
    const after = await readyz(admin);
    assert.equal(after.status, 200, after.body);
    const restarted = parseExposition((await get(`${admin}/metrics`)).body, "text");
    assert.equal(sampleValue(restarted, "divisor_worker_restarts_total", { worker: "0" }), 1);
    assert.equal(sampleValue(restarted, "divisor_worker_up", { worker: "0" }), 1);

    // SIGHUP: the workers reload, and the primary takes the admin section's new tokens.
    const token = "workers-admin-token-0123456789";
    writeFileSync(file, readFileSync(file, "utf8").replace(/admin: \{[^\n]*\}/, `admin: { address: "127.0.0.1:${adminPort}", tokens: [{ name: ops, token: "${token}" }] }`));
    child.kill("SIGHUP");
    await until(() => (logs().match(/configuration reloaded/g) ?? []).length === 2, "both workers to reload");
    let refused = await get(`${admin}/metrics`);
    for (let i = 0; i < 40 && refused.status !== 401; i++) {
      await new Promise((r) => setTimeout(r, 50));
      refused = await get(`${admin}/metrics`);
    }
    assert.equal(refused.status, 401, "the new tokens are in force in the primary");
    const authorized = await get(`${admin}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(authorized.status, 200);
    assert.equal(sum(parseExposition(authorized.body, "text"), "divisor_worker_up"), 2);
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exitedWithin(child, DRAIN_MS), 0);
});

test("--workers stops before forking, with exit code 1, when the admin address is taken", async () => {
  const taken = http.createServer();
  await new Promise<void>((r) => taken.listen(0, "127.0.0.1", () => r()));
  const adminPort = (taken.address() as { port: number }).port;
  const file = join(dir, "admin-taken.yaml");
  writeFileSync(
    file,
    `listeners: [{ address: "127.0.0.1:${await freePort()}" }]\nadmin: { address: "127.0.0.1:${adminPort}" }\n` +
      `services: { app: { backends: ["${backend.address}"] } }\nrouters: { all: { service: app } }\n`,
  );
  try {
    const { child, logs } = startBuilt(["-c", file, "--workers", "2"], process.env, { detached: true });
  ownGroup(child);
    assert.equal(await exitedWithin(child, DRAIN_MS), 1);
    assert.match(logs(), new RegExp(`EADDRINUSE[^\\n]*127.0.0.1:${adminPort}`));
    assert.equal(workerPids(logs()).length, 0, "no worker was started");
  } finally {
    taken.close();
  }
});
