/**
 * deploy/systemd/: the unit file and the logrotate rule of the VM guide
 * (docs/deploy-vm.md). No systemd runs as PID 1 here, so: `systemd-analyze verify`
 * and `systemd-analyze security --offline` judge the unit (Debian's systemd
 * package, installed by scripts/test.sh), then the unit's own command lines
 * (ExecStartPre, ExecStart, ExecReload, KillSignal) run the built gateway in a temp
 * dir standing for /opt/divisor, /etc/divisor, /run/divisor and /var/log/divisor, and
 * a real logrotate rotates its access log with the rule's postrotate signal.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parseConfigText } from "../../src/config/load.js";
import { assertBuilt, BIN, ROOT } from "../helpers/cli.js";
import { freePort, get, startBackend, type TestBackend } from "../helpers/net.js";
import { exitedWithin, outputOf, ownGroup, until } from "../helpers/process.js";
import { readyStatus } from "./readiness.js";

const UNIT = join(ROOT, "deploy/systemd/divisor.service");
const LOGROTATE = join(ROOT, "deploy/systemd/divisor.logrotate");
const MISSING = (tool: string, pkg: string) => `needs ${tool} (Debian package ${pkg}): scripts/test.sh installs it, or apt-get install ${pkg}`;

/** A unit file's directives by section; a directive given several times keeps each value in order. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let section: Map<string, string[]> | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header !== null) {
      section = new Map();
      sections.set(header[1]!, section);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(section !== undefined && eq > 0, `unit line ${JSON.stringify(line)} should be Key=value inside a [Section]`);
    const key = line.slice(0, eq);
    section.set(key, [...(section.get(key) ?? []), line.slice(eq + 1)]);
  }
  return sections;
}

const unitText = readFileSync(UNIT, "utf8");
const unit = parseUnit(unitText);
const service = unit.get("Service")!;
const one = (key: string): string => {
  const values = service.get(key);
  assert.ok(values !== undefined && values.length === 1, `[Service] should set ${key} once, got ${JSON.stringify(values)}`);
  return values[0]!;
};

/** The VM layout of the guide, under a temp dir: the paths the unit names, rewritten. */
interface Layout {
  dir: string;
  map(text: string): string;
}

function layout(): Layout {
  const dir = mkdtempSync(join(tmpdir(), "divisor-systemd-"));
  const bin = join(dir, "opt/divisor/node_modules/.bin");
  mkdirSync(bin, { recursive: true });
  // What `npm install --prefix /opt/divisor divisor` leaves: .bin/divisor, a link to the package's launcher.
  symlinkSync(BIN, join(bin, "divisor"));
  for (const d of ["etc/divisor", "run/divisor", "var/log/divisor"]) mkdirSync(join(dir, d), { recursive: true });
  return { dir, map: (text) => text.replace(/(^|[\s=])\/(opt\/divisor|etc\/divisor|run\/divisor|var\/log\/divisor)/g, (_m, lead: string, p: string) => `${lead}${dir}/${p}`) };
}

describe("the systemd unit", () => {
  test("systemd-analyze verify accepts it without a warning", () => {
    assert.ok(existsSync("/usr/bin/systemd-analyze"), MISSING("systemd-analyze", "systemd"));
    const l = layout();
    try {
      const file = join(l.dir, "divisor.service");
      writeFileSync(file, l.map(unitText));
      const r = spawnSync("systemd-analyze", ["verify", "--man=no", file], { encoding: "utf8" });
      assert.equal(r.status, 0, `systemd-analyze verify failed:\n${r.stdout}${r.stderr}`);
      assert.equal(r.stderr.trim(), "", `systemd-analyze verify should print no warning (an unknown or misspelt directive is only a warning):\n${r.stderr}`);
    } finally {
      rmSync(l.dir, { recursive: true, force: true });
    }
  });

  test("systemd-analyze security rates its sandbox OK (exposure below 2 of 10)", () => {
    const r = spawnSync("systemd-analyze", ["security", "--offline=yes", "--no-pager", UNIT], { encoding: "utf8" });
    const m = /Overall exposure level for divisor\.service: ([\d.]+) (\w+)/.exec(r.stdout);
    assert.ok(m !== null, `systemd-analyze security should rate the unit:\n${r.stdout}${r.stderr}`);
    assert.ok(Number(m[1]) < 2, `the exposure level should stay below 2.0 ("OK"), got ${m[1]} ${m[2]}:\n${r.stdout}`);
  });

  test("runs as its own user with only CAP_NET_BIND_SERVICE, and keeps the sandbox the guide promises", () => {
    const expected: Record<string, string> = {
      Type: "exec",
      User: "divisor",
      NoNewPrivileges: "yes",
      ProtectSystem: "strict",
      ProtectHome: "yes",
      PrivateTmp: "yes",
      PrivateDevices: "yes",
      CapabilityBoundingSet: "CAP_NET_BIND_SERVICE",
      AmbientCapabilities: "CAP_NET_BIND_SERVICE",
      RestrictAddressFamilies: "AF_INET AF_INET6 AF_UNIX",
      KillSignal: "SIGTERM",
      KillMode: "mixed",
      LimitNOFILE: "65536",
      LogsDirectory: "divisor",
      RuntimeDirectory: "divisor",
    };
    for (const [key, value] of Object.entries(expected)) assert.equal(one(key), value, `[Service] ${key}`);
    assert.deepEqual(service.get("SystemCallFilter"), ["@system-service", "~@privileged"], "system calls: the @system-service set, without the privileged ones");
    // V8's JIT needs memory that is written and then executed.
    assert.equal(one("MemoryDenyWriteExecute"), "no", "MemoryDenyWriteExecute must stay off for V8's JIT");
    const before = unitText.slice(Math.max(0, unitText.indexOf("MemoryDenyWriteExecute=no") - 300), unitText.indexOf("MemoryDenyWriteExecute=no"));
    assert.match(before, /V8's JIT/, "the comment above MemoryDenyWriteExecute=no should say why it is off");
    assert.equal(unit.get("Install")?.get("WantedBy")?.[0], "multi-user.target", "[Install] WantedBy=multi-user.target");
  });

  test("gives in-flight requests their grace period before systemd kills the process", () => {
    const seconds = Number(/^(\d+)s?$/.exec(one("TimeoutStopSec"))?.[1]);
    // shutdown.gracePeriod defaults to 30 s (docs/config-reference.md).
    assert.ok(seconds > 30, `TimeoutStopSec (${one("TimeoutStopSec")}) should leave more than the default shutdown.gracePeriod of 30 s`);
  });
});

describe("docs/deploy-vm.md", () => {
  test("its example configuration is one the gateway accepts", () => {
    const doc = readFileSync(join(ROOT, "docs/deploy-vm.md"), "utf8");
    const block = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((b) => b.startsWith("listeners:"));
    assert.ok(block !== undefined, "the guide should show a configuration starting with listeners:");
    const config = parseConfigText(block, "docs/deploy-vm.md example", { env: { DIVISOR_ADMIN_TOKEN: "a-token-of-at-least-16-chars" } });
    assert.equal(config.logging.access?.destination, "/var/log/divisor/access.log", "its access log is in the unit's LogsDirectory");
  });
});

describe("the unit's command lines, run in a temp dir standing for the VM", () => {
  let l: Layout;
  let backend: TestBackend;
  let port: number;
  let adminPort: number;
  let child: ChildProcess | undefined;
  let logs: () => string = () => "";
  let env: NodeJS.ProcessEnv;
  const config = () => join(l.dir, "etc/divisor/divisor.yaml");
  const accessLog = () => join(l.dir, "var/log/divisor/access.log");
  const command = (key: string) => l.map(one(key)).split(/\s+/);

  before(async () => {
    assertBuilt();
    l = layout();
    backend = await startBackend((_req, res) => res.end("from the backend"));
    port = await freePort();
    adminPort = await freePort();
    writeFileSync(
      config(),
      [
        "listeners:",
        `  - { name: web, address: 127.0.0.1:${port} }`,
        `admin: { address: 127.0.0.1:${adminPort} }`,
        "logging:",
        "  access: { destination: /var/log/divisor/access.log, fields: [status, path] }",
        `services: { app: { backends: [${backend.address}] } }`,
        "routers: { all: { service: app } }",
        "",
      ].join("\n"),
    );
    writeFileSync(config(), l.map(readFileSync(config(), "utf8")));
    // systemd's environment for the commands: PATH, and nothing of the test's own (EnvironmentFile is optional, "-").
    env = { PATH: process.env.PATH };
  });

  after(async () => {
    if (child !== undefined && child.exitCode === null) {
      child.kill("SIGKILL");
      await exitedWithin(child, 5000).catch(() => {});
    }
    await backend?.close();
    if (l !== undefined) rmSync(l.dir, { recursive: true, force: true });
  });

  test("ExecStartPre validates the configuration and refuses a broken one", () => {
    const [cmd, ...args] = command("ExecStartPre");
    const ok = spawnSync(cmd!, args, { env, encoding: "utf8" });
    assert.equal(ok.status, 0, `ExecStartPre should accept the configuration:\n${ok.stdout}${ok.stderr}`);
    const broken = join(l.dir, "broken.yaml");
    writeFileSync(broken, "listeners: [{ address: nowhere }]\n");
    const bad = spawnSync(cmd!, args.map((a) => (a === config() ? broken : a)), { env, encoding: "utf8" });
    assert.equal(bad.status, 1, `ExecStartPre should stop the start on an invalid configuration, got ${bad.status}`);
    assert.match(bad.stderr, /broken\.yaml:1:/, `the refusal should locate the problem:\n${bad.stderr}`);
  });

  test("ExecStart runs the gateway: /readyz answers, requests are proxied and logged to /var/log/divisor", async () => {
    const [cmd, ...args] = command("ExecStart");
    child = ownGroup(spawn(cmd!, args, { env, stdio: ["ignore", "pipe", "pipe"], detached: true }));
    logs = outputOf(child);
    const ready = await readyStatus(`http://127.0.0.1:${adminPort}/readyz`, child);
    assert.equal(ready, 200, `/readyz should answer 200; the gateway exited with ${child.exitCode}:\n${logs()}`);
    const pidFile = join(l.dir, "run/divisor/divisor.pid");
    assert.equal(readFileSync(pidFile, "utf8").trim(), String(child.pid), "the pid file in RuntimeDirectory should hold the gateway's pid");
    const r = await get(`http://127.0.0.1:${port}/first`);
    assert.equal(r.body, "from the backend", "the gateway should proxy to the backend");
    await until(() => existsSync(accessLog()) && readFileSync(accessLog(), "utf8").includes("/first"), "the access log line in LogsDirectory");
  });

  test("ExecReload reloads the configuration in force", async () => {
    writeFileSync(config(), readFileSync(config(), "utf8").replace("routers: { all: { service: app } }", "routers: { all: { service: app, match: { path: { prefix: /only } } } }"));
    const [cmd, ...args] = one("ExecReload").replace("$MAINPID", String(child!.pid)).split(/\s+/);
    const r = spawnSync(cmd!, args, { env, encoding: "utf8" });
    assert.equal(r.status, 0, `ExecReload failed: ${r.stderr}`);
    await until(() => logs().includes("configuration reloaded"), `the reload; logs:\n${logs()}`);
    const after = await get(`http://127.0.0.1:${port}/first`);
    assert.equal(after.status, 404, `after the reload /first matches no router, got ${after.status}`);
  });

  test("logrotate's rule rotates the access log and the gateway writes on in a new file", async () => {
    assert.ok(existsSync("/usr/sbin/logrotate"), MISSING("logrotate", "logrotate"));
    // Here nothing runs as the divisor user and systemd cannot deliver the signal: the rule's su/create
    // owners become the test's user and its postrotate sends SIGUSR1 to the main pid, as systemctl kill would.
    const user = spawnSync("id", ["-un"], { encoding: "utf8" }).stdout.trim();
    const group = spawnSync("id", ["-gn"], { encoding: "utf8" }).stdout.trim();
    const rule = l
      .map(readFileSync(LOGROTATE, "utf8"))
      .replace(/(su|create 0640) divisor divisor/g, `$1 ${user} ${group}`)
      .replace(/systemctl kill --signal=USR1 --kill-whom=main divisor\.service/, `kill -USR1 ${child!.pid}`);
    assert.ok(rule.includes(`kill -USR1 ${child!.pid}`), "the rule's postrotate should signal the main process with SIGUSR1");
    const ruleFile = join(l.dir, "logrotate.conf");
    writeFileSync(ruleFile, rule);
    const r = spawnSync("logrotate", ["--force", "--state", join(l.dir, "logrotate.state"), ruleFile], { encoding: "utf8" });
    assert.equal(r.status, 0, `logrotate failed:\n${r.stdout}${r.stderr}`);
    await until(() => existsSync(accessLog()), "the new access log the gateway opens on SIGUSR1");
    await get(`http://127.0.0.1:${port}/only/after-rotation`);
    await until(() => readFileSync(accessLog(), "utf8").includes("/only/after-rotation"), "the line of a request after the rotation, in the new file");
    assert.ok(!readFileSync(accessLog(), "utf8").includes("/first"), "the new file should hold only lines written after the rotation");
  });

  test("KillSignal stops the gateway gracefully and removes the pid file", async () => {
    child!.kill(one("KillSignal") as NodeJS.Signals);
    const code = await exitedWithin(child!, 15_000);
    assert.equal(code, 0, `the gateway should exit 0 on ${one("KillSignal")}, got ${code}:\n${logs()}`);
    assert.ok(!existsSync(join(l.dir, "run/divisor/divisor.pid")), "the pid file should be removed on exit");
  });
});
