import assert from "node:assert/strict";
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { defaultConfigOnFreePorts } from "./default-config.js";
import { get } from "../helpers/net.js";

const ROOT = resolve(import.meta.dirname, "../..");
// `node --import tsx` (not the tsx CLI, which runs a child process and does not pass on SIGHUP).
const CLI = ["--import", "tsx", join(ROOT, "src/cli/main.ts")];

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, [...CLI, ...args], { cwd: ROOT }, (err, stdout, stderr) => {
      resolvePromise({ code: err === null ? 0 : ((err as { code?: number }).code ?? 1), stdout, stderr });
    });
  });
}

/** Start `divisor start` and resolve once it logs that it listens. */
function startCli(args: string[]): Promise<{ child: ChildProcess; logs: () => string }> {
  const child = spawn(process.execPath, [...CLI, "start", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    out += d;
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`divisor start did not come up:\n${out}`)), 15_000);
    const check = () => {
      if (out.includes("gateway started")) {
        clearTimeout(timer);
        resolvePromise({ child, logs: () => out });
      }
    };
    child.stdout!.on("data", check);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`divisor start exited with ${code}:\n${out}`));
    });
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => child.once("exit", (code) => r(code)));
}

describe("divisor CLI", () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "divisor-cli-"));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("--help lists every command and each command has its own --help", async () => {
    const top = await run(["--help"]);
    assert.equal(top.code, 0);
    for (const cmd of ["start", "reload", "validate", "schema", "routes", "explain"]) {
      assert.match(top.stdout, new RegExp(`\\b${cmd}\\b`));
      const sub = await run([cmd, "--help"]);
      assert.equal(sub.code, 0, `${cmd} --help failed: ${sub.stderr}`);
      assert.match(sub.stdout, /Usage: divisor/);
    }
  });

  test("--version prints the package version", async () => {
    const res = await run(["--version"]);
    assert.equal(res.code, 0);
    assert.equal(res.stdout.trim(), JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
  });

  test("validate accepts the bundled default config", async () => {
    const res = await run(["validate", "-c", join(ROOT, "defaults/divisor.yaml")]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /valid/);
  });

  test("validate rejects a bad config with file:line:column and exits 1", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "listeners:\n  - address: 127.0.0.1:0\nservices:\n  api:\n    backends: [127.0.0.1:1]\n    balancer: { algorithm: round-robbin }\n");
    const res = await run(["validate", "-c", file]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, new RegExp(`${file.replaceAll("/", "\\/")}:6:\\d+`));
    assert.match(res.stderr, /round-robin/);
  });

  test("an unknown command or option is an error with a hint", async () => {
    const res = await run(["strat"]);
    assert.notEqual(res.code, 0);
    assert.match(res.stderr, /start/);
  });

  test("start refuses to start on an invalid config", async () => {
    const file = join(dir, "invalid.yaml");
    writeFileSync(file, "listeners: []\n");
    const child = spawn(process.execPath, [...CLI, "start", "-c", file], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    assert.equal(await exited(child), 1);
    assert.match(err, /listeners/);
  });

  test("start serves the default config's demo backends, spreads requests, counts them on the admin API, reloads on SIGHUP and drains on SIGTERM", async () => {
    const { file, ports } = await defaultConfigOnFreePorts(dir, "default-copy.yaml");
    const text = readFileSync(file, "utf8");
    const { child, logs } = await startCli(["-c", file]);
    try {
      const url = `http://127.0.0.1:${ports[0]}`;
      const seen: string[] = [];
      for (let i = 0; i < 6; i++) seen.push(JSON.parse((await get(`${url}/`)).body).backend);
      assert.deepEqual([...seen].sort(), ["demo-1", "demo-1", "demo-2", "demo-2", "demo-3", "demo-3"]);
      const weighted: string[] = [];
      for (let i = 0; i < 7; i++) weighted.push(JSON.parse((await get(`${url}/weighted/x`)).body).backend);
      assert.equal(weighted.filter((b) => b === "demo-1").length, 5);
      const metrics = (await get(`http://127.0.0.1:${ports[4]}/metrics`)).body;
      assert.match(metrics, /^divisor_http_requests_total\{tenant="",router="all",service="demo",backend="127\.0\.0\.1:\d+",method="GET",status_class="2xx"\} 2$/m);
      assert.equal((await get(`http://127.0.0.1:${ports[4]}/readyz`)).status, 200);

      // Reload: route everything to the weighted service.
      writeFileSync(file, text.replace("  all:\n    service: demo", "  all:\n    service: demo-weighted"));
      child.kill("SIGHUP");
      const deadline = Date.now() + 5000;
      while (!logs().includes("configuration reloaded") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.match(logs(), /configuration reloaded/);
      const after: string[] = [];
      for (let i = 0; i < 7; i++) after.push(JSON.parse((await get(`${url}/`)).body).backend);
      assert.equal(after.filter((b) => b === "demo-1").length, 5);
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited(child), 0);
  });

  test("routes prints the router table in precedence order", async () => {
    const res = await run(["routes", "-c", join(ROOT, "defaults/divisor.yaml")]);
    assert.equal(res.code, 0, res.stderr);
    assert.ok(res.stdout.indexOf("weighted") < res.stdout.indexOf("all"), res.stdout);
    assert.match(res.stdout, /demo-weighted/);
  });

  test("explain names the router, middlewares and backend, and why the others did not match", async () => {
    const res = await run(["explain", "-c", join(ROOT, "defaults/divisor.yaml"), "GET", "http://127.0.0.1:8080/weighted/a"]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /router: +weighted/);
    assert.match(res.stdout, /middlewares: strip-weighted/);
    assert.match(res.stdout, /backend: 127\.0\.0\.1:900[123]/);
    const other = await run(["explain", "-c", join(ROOT, "defaults/divisor.yaml"), "GET", "http://127.0.0.1:8080/other"]);
    assert.match(other.stdout, /router: +all/);
    assert.match(other.stdout, /weighted: .*path/i);
  });

  test("the built divisor command (bundle, code cache, Node flags) validates and serves the default config", async () => {
    const bin = join(ROOT, "dist/cli/divisor.cjs");
    assert.ok(existsSync(bin), "dist/cli/divisor.cjs is missing: run npm run build first (scripts/test.sh does)");
    const version = await new Promise<string>((resolvePromise, reject) =>
      execFile(bin, ["--version"], (err, stdout) => (err ? reject(err) : resolvePromise(stdout.trim()))),
    );
    assert.equal(version, JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version);
    const { file, ports } = await defaultConfigOnFreePorts(dir, "built.yaml");
    const child = spawn(bin, ["start", "-c", file], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    try {
      const deadline = Date.now() + 10_000;
      while (!out.includes("gateway started") && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
      assert.match(out, /gateway started/);
      const backends = new Set<string>();
      for (let i = 0; i < 3; i++) backends.add(JSON.parse((await get(`http://127.0.0.1:${ports[0]}/`)).body).backend);
      assert.equal(backends.size, 3);
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited(child), 0);
  });

  test("schema prints a JSON Schema", async () => {
    const res = await run(["schema"]);
    assert.equal(res.code, 0);
    const schema = JSON.parse(res.stdout);
    assert.ok(schema.properties.listeners);
  });
});
