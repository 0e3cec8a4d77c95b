import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";

const ROOT = resolve(import.meta.dirname, "../..");
const BIN = join(ROOT, "dist/cli/divisor.cjs");

/**
 * Start the built CLI with a require hook that reports every @opentelemetry package
 * the bundle loads; resolve with what it reported once the gateway is up.
 */
function loadedPackages(dir: string, config: string): Promise<string[]> {
  const file = join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(file, config);
  const child = spawn(process.execPath, ["-r", join(dir, "hook.cjs"), BIN, "start", "-c", file], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout!.on("data", (d) => {
    out += d;
  });
  child.stderr!.on("data", (d) => {
    err += d;
  });
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`divisor start did not come up:\n${out}${err}`));
    }, 15_000);
    child.stdout!.on("data", () => {
      if (!out.includes("gateway started")) return;
      clearTimeout(timer);
      child.once("exit", () => resolvePromise([...new Set(err.split("\n").filter((l) => l.startsWith("LOADED ")).map((l) => l.slice(7)))]));
      child.kill("SIGTERM");
    });
  });
}

describe("the bundled CLI and the OpenTelemetry SDK", { skip: existsSync(BIN) ? false : "dist/cli/divisor.cjs is not built (npm run build)" }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "divisor-tracing-lazy-"));
    writeFileSync(
      join(dir, "hook.cjs"),
      `const M = require("node:module"); const load = M._load;
M._load = function (request, ...rest) { if (request.startsWith("@opentelemetry/")) process.stderr.write("LOADED " + request + "\\n"); return load.call(this, request, ...rest); };`,
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const config = 'listeners: [{ address: "127.0.0.1:0" }]\nservices: { app: { backends: ["127.0.0.1:9"] } }\nrouters: { all: { service: app } }\n';

  test("a gateway without tracing loads none of it", async () => {
    assert.deepEqual(await loadedPackages(dir, config), []);
  });

  test("a gateway with tracing requires it from node_modules at start", async () => {
    const loaded = await loadedPackages(dir, `${config}tracing: { endpoint: "http://127.0.0.1:9/v1/traces" }\n`);
    assert.ok(loaded.includes("@opentelemetry/sdk-trace-base"), loaded.join(", "));
    assert.ok(loaded.includes("@opentelemetry/exporter-trace-otlp-proto"), loaded.join(", "));
  });
});
