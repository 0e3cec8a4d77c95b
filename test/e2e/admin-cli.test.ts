import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { adminCall } from "../helpers/admin.js";
import { freePort, get, startBackend, type TestBackend } from "../helpers/net.js";

const ROOT = resolve(import.meta.dirname, "../..");
const TOKEN = "cli-admin-token-5e1f0c2b9a7d";
const HEADER_SECRET = "upstream-header-secret-77aa12";

describe("divisor start with the admin API", () => {
  let dir: string;
  let file: string;
  let backend: TestBackend;
  let child: ChildProcess;
  let logs = "";
  let admin: string;
  let port: number;

  const config = (service: string, extra = "") => `listeners:
  - address: 127.0.0.1:${port}
admin:
  address: 127.0.0.1:${admin.split(":").at(-1)}
  tokens:
    - { name: ops, token: "\${ADMIN_TOKEN}" }
services:
  ${service}:
    backends: [${backend.address}]
middlewares:
  sign:
    type: headers
    request:
      set: { authorization: "Bearer ${HEADER_SECRET}" }
routers:
  all: { service: ${service}, middlewares: [sign] }
${extra}`;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-admin-cli-"));
    file = join(dir, "divisor.yaml");
    backend = await startBackend();
    port = await freePort();
    admin = `http://127.0.0.1:${await freePort()}`;
    writeFileSync(file, config("one"));
    child = spawn(process.execPath, ["--import", "tsx", join(ROOT, "src/cli/main.ts"), "start", "-c", file], {
      cwd: ROOT,
      env: { ...process.env, ADMIN_TOKEN: TOKEN },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout!.on("data", (d) => {
      logs += d;
    });
    child.stderr!.on("data", (d) => {
      logs += d;
    });
    await new Promise<void>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`divisor start did not come up:\n${logs}`)), 15_000);
      child.stdout!.on("data", () => {
        if (logs.includes("gateway started")) {
          clearTimeout(timer);
          resolvePromise();
        }
      });
      child.once("exit", (code) => reject(new Error(`divisor start exited with ${code}:\n${logs}`)));
    });
  });

  after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("POST /api/reload re-reads the file, and refuses a broken one with its located problems", async () => {
    writeFileSync(file, config("two"));
    const res = await adminCall(admin, "POST", "/api/reload", { token: TOKEN });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual((res.body as { changes: { services: unknown } }).changes.services, { added: ["two"], removed: ["one"], changed: [] });
    assert.equal((await get(`http://127.0.0.1:${port}/`)).status, 200);

    writeFileSync(file, config("two", "admin_typo: true\n"));
    const refused = await adminCall(admin, "POST", "/api/reload", { token: TOKEN });
    assert.equal(refused.status, 422);
    const issue = (refused.body as { error: { issues: { file: string; line: number; path: string }[] } }).error.issues[0]!;
    assert.deepEqual([issue.file, issue.line, issue.path], [file, 17, "admin_typo"]);
  });

  test("the token read from the environment works and is redacted in /api/config", async () => {
    assert.equal((await adminCall(admin, "GET", "/api/config", { token: "wrong-token-0123456789" })).status, 401);
    const res = await adminCall(admin, "GET", "/api/config", { token: TOKEN });
    assert.equal(res.status, 200);
    assert.ok(!res.text.includes(TOKEN));
    assert.ok(!res.text.includes(HEADER_SECRET));
  });

  test("no log line shows a secret, through start, admin calls, reloads and stop", async () => {
    process.kill(child.pid!, "SIGHUP"); // the broken file: a refused reload is logged
    await new Promise((r) => setTimeout(r, 500));
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
    assert.match(logs, /reload refused/);
    assert.match(logs, /"msg":"stopped"/);
    assert.ok(!logs.includes(TOKEN), "the admin token is never logged");
    assert.ok(!logs.includes(HEADER_SECRET), "the header secret is never logged");
  });
});
