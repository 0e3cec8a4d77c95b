import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Etcd3 } from "etcd3";
import { ROOT, runBuilt, startBuilt } from "../helpers/cli.js";
import { startEtcd } from "../helpers/etcd.js";
import { eventually } from "../helpers/eventually.js";
import { freePort, get, startBackend, type TestBackend } from "../helpers/net.js";
import { exitedWithin, killGroups, outputOf, ownGroup, until, workerPids } from "../helpers/process.js";

const CLI = ["--import", "tsx", join(ROOT, "src/cli/main.ts")];

let dir: string;
let backend: TestBackend;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "divisor-cli-providers-"));
  backend = await startBackend((_req, res) => res.end(`pid ${process.pid}`));
});

after(async () => {
  killGroups();
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("providers from the CLI", () => {
  it("divisor validate checks the providers section without contacting them", async () => {
    const file = join(dir, "ok.yaml");
    writeFileSync(
      file,
      `listeners: [{ address: "127.0.0.1:0" }]\nservices: { api: { discovery: { provider: etcd } } }\nproviders:\n  - { type: etcd, endpoints: ["http://127.0.0.1:1"] }\n  - { type: dns, services: { api2: { name: api.internal, type: SRV } } }\n`,
    );
    const ok = await runBuilt(["validate", "-c", file]);
    assert.equal(ok.code, 0, `valid: ${ok.err}`);
    assert.match(ok.out, /valid \(1 listener\(s\), 1 service\(s\), 0 router\(s\), 0 tenant\(s\)\); 2 provider\(s\) checked, not contacted/, "the providers are counted and not contacted");
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, `listeners: [{ address: "127.0.0.1:0" }]\nproviders:\n  - { type: etcd, endpoints: [10.0.0.5:2379] }\n  - { type: zookeeper }\n`);
    const refused = await runBuilt(["validate", "-c", bad]);
    assert.equal(refused.code, 1, "an invalid providers section exits 1");
    assert.match(refused.err, /bad\.yaml:3:\d+ {2}providers\[0\]\.endpoints\[0\]\n {4}expected an etcd client URL like "http:\/\/10\.0\.0\.5:2379"/, "the bad endpoint is located");
    assert.match(refused.err, /bad\.yaml:4:\d+ {2}providers\[1\]\.type\n {4}.*"zookeeper"/, "the unknown type is located");
  });

  it("the built divisor loads the etcd provider (etcd3 is kept out of the bundle) and serves what etcd holds", async () => {
    const etcd = await startEtcd(join(dir, "etcd"));
    const client = new Etcd3({ hosts: etcd.endpoint });
    const port = await freePort();
    const file = join(dir, "etcd.yaml");
    writeFileSync(file, `listeners: [{ address: "127.0.0.1:${port}" }]\nservices: { api: { discovery: { provider: etcd } } }\nrouters: { all: { service: api } }\nproviders:\n  - { type: etcd, endpoints: ["${etcd.endpoint}"] }\n`);
    const { child, logs } = startBuilt(["-c", file]);
    try {
      await client.put("/divisor/services/api/backends/one").value(backend.address);
      await eventually(async () => assert.equal((await get(`http://127.0.0.1:${port}/`)).status, 200, `the backend from etcd serves:\n${logs()}`), 20_000);
    } finally {
      child.kill("SIGTERM");
      await exitedWithin(child, 20_000);
      client.close();
      await etcd.stop();
    }
  });

  it("--workers 2: each worker runs its own providers, and divisor providers shows each one", async () => {
    const port = await freePort();
    const adminPort = await freePort();
    const conf = join(dir, "conf.d");
    mkdirSync(conf);
    writeFileSync(join(conf, "api.yaml"), `services:\n  api: { backends: ["${backend.address}"] }\nrouters:\n  api: { match: { path: { prefix: /api } }, service: api }\n`);
    const file = join(dir, "workers.yaml");
    writeFileSync(file, `listeners: [{ address: "127.0.0.1:${port}" }]\nadmin: { address: "127.0.0.1:${adminPort}" }\nproviders:\n  - { type: file, name: confd, path: ${JSON.stringify(conf)} }\n`);
    const child = ownGroup(spawn(process.execPath, [...CLI, "start", "-c", file, "--workers", "2"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true }));
    const logs = outputOf(child);
    try {
      await until(() => workerPids(logs()).length === 2, "two workers to start");
      await eventually(async () => assert.equal((await get(`http://127.0.0.1:${adminPort}/readyz`)).status, 200, "ready once every worker's provider delivered"), 20_000);
      for (const worker of ["0", "1"]) {
        const shown = await runBuilt(["providers", "--admin", `http://127.0.0.1:${adminPort}`, "--worker", worker]);
        assert.equal(shown.code, 0, `divisor providers answers: ${shown.err}`);
        assert.match(shown.out, /^confd \(file\): ok; holds 1 router\(s\), 1 service\(s\), 0 middleware\(s\), 0 tenant\(s\), 0 backend\(s\); updates 1 accepted, 0 refused/, `worker ${worker} runs the provider`);
      }
      // Fresh connections land on either worker: every one serves the provider's router.
      for (let i = 0; i < 10; i++) assert.equal((await get(`http://127.0.0.1:${port}/api`, { agent: false })).status, 200, "the provider's router serves on every worker");
      writeFileSync(join(conf, "api.yaml"), "routers:\n  api: { service: nope }\n");
      await eventually(async () => {
        const shown = await runBuilt(["providers", "--admin", `http://127.0.0.1:${adminPort}`]);
        assert.match(shown.out, /confd \(file\): refused/, "the refusal shows");
        assert.match(shown.out, /unknown service "nope"/, "with the problem");
      }, 20_000);
    } finally {
      child.kill("SIGTERM");
      // What the primary and its workers said while stopping, if they do not stop in time.
      await exitedWithin(child, 20_000).catch((err: Error) => {
        throw new Error(`${err.message}; their last output:\n${logs().slice(-4000)}`);
      });
    }
  });
});
