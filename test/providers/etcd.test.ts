import assert from "node:assert/strict";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Etcd3 } from "etcd3";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { adminCall } from "../helpers/admin.js";
import { startEtcd, type TestEtcd } from "../helpers/etcd.js";
import { loadLoop } from "../helpers/load.js";
import { eventually } from "../helpers/eventually.js";
import { freePort, get, startBackend, startNamedBackend, type TestBackend } from "../helpers/net.js";
import { type ProviderGateway, startProviderGateway } from "../helpers/provider-gateway.js";

let dir: string;
let etcd: TestEtcd;
let client: Etcd3;
const backends: TestBackend[] = [];

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "divisor-etcd-provider-"));
  etcd = await startEtcd(dir);
  client = new Etcd3({ hosts: etcd.endpoint });
});

after(async () => {
  client.close();
  await etcd.stop();
  await Promise.all(backends.map((b) => b.close()));
  fs.rmSync(dir, { recursive: true, force: true });
});

async function backend(name: string, delayMs = 0): Promise<TestBackend> {
  const b = await startNamedBackend(name, delayMs);
  backends.push(b);
  return b;
}

function start(prefix: string, config: Omit<DivisorConfigInput, "listeners">, endpoint = etcd.endpoint): Promise<ProviderGateway> {
  return startProviderGateway({ providers: [{ type: "etcd", endpoints: [endpoint], prefix, retry: { initial: 100, max: 500 } }], ...config });
}

function provider(gw: ProviderGateway) {
  const p = gw.gateway.providers().find((x) => x.name === "etcd");
  assert.ok(p !== undefined, "the etcd provider is listed");
  return p;
}

const discovered = { app: { discovery: { provider: "etcd" } } };

describe("etcd provider (a real etcd)", () => {
  it("serves routers and services stored as documents, and applies a changed document", async () => {
    const a = await backend("a");
    const b = await backend("b");
    const prefix = "/docs";
    await client.put(`${prefix}/services/web`).value(JSON.stringify({ backends: [a.address] }));
    await client.put(`${prefix}/routers/web`).value("match: { path: { prefix: /web } }\nservice: web\n");
    const gw = await start(prefix, {});
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/web`)).body, "a", "the router stored in etcd serves"));
      await client.put(`${prefix}/services/web`).value(`backends: ["${b.address}"]\n`);
      await eventually(async () => assert.equal((await get(`${gw.url}/web`)).body, "b", "the changed document applies"));
      assert.equal(provider(gw).state, "ok", "the provider is ok");
    } finally {
      await gw.close();
    }
  });

  it("refuses a malformed document with its key in the error, and keeps the others", async () => {
    const a = await backend("a");
    const prefix = "/malformed";
    await client.put(`${prefix}/services/web`).value(JSON.stringify({ backends: [a.address] }));
    await client.put(`${prefix}/routers/web`).value(JSON.stringify({ service: "web" }));
    const gw = await start(prefix, {});
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/`)).body, "a", "the documents serve"));
      await client.put(`${prefix}/routers/web`).value('{ "service": "web", "match": { "methods": ["get"] } }');
      await client.put(`${prefix}/routers/other`).value("service: [oops");
      const p = await eventually(() => {
        const s = provider(gw);
        assert.equal(s.state, "failed", "the provider reports the bad keys");
        assert.match(s.lastError ?? "", /etcd key \/malformed\/routers\/other: not YAML or JSON/, "the unparsable key is named");
        return s;
      });
      assert.match(p.lastError ?? "", /etcd key \/malformed\/routers\/web {2}routers\.web\.match\.methods\[0\]/, "the invalid document's key and path are named");
      assert.equal((await get(`${gw.url}/`)).body, "a", "the last good value of the key stays in force");
      await client.put(`${prefix}/routers/other`).value("{ service: web, match: { path: { prefix: /other } } }");
      await client.put(`${prefix}/routers/web`).value(JSON.stringify({ service: "web" }));
      await eventually(() => assert.equal(provider(gw).state, "ok", "fixed keys clear the failure"));
      assert.equal((await get(`${gw.url}/other`)).body, "a", "the fixed document serves");
    } finally {
      await gw.close();
    }
  });

  it("drops a backend whose lease expires", async () => {
    const a = await backend("a");
    const b = await backend("b");
    const prefix = "/leases";
    await client.put(`${prefix}/services/app/backends/a`).value(a.address);
    const lease = client.lease(2, { autoKeepAlive: false });
    await lease.put(`${prefix}/services/app/backends/b`).value(JSON.stringify({ address: b.address, weight: 1 }));
    const gw = await start(prefix, { services: discovered, routers: { all: { service: "app" } } });
    try {
      await eventually(() => assert.equal(gw.gateway.config.services.app!.backends.length, 2, "both backends are in force"));
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) seen.add((await get(`${gw.url}/`)).body);
      assert.deepEqual([...seen].sort(), ["a", "b"], "both backends serve");
      await eventually(() => assert.deepEqual(gw.gateway.config.services.app!.backends.map((x) => x.address), [a.address], "the leased backend disappears once its lease expires"), 15_000);
      for (let i = 0; i < 4; i++) assert.equal((await get(`${gw.url}/`)).body, "a", "only the remaining backend serves");
    } finally {
      await gw.close();
    }
  });

  it("answers 503 with the reason while a discovered service has no backend yet", async () => {
    const prefix = "/empty";
    const gw = await start(prefix, { services: discovered, routers: { all: { service: "app" } } });
    try {
      await eventually(async () => assert.equal((await adminCall(gw.admin, "GET", "/readyz")).status, 200, "ready once etcd answered"));
      const res = await get(`${gw.url}/`);
      assert.equal(res.status, 503, "no backend: 503");
      assert.match(res.body, /no backend is known yet: provider "etcd" has reported none/, "the body says why");
      const a = await backend("a");
      await client.put(`${prefix}/services/app/backends/a`).value(a.address);
      await eventually(async () => assert.equal((await get(`${gw.url}/`)).body, "a", "the registered backend serves"));
    } finally {
      await gw.close();
    }
  });

  it("becomes ready on the file's configuration when etcd cannot be reached, and says so", async () => {
    const a = await backend("a");
    const gw = await start("/nowhere", { services: { own: { backends: [a.address] } }, routers: { all: { service: "own" } } }, `http://127.0.0.1:${await freePort()}`);
    try {
      const ready = await eventually(async () => {
        const r = await adminCall(gw.admin, "GET", "/readyz");
        assert.equal(r.status, 200, "ready with the file's configuration");
        return r;
      });
      const listed = (ready.body as { providers: { name: string; state: string; lastError?: string }[] }).providers;
      assert.equal(listed[0]?.state, "failed", "/readyz lists etcd as failed");
      assert.match(listed[0]?.lastError ?? "", /etcd http:\/\/127\.0\.0\.1:\d+/, "with the endpoint in the error");
      assert.equal((await get(`${gw.url}/`)).body, "a", "the file's routers serve");
    } finally {
      await gw.close();
    }
  });

  it("uses and drains backends added and removed under load with zero failed requests (acceptance)", async () => {
    const prefix = "/load";
    const pool = await Promise.all(["b0", "b1", "b2", "b3", "b4", "b5"].map((n) => backend(n, 2)));
    const key = (i: number) => `${prefix}/services/app/backends/b${i}`;
    await client.put(key(0)).value(pool[0]!.address);
    await client.put(key(1)).value(pool[1]!.address);
    const gw = await start(prefix, { services: { app: { discovery: { provider: "etcd" }, retries: { attempts: 1 } } }, routers: { all: { service: "app" } } });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    const load = loadLoop(() => get(`${gw.url}/`, { agent }));
    const { servedBy, failures } = load;
    const inForce = (i: number) => gw.gateway.config.services.app!.backends.find((b) => b.address === pool[i]!.address);
    try {
      await eventually(() => assert.equal(gw.gateway.config.services.app!.backends.length, 2, "the first two backends are in force"));
      load.start(12);
      // Each round: add the next backend, drain the oldest (weight 0), remove it, stop it.
      for (let round = 0; round < 4; round++) {
        const added = round + 2;
        const removed = round;
        await client.put(key(added)).value(pool[added]!.address);
        await eventually(() => assert.ok(inForce(added) !== undefined, `b${added} is in force`));
        const before = servedBy.get(`b${added}`) ?? 0;
        await eventually(() => assert.ok((servedBy.get(`b${added}`) ?? 0) > before, `b${added} takes requests`));
        await client.put(key(removed)).value(JSON.stringify({ address: pool[removed]!.address, weight: 0 }));
        await eventually(() => assert.equal(inForce(removed)?.weight, 0, `b${removed} is drained`));
        await client.delete().key(key(removed));
        await eventually(() => assert.equal(inForce(removed), undefined, `b${removed} is removed`));
        await eventually(() => assert.ok(!gw.gateway.backends().some((b) => b.address === pool[removed]!.address), `b${removed} is forgotten by the registry`));
        // Gracefully: requests still in flight to it finish, then it goes away.
        await new Promise<void>((resolve) => pool[removed]!.server.close(() => resolve()));
      }
      await load.stop();
      const total = [...servedBy.values()].reduce((n, x) => n + x, 0);
      assert.deepEqual(failures.slice(0, 5), [], `zero failed requests out of ${total + failures.length}`);
      for (const i of [2, 3, 4, 5]) assert.ok((servedBy.get(`b${i}`) ?? 0) > 0, `added backend b${i} served requests`);
      assert.ok(total > 100, `the load loop ran (${total} requests)`);
    } finally {
      void load.stop();
      agent.destroy();
      await gw.close();
    }
  });

  it("lets a request in flight to a backend removed from etcd finish", async () => {
    const prefix = "/inflight";
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    let arrived: () => void = () => {};
    const started = new Promise<void>((r) => {
      arrived = r;
    });
    const slow = await startBackend((req, res) => {
      req.resume();
      arrived();
      void held.then(() => res.end("slow answer"));
    });
    backends.push(slow);
    const other = await backend("other");
    await client.put(`${prefix}/services/app/backends/slow`).value(slow.address);
    const gw = await start(prefix, { services: discovered, routers: { all: { service: "app" } } });
    try {
      await eventually(() => assert.equal(gw.gateway.config.services.app!.backends.length, 1, "the slow backend is in force"));
      const answer = get(`${gw.url}/`);
      await started;
      await client.put(`${prefix}/services/app/backends/other`).value(other.address);
      await client.delete().key(`${prefix}/services/app/backends/slow`);
      await eventually(() => assert.deepEqual(gw.gateway.config.services.app!.backends.map((x) => x.address), [other.address], "the slow backend is removed"));
      assert.equal((await get(`${gw.url}/`)).body, "other", "new requests go to the remaining backend");
      release();
      const res = await answer;
      assert.deepEqual([res.status, res.body], [200, "slow answer"], "the request in flight to the removed backend finished");
    } finally {
      release();
      await gw.close();
    }
  });

  it("keeps the last state when etcd stops, and /readyz and the metrics say so", async () => {
    const a = await backend("a");
    const prefix = "/stopping";
    await client.put(`${prefix}/services/app/backends/a`).value(a.address);
    const gw = await start(prefix, { services: discovered, routers: { all: { service: "app" } } });
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/`)).body, "a", "the backend from etcd serves"));
      await etcd.stop();
      await eventually(() => assert.equal(provider(gw).state, "failed", "the provider reports the lost connection"), 15_000);
      assert.equal((await get(`${gw.url}/`)).body, "a", "the last state keeps serving");
      const ready = await adminCall(gw.admin, "GET", "/readyz");
      assert.equal(ready.status, 200, "still ready: the last good state is in force");
      assert.match(JSON.stringify(ready.body), /"name":"etcd","type":"etcd","state":"failed","lastError":"lost the connection to etcd/, "/readyz lists the failure");
      const metrics = (await adminCall(gw.admin, "GET", "/metrics")).text;
      assert.match(metrics, /divisor_provider_up\{provider="etcd",type="etcd"\} 0/, "divisor_provider_up is 0");
      assert.match(metrics, /divisor_provider_errors_total\{provider="etcd",type="etcd"\} [1-9]/, "the failure is counted");
      assert.match(metrics, /divisor_provider_last_success_timestamp_seconds\{provider="etcd",type="etcd"\} [1-9]/, "the last success is known");
      // The same etcd back (same data, same address): the watch resumes and follows new changes.
      etcd = await startEtcd(dir, etcd.ports);
      const b = await backend("b");
      const writer = new Etcd3({ hosts: etcd.endpoint });
      try {
        await writer.put(`${prefix}/services/app/backends/b`).value(b.address);
      } finally {
        writer.close();
      }
      await eventually(() => assert.equal(gw.gateway.config.services.app!.backends.length, 2, "a backend registered after etcd came back is in force"), 20_000);
      assert.equal(provider(gw).state, "ok", "the provider is ok again");
    } finally {
      await gw.close();
    }
  });
});
