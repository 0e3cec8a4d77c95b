import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { createGateway } from "../../src/gateway/gateway.js";
import { nextResolveMs } from "../../src/providers/dns/index.js";
import { adminCall } from "../helpers/admin.js";
import { startDns, type TestDns } from "../helpers/dns.js";
import { eventually } from "../helpers/eventually.js";
import { get, startBackend, type TestBackend } from "../helpers/net.js";
import { type ProviderGateway, startProviderGateway } from "../helpers/provider-gateway.js";

let dns: TestDns;
const backends: TestBackend[] = [];

before(async () => {
  dns = await startDns();
});

after(async () => {
  await dns.close();
  await Promise.all(backends.map((b) => b.close()));
});

async function backend(name: string, host = "127.0.0.1", port = 0): Promise<TestBackend> {
  const b = await startBackend((req, res) => {
    req.resume();
    res.end(name);
  });
  if (host !== "127.0.0.1" || port !== 0) {
    // Moved to another loopback address (and port): one A/AAAA name's port fits several backends.
    await new Promise<void>((resolve) => b.server.close(() => resolve()));
    await new Promise<void>((resolve) => b.server.listen(port === 0 ? b.port : port, host, () => resolve()));
    b.port = (b.server.address() as { port: number }).port;
  }
  backends.push(b);
  return b;
}

function start(dnsOptions: Record<string, unknown>, config: Omit<DivisorConfigInput, "listeners">): Promise<ProviderGateway> {
  return startProviderGateway({ providers: [{ type: "dns", servers: [dns.server], timeout: 300, tries: 1, ...dnsOptions } as never], ...config });
}

const addresses = (gw: ProviderGateway, service = "api") => gw.gateway.config.services[service]!.backends.map((b) => `${b.address} ${b.weight}`);

describe("dns provider (a real UDP DNS server)", () => {
  it("clamps the re-resolve interval to minTtl and maxTtl", () => {
    assert.equal(nextResolveMs(0, 1000, 60_000), 1000, "TTL 0 waits minTtl");
    assert.equal(nextResolveMs(30, 1000, 60_000), 30_000, "a TTL within the bounds is used");
    assert.equal(nextResolveMs(86_400, 1000, 60_000), 60_000, "a long TTL waits maxTtl");
  });

  it("takes a service's backends from A records and follows them when the TTL runs out", async () => {
    const a = await backend("a");
    dns.zones.set("api.test", { A: [{ address: "127.0.0.1", ttl: 1 }] });
    const gw = await start({ minTtl: 50, services: { api: { name: "api.test", type: "A", port: a.port } } }, { services: { api: { discovery: { provider: "dns" } } }, routers: { all: { service: "api" } } });
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/`)).body, "a", "the A record's address serves"));
      const b = await backend("b", "127.0.0.2", a.port);
      assert.equal(b.port, a.port, "both backends share a port");
      dns.zones.set("api.test", { A: [{ address: "127.0.0.1", ttl: 1 }, { address: "127.0.0.2", ttl: 1 }] });
      await eventually(() => assert.deepEqual(addresses(gw), [`127.0.0.1:${a.port} 1`, `127.0.0.2:${a.port} 1`], "the new record is picked up after the TTL"), 5000);
      const seen = new Set<string>();
      for (let i = 0; i < 4; i++) seen.add((await get(`${gw.url}/`)).body);
      assert.deepEqual([...seen].sort(), ["a", "b"], "both addresses serve");
    } finally {
      await gw.close();
    }
  });

  it("asks again after maxTtl even when the record's TTL is long", async () => {
    dns.zones.set("long.test", { A: [{ address: "127.0.0.1", ttl: 86_400 }] });
    const gw = await start({ minTtl: 10, maxTtl: 200, services: { api: { name: "long.test", port: 8080 } } }, { services: { api: { discovery: { provider: "dns" } } } });
    try {
      await eventually(() => assert.deepEqual(addresses(gw), ["127.0.0.1:8080 1"], "the first answer is in force"));
      dns.zones.set("long.test", { A: [{ address: "127.0.0.3", ttl: 86_400 }] });
      await eventually(() => assert.deepEqual(addresses(gw), ["127.0.0.3:8080 1"], "the changed record is in force within maxTtl"));
    } finally {
      await gw.close();
    }
  });

  it("takes SRV targets of the lowest priority, with their ports and weights", async () => {
    dns.zones.set("_api._tcp.test", {
      SRV: [
        { target: "one.test", port: 7001, priority: 10, weight: 3, ttl: 60 },
        { target: "two.test", port: 7002, priority: 10, weight: 0, ttl: 60 },
        { target: "backup.test", port: 7003, priority: 20, weight: 5, ttl: 60 },
      ],
    });
    dns.zones.set("one.test", { A: [{ address: "127.0.0.11", ttl: 60 }] });
    dns.zones.set("two.test", { A: [], AAAA: [{ address: "::1", ttl: 60 }] });
    dns.zones.set("backup.test", { A: [{ address: "127.0.0.13", ttl: 60 }] });
    const gw = await start({ services: { api: { name: "_api._tcp.test", type: "SRV" } } }, { services: { api: { discovery: { provider: "dns" } } } });
    try {
      await eventually(() => assert.deepEqual(addresses(gw), ["127.0.0.11:7001 3", "[::1]:7002 1"], "the priority-10 targets, weighted (0 counts as 1), IPv6 when a target has no A record"));
    } finally {
      await gw.close();
    }
  });

  it("serves AAAA addresses", async () => {
    const v6 = await backend("six", "::1");
    dns.zones.set("six.test", { AAAA: [{ address: "::1", ttl: 60 }] });
    const gw = await start({ services: { api: { name: "six.test", type: "AAAA", port: v6.port } } }, { services: { api: { discovery: { provider: "dns" } } }, routers: { all: { service: "api" } } });
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/`)).body, "six", "the AAAA address serves"));
    } finally {
      await gw.close();
    }
  });

  it("keeps the last answer when resolution fails, counts the failure, and recovers", async () => {
    const a = await backend("a");
    dns.zones.set("flaky.test", { A: [{ address: "127.0.0.1", ttl: 0 }] });
    const gw = await start({ minTtl: 50, maxTtl: 200, services: { api: { name: "flaky.test", port: a.port } } }, { services: { api: { discovery: { provider: "dns" } } }, routers: { all: { service: "api" } } });
    try {
      await eventually(async () => assert.equal((await get(`${gw.url}/`)).body, "a", "the answer serves"));
      dns.failing = true;
      const p = await eventually(() => {
        const s = gw.gateway.providers()[0]!;
        assert.equal(s.state, "failed", "the provider reports the failure");
        return s;
      });
      assert.match(p.lastError ?? "", /service api: resolving A flaky\.test failed \(ESERVFAIL\); the last answer stays in force/, "the error names the service, the name and the code");
      assert.equal((await get(`${gw.url}/`)).body, "a", "the last answer keeps serving");
      const metrics = (await adminCall(gw.admin, "GET", "/metrics")).text;
      assert.match(metrics, /divisor_provider_errors_total\{provider="dns",type="dns"\} [1-9]/, "failures are counted");
      dns.failing = false;
      await eventually(() => assert.equal(gw.gateway.providers()[0]!.state, "ok", "the provider recovers"));
    } finally {
      dns.failing = false;
      await gw.close();
    }
  });

  it("refuses backends for a service without discovery once, however often DNS repeats them, and takes them after a reload adds discovery", async () => {
    const a = await backend("a");
    const b = await backend("b");
    dns.zones.set("repeat.test", { A: [{ address: "127.0.0.1", ttl: 0 }] });
    const providers = [{ type: "dns" as const, servers: [dns.server], timeout: 300, tries: 1, minTtl: 20, services: { api: { name: "repeat.test", port: b.port } } }];
    const gw = await start({ minTtl: 20, services: { api: { name: "repeat.test", port: b.port } } }, { services: { api: { backends: [a.address] } }, routers: { all: { service: "api" } } });
    try {
      const p = await eventually(() => {
        const s = gw.gateway.providers()[0]!;
        assert.equal(s.state, "refused", "backends for a service without discovery are refused");
        return s;
      });
      assert.match(p.lastError ?? "", /it reports backends for service "api", which has no discovery; set services\.api\.discovery: \{ provider: dns \} to use them/, "the error says what to set");
      const asked = dns.queries.get("A repeat.test") ?? 0;
      await eventually(() => assert.ok((dns.queries.get("A repeat.test") ?? 0) >= asked + 3, "DNS is asked again and again"));
      assert.equal(gw.gateway.providers()[0]!.updates.refused, 1, "the same answer is refused once");
      assert.equal((await get(`${gw.url}/`)).body, "a", "the file's backend serves meanwhile");
      await gw.gateway.reload({
        listeners: [{ address: "127.0.0.1:0" }],
        admin: { address: "127.0.0.1:0" },
        logging: { level: "silent" },
        providers,
        services: { api: { discovery: { provider: "dns" } } },
        routers: { all: { service: "api" } },
      });
      await eventually(async () => assert.equal((await get(`${gw.url}/`)).body, "b", "after the reload, the refused answer is taken"));
      assert.equal(gw.gateway.providers()[0]!.state, "ok", "the provider is ok");
    } finally {
      await gw.close();
    }
  });

  it("refuses a dns entry without a port for A records, and an unknown discovery provider", async () => {
    assert.throws(
      () => createGateway({ listeners: [{ address: "127.0.0.1:0" }], services: { api: { discovery: { provider: "nope" } } }, providers: [{ type: "dns", services: { api: { name: "x.test", type: "A" } } }] } as never),
      (err: Error) => /providers\[0\]\.services\.api\.port\n {4}A and AAAA records carry no port: give port/.test(err.message) && /services\.api\.discovery\.provider\n {4}unknown provider "nope"/.test(err.message),
      "both problems are named with their paths",
    );
  });
});
