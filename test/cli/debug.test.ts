import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { exited, runBuilt, startBuilt, until } from "../helpers/cli.js";
import { freePort, get, startBackend, type TestBackend } from "../helpers/net.js";

const TOKEN = "debug-cli-token-0123456789";

describe("divisor debug", () => {
  let dir: string;
  let backend: TestBackend;
  let gateway: ChildProcess;
  let config: string;
  let adminPort: number;
  let port: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-debug-"));
    backend = await startBackend();
    [port, adminPort] = await Promise.all([freePort(), freePort()]);
    config = join(dir, "divisor.yaml");
    writeFileSync(
      config,
      `listeners: [{ address: "127.0.0.1:${port}" }]\n` +
        `admin: { address: "127.0.0.1:${adminPort}", tokens: [{ name: ops, token: "\${ADMIN_TOKEN}" }] }\n` +
        `services: { app: { backends: ["${backend.address}"] } }\nrouters: { all: { service: app } }\n`,
    );
    const started = startBuilt(["-c", config], { ...process.env, ADMIN_TOKEN: TOKEN });
    gateway = started.child;
    await until(() => started.logs().includes("gateway started"), "the gateway to start");
  });

  after(async () => {
    gateway.kill("SIGTERM");
    await exited(gateway);
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const env = (extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, ADMIN_TOKEN: TOKEN, ...extra });

  test("debug profile writes a CPU profile taken through the admin address of -c FILE, says how to open it, and never prints the token", async () => {
    const out = join(dir, "gateway.cpuprofile");
    const run = await runBuilt(["debug", "profile", "-c", config, "--token", TOKEN, "--seconds", "1", "-o", out], { env: env() });
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, new RegExp(`wrote the CPU profile \\(\\d+ bytes\\) to ${out}`));
    assert.match(run.out, /Chrome DevTools .*speedscope/);
    assert.doesNotMatch(run.out + run.err, new RegExp(TOKEN));
    const profile = JSON.parse(readFileSync(out, "utf8"));
    assert.ok(Array.isArray(profile.nodes) && Array.isArray(profile.samples) && profile.endTime > profile.startTime);
  });

  test("debug heap takes the token from DIVISOR_ADMIN_TOKEN and writes a timestamped .heapsnapshot in the current directory", async () => {
    const cwd = mkdtempSync(join(dir, "heap-"));
    const run = await runBuilt(["debug", "heap", "--admin", `http://127.0.0.1:${adminPort}`], { cwd, env: env({ DIVISOR_ADMIN_TOKEN: TOKEN }) });
    assert.equal(run.code, 0, run.err);
    const [file, ...others] = readdirSync(cwd);
    assert.equal(others.length, 0, "one file, no leftover .part");
    assert.match(file!, /^divisor-\d+-\d{8}T\d{6}Z\.heapsnapshot$/);
    const snapshot = JSON.parse(readFileSync(join(cwd, file!), "utf8"));
    assert.ok(Array.isArray(snapshot.snapshot.meta.node_fields) && snapshot.nodes.length > 0);
    assert.match(run.out, /Memory tab/);
  });

  test("debug allocations writes a .heapprofile", async () => {
    const out = join(dir, "gateway.heapprofile");
    const run = await runBuilt(["debug", "allocations", "-c", config, "--seconds", "1", "-o", out], { env: env({ DIVISOR_ADMIN_TOKEN: TOKEN }) });
    assert.equal(run.code, 0, run.err);
    assert.ok(JSON.parse(readFileSync(out, "utf8")).head.callFrame);
  });

  test("every failure is one clear line and exit code 1: unreachable admin, no token, wrong token, bad seconds, a profile already running", async () => {
    const noEnv = env({ DIVISOR_ADMIN_TOKEN: undefined });
    const closed = await freePort();
    const unreachable = await runBuilt(["debug", "profile", "--admin", `http://127.0.0.1:${closed}`, "--seconds", "1"], { env: noEnv });
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.err, new RegExp(`^divisor: cannot reach the admin API at http://127.0.0.1:${closed} \\(ECONNREFUSED\\)`));

    const admin = `http://127.0.0.1:${adminPort}`;
    const noToken = await runBuilt(["debug", "heap", "--admin", admin], { env: noEnv });
    assert.equal(noToken.code, 1);
    assert.match(noToken.err, /needs a token \(401\): give --token or set DIVISOR_ADMIN_TOKEN/);

    const wrong = await runBuilt(["debug", "heap", "--admin", admin, "--token", "not-the-token-at-all"], { env: noEnv });
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /refused the token \(401\): the bearer token is not valid/);
    assert.doesNotMatch(wrong.err, /not-the-token-at-all/);

    const bad = await runBuilt(["debug", "profile", "--admin", admin, "--seconds", "500"], { env: env({ DIVISOR_ADMIN_TOKEN: TOKEN }) });
    assert.equal(bad.code, 1);
    assert.match(bad.err, /answered 400: seconds must be a whole number from 1 to 300/);

    const running = http.get(`${admin}/debug/pprof/profile?seconds=30`, { headers: { authorization: `Bearer ${TOKEN}` } });
    running.on("error", () => {});
    await new Promise((r) => setTimeout(r, 300));
    const busy = await runBuilt(["debug", "allocations", "--admin", admin, "--seconds", "1"], { env: env({ DIVISOR_ADMIN_TOKEN: TOKEN }) });
    running.destroy();
    assert.equal(busy.code, 1);
    assert.match(busy.err, /a CPU profile is already running in this process; one profile at a time.*\(409\)/);
    assert.equal((await get(`http://127.0.0.1:${port}/`)).status, 200, "the gateway still serves");
  });

  test("debug and each of its commands have --help", async () => {
    const top = await runBuilt(["debug", "--help"]);
    assert.equal(top.code, 0);
    for (const sub of ["profile", "heap", "allocations"]) assert.match(top.out, new RegExp(`\\n  ${sub} `));
    assert.match(top.out, /DIVISOR_ADMIN_TOKEN/);
    for (const sub of ["profile", "heap", "allocations"]) {
      const help = await runBuilt(["debug", sub, "--help"]);
      assert.equal(help.code, 0);
      assert.match(help.out, /--admin <url>/);
      assert.match(help.out, /-o, --output <file>/);
    }
  });
});
