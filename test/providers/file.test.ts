import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { adminCall } from "../helpers/admin.js";
import { eventually } from "../helpers/eventually.js";
import { get, startBackend, type TestBackend } from "../helpers/net.js";
import { startProviderGateway } from "../helpers/provider-gateway.js";

let dir: string;
let a: TestBackend;
let b: TestBackend;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "divisor-file-provider-"));
  a = await startBackend((_req, res) => res.end("a"));
  b = await startBackend((_req, res) => res.end("b"));
});

after(async () => {
  await Promise.all([a.close(), b.close()]);
  fs.rmSync(dir, { recursive: true, force: true });
});

const start = startProviderGateway;

function freshDir(name: string): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d);
  return d;
}

async function providerState(admin: string, name: string): Promise<{ state: string; lastError: string | null; holds: Record<string, number> }> {
  const res = await adminCall(admin, "GET", "/api/providers");
  const list = (res.body as { providers: { name: string; state: string; lastError: string | null; holds: Record<string, number> }[] }).providers;
  const found = list.find((p) => p.name === name);
  assert.ok(found !== undefined, `provider ${name} is listed by /api/providers: ${res.text}`);
  return found;
}

describe("file provider", () => {
  it("serves routers and services from a directory's files, and follows files added, changed and removed", async () => {
    const d = freshDir("follow");
    fs.writeFileSync(path.join(d, "a.yaml"), `services:\n  sa: { backends: ["${a.address}"] }\nrouters:\n  ra: { match: { path: { prefix: /a } }, service: sa }\n`);
    const gw = await start({ providers: [{ type: "file", path: d }] });
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/a`)).body, "a", "the router of a.yaml serves"));
      fs.writeFileSync(path.join(d, "b.yml"), `services:\n  sb: { backends: ["${b.address}"] }\nrouters:\n  rb: { match: { path: { prefix: /b } }, service: sb }\n`);
      await eventually(async () => assert.equal((await get(`${gw.url}/b`)).body, "b", "a file added later serves too"));
      fs.writeFileSync(path.join(d, "a.yaml"), `services:\n  sa: { backends: ["${b.address}"] }\nrouters:\n  ra: { match: { path: { prefix: /a } }, service: sa }\n`);
      await eventually(async () => assert.equal((await get(`${gw.url}/a`)).body, "b", "a changed file's new backend serves"));
      fs.rmSync(path.join(d, "b.yml"));
      await eventually(async () => assert.equal((await get(`${gw.url}/b`)).status, 404, "a removed file's router is gone"));
      const state = await providerState(gw.admin, "file");
      assert.equal(state.state, "ok", "the provider is ok");
      assert.equal(state.holds.routers, 1, "it holds the one router left");
    } finally {
      await gw.close();
    }
  });

  it("keeps a broken file's last good content and reports file:line:column", async () => {
    const d = freshDir("broken");
    const file = path.join(d, "api.yaml");
    fs.writeFileSync(file, `services:\n  api: { backends: ["${a.address}"] }\nrouters:\n  api: { service: api }\n`);
    const gw = await start({ providers: [{ type: "file", path: d }] });
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/`)).body, "a", "the file's router serves"));
      fs.writeFileSync(file, `services:\n  api:\n    backends: ["${b.address}"]\n    balancer: { algorithm: fastest }\nrouters:\n  api: { service: api }\n`);
      const state = await eventually(async () => {
        const s = await providerState(gw.admin, "file");
        assert.equal(s.state, "failed", "the provider says it failed");
        return s;
      });
      assert.match(state.lastError ?? "", /api\.yaml:4:\d+ {2}services\.api\.balancer\.algorithm/, "the error names file:line:column and the path");
      assert.equal((await get(`${gw.url}/`)).body, "a", "the last good content stays in force");
      const ready = await adminCall(gw.admin, "GET", "/readyz");
      assert.equal(ready.status, 200, "a failed provider whose last state is known leaves the gateway ready");
      const listed = (ready.body as { providers: { name: string; state: string }[] }).providers;
      assert.deepEqual(listed.map((p) => [p.name, p.state]), [["file", "failed"]], "/readyz lists the provider's state");
    } finally {
      await gw.close();
    }
  });

  it("refuses a fragment whose names collide with the file's, naming both, and keeps the file's", async () => {
    const d = freshDir("collide");
    fs.writeFileSync(path.join(d, "x.yaml"), `services:\n  extra: { backends: ["${b.address}"] }\nrouters:\n  main: { service: extra }\n`);
    const gw = await start({ services: { app: { backends: [a.address] } }, routers: { main: { service: "app" } }, providers: [{ type: "file", name: "team", path: d }] });
    try {
      const state = await eventually(async () => {
        const s = await providerState(gw.admin, "team");
        assert.equal(s.state, "refused", "the provider's fragment is refused");
        return s;
      });
      assert.match(state.lastError ?? "", /provider "team" refused: router "main" is already defined by <config>/, "the error names the router and both sources");
      assert.equal((await get(`${gw.url}/`)).body, "a", "the file's router keeps serving");
      assert.equal(gw.gateway.config.services.extra, undefined, "nothing of the refused fragment is in force");
      const metrics = (await adminCall(gw.admin, "GET", "/metrics")).text;
      assert.match(metrics, /divisor_provider_updates_total\{provider="team",type="file",result="refused"\} 1/, "the refusal is counted");
      assert.match(metrics, /divisor_provider_up\{provider="team",type="file"\} 0/, "the provider is not up");
    } finally {
      await gw.close();
    }
  });

  it("refuses a fragment that makes the configuration invalid, naming the provider and the path", async () => {
    const d = freshDir("invalid");
    const file = path.join(d, "r.yaml");
    fs.writeFileSync(file, "routers:\n  r: { match: { path: { prefix: /r } }, service: app }\n");
    const gw = await start({ services: { app: { backends: [a.address] } }, providers: [{ type: "file", path: d }] });
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/r`)).body, "a", "the provider's router serves"));
      fs.writeFileSync(file, "routers:\n  r: { match: { path: { prefix: /r } }, service: nope }\n");
      const state = await eventually(async () => {
        const s = await providerState(gw.admin, "file");
        assert.equal(s.state, "refused", "the new fragment is refused");
        return s;
      });
      assert.match(state.lastError ?? "", /provider "file" {2}routers\.r\.service\n {4}unknown service "nope"/, "the error names the provider and the path");
      assert.equal((await get(`${gw.url}/r`)).body, "a", "the last good fragment stays in force");
    } finally {
      await gw.close();
    }
  });

  it("refuses a fragment the compiler refuses (a bad regular expression) and keeps the last good one", async () => {
    const d = freshDir("compile");
    const file = path.join(d, "r.yaml");
    fs.writeFileSync(file, `services:\n  s: { backends: ["${a.address}"] }\nrouters:\n  r: { match: { path: { prefix: /r } }, service: s }\n`);
    const gw = await start({ providers: [{ type: "file", path: d }] });
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/r`)).body, "a", "the router serves"));
      fs.writeFileSync(file, `services:\n  s: { backends: ["${b.address}"] }\nrouters:\n  r: { match: { path: { regex: "([" } }, service: s }\n`);
      const state = await eventually(async () => {
        const s = await providerState(gw.admin, "file");
        assert.equal(s.state, "refused", "the fragment is refused");
        return s;
      });
      assert.match(state.lastError ?? "", /provider "file" {2}routers\.r\.match\.path\.regex\n {4}invalid regular expression/, `the error names the provider, the path and what: ${state.lastError}`);
      assert.equal((await get(`${gw.url}/r`)).body, "a", "the last good fragment stays in force");
    } finally {
      await gw.close();
    }
  });

  it("refuses a provider whose names collide with an earlier provider's", async () => {
    const one = freshDir("one");
    const two = freshDir("two");
    fs.writeFileSync(path.join(one, "s.yaml"), `services:\n  shared: { backends: ["${a.address}"] }\nrouters:\n  r1: { service: shared }\n`);
    fs.writeFileSync(path.join(two, "s.yaml"), `services:\n  shared: { backends: ["${b.address}"] }\n`);
    const gw = await start({ providers: [{ type: "file", name: "one", path: one }, { type: "file", name: "two", path: two }] });
    try {
      const state = await eventually(async () => {
        const s = await providerState(gw.admin, "two");
        assert.equal(s.state, "refused", "the later provider is refused");
        return s;
      });
      assert.match(state.lastError ?? "", /service "shared" is already defined by provider "one"/, "the error names the earlier provider");
      assert.equal((await get(`${gw.url}/`)).body, "a", "the earlier provider's service serves");
    } finally {
      await gw.close();
    }
  });

  it("drops a provider's fragment when a reload removes the provider", async () => {
    const d = freshDir("removed");
    fs.writeFileSync(path.join(d, "r.yaml"), `services:\n  s: { backends: ["${a.address}"] }\nrouters:\n  r: { service: s }\n`);
    const base = { listeners: [{ address: "127.0.0.1:0" }], logging: { level: "silent" as const } };
    const gw = await start({ providers: [{ type: "file", path: d }] });
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/`)).body, "a", "the provider's router serves"));
      await gw.gateway.reload({ ...base, admin: { address: "127.0.0.1:0" } });
      assert.equal((await get(`${gw.url}/`)).status, 404, "its router is gone with it");
      assert.deepEqual(gw.gateway.providers(), [], "no provider is left");
    } finally {
      await gw.close();
    }
  });

  it("restarts a provider whose entry a reload changed", async () => {
    const first = freshDir("first");
    const second = freshDir("second");
    fs.writeFileSync(path.join(first, "r.yaml"), `services:\n  s: { backends: ["${a.address}"] }\nrouters:\n  r: { service: s }\n`);
    fs.writeFileSync(path.join(second, "r.yaml"), `services:\n  s: { backends: ["${b.address}"] }\nrouters:\n  r: { service: s }\n`);
    const gw = await start({ providers: [{ type: "file", name: "conf", path: first }] });
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/`)).body, "a", "the first directory serves"));
      await gw.gateway.reload({ listeners: [{ address: "127.0.0.1:0" }], admin: { address: "127.0.0.1:0" }, logging: { level: "silent" }, providers: [{ type: "file", name: "conf", path: second }] });
      await eventually(async () => assert.equal((await get(`${gw.url}/`)).body, "b", "the restarted provider's state serves"));
      fs.writeFileSync(path.join(first, "r.yaml"), "routers:\n  r: { service: nope }\n");
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(gw.gateway.providers()[0]!.state, "ok", "the old directory is no longer watched");
    } finally {
      await gw.close();
    }
  });

  it("reads a single file and waits for it in /readyz until its first state is in force", async () => {
    const file = path.join(freshDir("single"), "only.json");
    fs.writeFileSync(file, JSON.stringify({ services: { s: { backends: [b.address] } }, routers: { r: { service: "s" } } }));
    const gw = await start({ providers: [{ type: "file", path: file }] });
    try {
      await eventually(async () => assert.equal((await adminCall(gw.admin, "GET", "/readyz")).status, 200, "ready once the provider's state is in force"));
      assert.equal((await get(`${gw.url}/`)).body, "b", "the file's router serves");
    } finally {
      await gw.close();
    }
  });
});
