import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { freePort, get, startBackend, type TestBackend } from "../helpers/net.js";
import { finished, outputOf, until } from "../helpers/process.js";

const ROOT = resolve(import.meta.dirname, "../..");
const CLI = [process.execPath, "--import", "tsx", join(ROOT, "src/cli/main.ts")];

/** Stop a `divisor start` by the pid it wrote (under `script` the child is not our direct child). */
function stopByPidFile(pidFile: string): void {
  if (existsSync(pidFile)) process.kill(Number(readFileSync(pidFile, "utf8")), "SIGTERM");
}

describe("divisor start's logs", () => {
  let dir: string;
  let backend: TestBackend;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-cli-logs-"));
    backend = await startBackend();
  });
  after(async () => {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function config(name: string, logging: string): Promise<{ file: string; port: number }> {
    const port = await freePort();
    const file = join(dir, name);
    writeFileSync(
      file,
      [`listeners: [{ address: "127.0.0.1:${port}" }]`, `services: { app: { backends: ["${backend.address}"] } }`, "routers: { all: { service: app } }", logging, ""].join("\n"),
    );
    return { file, port };
  }

  test("are readable text when stdout is a terminal (format auto), with the lifecycle lines in order", async () => {
    const { file } = await config("tty.yaml", "logging: { format: auto }");
    const pidFile = join(dir, "tty.pid");
    // script(1) (util-linux) runs the command on a pseudo-terminal.
    const command = [...CLI, "start", "-c", file, "--pid-file", pidFile].map((a) => `'${a}'`).join(" ");
    const child = spawn("script", ["-qec", command, "/dev/null"], { stdio: ["ignore", "pipe", "pipe"] });
    const out = outputOf(child);
    try {
      await until(() => out().includes("gateway started"), "gateway started");
    } finally {
      stopByPidFile(pidFile);
    }
    await finished(child);
    // Without the colours pino-pretty adds.
    const text = out().replace(/\u001b\[[0-9;]*m/g, "");
    assert.match(text, /INFO.*listening on http:\/\/127\.0\.0\.1:\d+/);
    assert.ok(!text.includes('{"level"'), `no JSON on a terminal:\n${text}`);
    const order = ["listening on", "gateway started", "stopping: finishing in-flight requests", "stopped"].map((m) => text.indexOf(m));
    assert.ok(order.every((at, i) => at >= 0 && (i === 0 || at > order[i - 1]!)), `lifecycle lines in order:\n${text}`);
  });

  test("are one JSON object a line when stdout is not a terminal, and so is the access log on stdout", async () => {
    const { file, port } = await config("pipe.yaml", "logging: { access: { fields: [status, path] } }");
    const child = spawn(CLI[0]!, [...CLI.slice(1), "start", "-c", file], { stdio: ["ignore", "pipe", "pipe"] });
    const out = outputOf(child);
    try {
      await until(() => out().includes("gateway started"), "gateway started");
      assert.equal((await get(`http://127.0.0.1:${port}/hello`)).status, 200);
      await until(() => out().includes('"path":"/hello"'), "the access line");
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await finished(child), 0);
    const lines = out()
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.some((l) => l.msg === "gateway started" && l.level === 30));
    assert.deepEqual(
      lines.filter((l) => l.path !== undefined),
      [{ status: 200, path: "/hello" }],
    );
  });

  test("SIGUSR1 reopens the access log file after logrotate renamed it", async () => {
    const accessFile = join(dir, "rotate", "access.log");
    const { file, port } = await config("rotate.yaml", `logging: { access: { destination: "${accessFile}", fields: [path] } }`);
    const child = spawn(CLI[0]!, [...CLI.slice(1), "start", "-c", file], { stdio: ["ignore", "pipe", "pipe"] });
    const out = outputOf(child);
    const read = (f: string) => (existsSync(f) ? readFileSync(f, "utf8") : "");
    try {
      await until(() => out().includes("gateway started"), "gateway started");
      await get(`http://127.0.0.1:${port}/one`);
      await until(() => read(accessFile).includes("/one"), "the first line");
      renameSync(accessFile, `${accessFile}.1`);
      child.kill("SIGUSR1");
      await new Promise((r) => setTimeout(r, 200));
      await get(`http://127.0.0.1:${port}/two`);
      await until(() => read(accessFile).includes("/two"), "the line after SIGUSR1 in a new file");
      assert.equal(read(accessFile), '{"path":"/two"}\n');
      assert.equal(read(`${accessFile}.1`), '{"path":"/one"}\n');
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await finished(child), 0, out());
  });
});
