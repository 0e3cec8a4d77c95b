/**
 * The config's `plugins:` through the built `divisor` command: `validate` imports
 * the plugins and checks their options without running init; `start --workers 2`
 * loads them in every worker, and SIGHUP re-imports a changed plugin file.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { EXAMPLE_PLUGIN_PACKAGE, installExamplePlugin } from "../../bench/proxy/plugin-package.js";
import { assertBuilt, BIN, ROOT, runBuilt } from "../helpers/cli.js";
import { freePort, get, startBackend, type TestBackend } from "../helpers/net.js";
import { exited, outputOf, until } from "../helpers/process.js";

/** A TypeScript plugin that tags responses and appends "<event> <pid>" lines to $PLUGIN_MARKS. */
const tsPlugin = (tag: string): string => `import { appendFileSync } from "node:fs";
const mark = (event: string): void => appendFileSync(process.env.PLUGIN_MARKS as string, \`\${event} \${process.pid}\\n\`);
export default {
  name: "tag",
  init(): void { mark("init-${tag}"); },
  close(): void { mark("close-${tag}"); },
  create: () => ({ onResponse(_ex: unknown, head: { headers: { set(n: string, v: string): void } }): void { head.headers.set("x-tag", "${tag}"); } }),
};
`;

describe("divisor with plugins: in its config file", () => {
  let dir: string;
  let backend: TestBackend;
  before(async () => {
    assertBuilt();
    dir = mkdtempSync(join(tmpdir(), "divisor-cli-plugins-"));
    installExamplePlugin(dir, ROOT);
    writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
    backend = await startBackend();
  });
  after(async () => {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const yaml = (port: number, rewriteOptions = "{}"): string => `listeners: [{ address: "127.0.0.1:${port}" }]
plugins:
  - { name: tag, from: ./tag.ts }
  - { name: rewrite, from: ${EXAMPLE_PLUGIN_PACKAGE} }
services:
  app: { backends: ["${backend.address}"] }
middlewares:
  tag: { type: plugin, plugin: tag }
  rw: { type: plugin, plugin: rewrite, options: ${rewriteOptions} }
routers:
  all: { service: app, middlewares: [tag, rw] }
`;

  test("validate and routes import the plugins and check their options without running init", async () => {
    const marks = join(dir, "validate-marks");
    writeFileSync(join(dir, "tag.ts"), tsPlugin("one"));
    writeFileSync(join(dir, "ok.yaml"), yaml(8080));
    const ok = await runBuilt(["validate", "-c", join(dir, "ok.yaml")], { env: { ...process.env, PLUGIN_MARKS: marks } });
    assert.equal(ok.code, 0, `valid: ${ok.err}`);
    assert.match(ok.out, /2 plugin\(s\) imported and their options checked \(init not run\)/, "says what it checked");
    assert.ok(!existsSync(marks), "no init ran");

    const routes = await runBuilt(["routes", "-c", join(dir, "ok.yaml")], { env: { ...process.env, PLUGIN_MARKS: marks } });
    assert.equal(routes.code, 0, `routes runs with plugin middlewares: ${routes.err}`);
    assert.match(routes.out, /via tag > rw/, `the router's plugin middlewares are listed: ${routes.out}`);
    assert.ok(!existsSync(marks), "routes ran no init either");

    writeFileSync(join(dir, "bad.yaml"), yaml(8080, '{ servedBy: "" }'));
    const bad = await runBuilt(["validate", "-c", join(dir, "bad.yaml")], { env: { ...process.env, PLUGIN_MARKS: marks } });
    assert.equal(bad.code, 1, "bad options exit 1");
    assert.match(bad.err, /middlewares\.rw\.options\.servedBy/, `names the option: ${bad.err}`);

    writeFileSync(join(dir, "broken.mjs"), "export const helper = 1;\n");
    writeFileSync(join(dir, "broken.yaml"), yaml(8080).replace("./tag.ts", "./broken.mjs"));
    const broken = await runBuilt(["validate", "-c", join(dir, "broken.yaml")]);
    assert.equal(broken.code, 1, "a module without a plugin exits 1");
    assert.match(broken.err, /exports no plugin \(found helper: number\)/, `says what it found: ${broken.err}`);
  });

  test("start --workers 2 loads the plugins in each worker, re-imports a changed file on SIGHUP, and closes them on SIGTERM", async () => {
    const marks = join(dir, "start-marks");
    writeFileSync(join(dir, "tag.ts"), tsPlugin("one"));
    const port = await freePort();
    writeFileSync(join(dir, "divisor.yaml"), yaml(port));
    const child = spawn(BIN, ["start", "-c", join(dir, "divisor.yaml"), "--workers", "2"], { cwd: dir, env: { ...process.env, PLUGIN_MARKS: marks }, stdio: ["ignore", "pipe", "pipe"] });
    const logs = outputOf(child);
    try {
      const lines = (): string[] => (existsSync(marks) ? readFileSync(marks, "utf8").trim().split("\n") : []);
      await until(() => logs().split('"gateway started"').length - 1 === 2, `both workers started (${logs()})`, 30_000);
      assert.equal(lines().filter((l) => l.startsWith("init-one")).length, 2, "each worker ran init before it started");
      assert.equal(new Set(lines().map((l) => l.split(" ")[1])).size, 2, "two processes ran init");
      const res = await get(`http://127.0.0.1:${port}/`, { headers: { host: "acme.example.com" } });
      assert.equal(res.status, 200, `status: ${res.body}`);
      assert.equal(res.headers["x-tag"], "one", "the TypeScript file's plugin ran");
      assert.equal(res.headers["x-served-by"], "divisor", "the package's plugin ran");

      writeFileSync(join(dir, "tag.ts"), tsPlugin("two"));
      child.kill("SIGHUP");
      await until(() => lines().filter((l) => l.startsWith("init-two")).length === 2 && lines().filter((l) => l.startsWith("close-one")).length === 2, `re-import in both workers (${logs()})`, 30_000);
      for (let i = 0; i < 4; i++) assert.equal((await get(`http://127.0.0.1:${port}/`, { agent: false })).headers["x-tag"], "two", "every worker serves the new file");

      child.kill("SIGTERM");
      assert.equal(await exited(child), 0, `clean exit: ${logs()}`);
      assert.equal(lines().filter((l) => l.startsWith("close-two")).length, 2, "each worker closed its plugin on shutdown");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });
});
