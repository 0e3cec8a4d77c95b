import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { readTags } from "../../src/providers/consul/index.js";
import { adminCall } from "../helpers/admin.js";
import { eventually } from "../helpers/eventually.js";
import { type FakeConsul, startFakeConsul } from "../helpers/fake-consul.js";
import { get, startBackend, type TestBackend } from "../helpers/net.js";
import { type ProviderGateway, startProviderGateway } from "../helpers/provider-gateway.js";

const backends: TestBackend[] = [];
let a: TestBackend;
let b: TestBackend;

before(async () => {
  a = await startBackend((_req, res) => res.end("a"));
  b = await startBackend((_req, res) => res.end("b"));
  backends.push(a, b);
});

after(async () => {
  await Promise.all(backends.map((x) => x.close()));
});

function start(consul: FakeConsul, options: Record<string, unknown>, config: Omit<DivisorConfigInput, "listeners">): Promise<ProviderGateway> {
  return startProviderGateway({ providers: [{ type: "consul", address: consul.address, services: ["api"], wait: "1s", retry: { initial: 50, max: 200 }, ...options } as never], ...config });
}

const api = { services: { api: { discovery: { provider: "consul" } } }, routers: { all: { service: "api" } } };
// The provider orders backends by address (a stable fragment); the ports are random, so compare as sets.
const inForce = (gw: ProviderGateway) => gw.gateway.config.services.api!.backends.map((x) => `${x.address} ${x.weight}`).sort();

describe("consul provider (against a fake Consul)", () => {
  it("reads the tag grammar: weight, hosts, path, and names tags it does not know", () => {
    assert.deepEqual(readTags(["v2", "divisor.weight=3", "divisor.host=API.example.com", "divisor.host=www.example.com", "divisor.path=/api"]), {
      weight: 3,
      hosts: ["api.example.com", "www.example.com"],
      path: "/api",
      problems: [],
    }, "every divisor tag is read and others are ignored");
    assert.deepEqual(readTags(["divisor.weight=heavy"]).problems, ['tag "divisor.weight=heavy" is not one of divisor.weight=<whole number>, divisor.host=<host>, divisor.path=</prefix>'], "a bad value is named");
  });

  it("uses the passing instances with their tag weights, and follows checks with blocking queries", async () => {
    const consul = await startFakeConsul();
    consul.register("api", { id: "a", address: "127.0.0.1", port: a.port, tags: ["divisor.weight=3"] });
    consul.register("api", { id: "b", address: "127.0.0.1", port: b.port, checks: ["critical"] });
    const gw = await start(consul, {}, api);
    try {
      await eventually(() => assert.deepEqual(inForce(gw), [`127.0.0.1:${a.port} 3`], "only the passing instance, with its weight"));
      assert.equal((await get(`${gw.url}/`)).body, "a", "it serves");
      consul.setChecks("api", "b", ["passing"]);
      await eventually(() => assert.deepEqual(inForce(gw), [`127.0.0.1:${a.port} 3`, `127.0.0.1:${b.port} 1`].sort(), "an instance whose check passes again joins"));
      consul.setChecks("api", "a", ["passing", "warning"]);
      await eventually(() => assert.deepEqual(inForce(gw), [`127.0.0.1:${b.port} 1`], "an instance with a warning check leaves"));
      const queries = consul.requests.filter((r) => r.service === "api");
      assert.ok(queries.every((r) => r.passing && r.wait === "1s"), "every query asks for passing instances with a wait");
      assert.equal(queries[0]!.index, null, "the first query has no index");
      assert.ok(queries.slice(1).every((r) => Number(r.index) > 0), "the later ones block on the last X-Consul-Index");
      assert.ok(queries.length < 20, `no busy loop: ${queries.length} queries`);
    } finally {
      await gw.close();
      await consul.close();
    }
  });

  it("makes a router from divisor.host and divisor.path tags", async () => {
    const consul = await startFakeConsul();
    consul.register("api", { id: "a", address: "127.0.0.1", port: a.port, tags: ["divisor.host=api.example.com", "divisor.path=/v1"] });
    const gw = await start(consul, {}, { services: { api: { discovery: { provider: "consul" } } } });
    try {
      await eventually(() => assert.ok(gw.gateway.config.routers["consul-api"] !== undefined, "the router consul-api is in force"));
      assert.equal((await get(`${gw.url}/v1/x`, { headers: { host: "api.example.com" } })).body, "a", "it routes the tagged host and path");
      assert.equal((await get(`${gw.url}/v1/x`, { headers: { host: "other.example.com" } })).status, 404, "other hosts are not routed");
    } finally {
      await gw.close();
      await consul.close();
    }
  });

  it("starts over from index 0 when the index goes backwards", async () => {
    const consul = await startFakeConsul();
    consul.register("api", { id: "a", address: "127.0.0.1", port: a.port });
    const gw = await start(consul, {}, api);
    try {
      await eventually(() => assert.deepEqual(inForce(gw), [`127.0.0.1:${a.port} 1`], "the first instance is in force"));
      const before = consul.requests.length;
      consul.resetIndex(2);
      await eventually(() => assert.ok(consul.requests.slice(before).some((r) => r.index === null), "a query without an index follows the reset"));
      consul.register("api", { id: "b", address: "127.0.0.1", port: b.port });
      await eventually(() => assert.deepEqual(inForce(gw), [`127.0.0.1:${a.port} 1`, `127.0.0.1:${b.port} 1`].sort(), "changes after the reset are followed"));
    } finally {
      await gw.close();
      await consul.close();
    }
  });

  it("sends the token and datacenter, and reports a refused token", async () => {
    const consul = await startFakeConsul({ token: "s3cret", datacenter: "eu1" });
    consul.register("api", { id: "a", address: "127.0.0.1", port: a.port });
    const bad = await start(consul, { token: "wrong", datacenter: "eu1" }, api);
    try {
      const p = await eventually(() => {
        const s = bad.gateway.providers()[0]!;
        assert.equal(s.state, "failed", "a refused token fails the provider");
        return s;
      });
      assert.match(p.lastError ?? "", /service api: Consul answered 403: ACL not found/, "with Consul's answer");
      assert.ok(!(p.lastError ?? "").includes("wrong"), "the token is not in the error");
      assert.equal((await adminCall(bad.admin, "GET", "/readyz")).status, 200, "ready on the file alone");
    } finally {
      await bad.close();
    }
    const good = await start(consul, { token: "s3cret", datacenter: "eu1" }, api);
    try {
      await eventually(() => assert.deepEqual(inForce(good), [`127.0.0.1:${a.port} 1`], "the right token gets the instances"));
      assert.ok(consul.requests.some((r) => r.token === "s3cret" && r.dc === "eu1"), "the token and datacenter were sent");
    } finally {
      await good.close();
      await consul.close();
    }
  });

  it("keeps the last state while the fake Consul is down, and follows it again when it is back", async () => {
    let consul = await startFakeConsul();
    const port = Number(new URL(consul.address).port);
    consul.register("api", { id: "a", address: "127.0.0.1", port: a.port });
    const gw = await start(consul, {}, api);
    try {
      await eventually(() => assert.deepEqual(inForce(gw), [`127.0.0.1:${a.port} 1`], "the instance is in force"));
      await consul.close();
      const p = await eventually(() => {
        const s = gw.gateway.providers()[0]!;
        assert.equal(s.state, "failed", "the provider reports Consul down");
        return s;
      });
      assert.match(p.lastError ?? "", /cannot reach Consul at http:\/\/127\.0\.0\.1:\d+ \((ECONNREFUSED|the connection was closed)\); retrying in \d+ ms; its last state stays in force/, "the error says what and that the state stays");
      assert.equal((await get(`${gw.url}/`)).body, "a", "the last state keeps serving");
      consul = await startFakeConsul({ port });
      consul.register("api", { id: "b", address: "127.0.0.1", port: b.port });
      await eventually(() => assert.deepEqual(inForce(gw), [`127.0.0.1:${b.port} 1`], "the state of the Consul that came back is followed"));
      assert.equal(gw.gateway.providers()[0]!.state, "ok", "the provider is ok again");
    } finally {
      await gw.close();
      await consul.close();
    }
  });
});
