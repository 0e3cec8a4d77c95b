import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { loadConfigFile } from "../../src/config/load.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { adminCall } from "../helpers/admin.js";
import { freePort, get, RawClient, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

type ErrorBody = { error: { code: string; message: string; issues?: { path: string; line: number; message: string }[] } };

describe("admin API state endpoints", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  let admin: string;

  before(async () => {
    backend = await startBackend();
    gw = await startGateway({
      listeners: [{ name: "web", address: "127.0.0.1:0" }],
      admin: { address: "127.0.0.1:0" },
      services: {
        api: { backends: [backend.address, { address: "127.0.0.1:1", weight: 3 }], balancer: { algorithm: "least-connections" }, circuitBreaker: { consecutiveFailures: 1 } },
        web: { backends: [backend.address] },
      },
      middlewares: { strip: { type: "strip-prefix", prefixes: ["/api"] } },
      routers: {
        api: { match: { path: { prefix: "/api" } }, service: "api", middlewares: ["strip"] },
        catchall: { service: "web" },
        "api-get": { match: { path: { prefix: "/api" }, methods: ["GET"] }, service: "api", priority: 5 },
      },
      tenants: { acme: { hosts: ["acme.example.com"], routers: { shop: { service: "web" } } } },
    });
    admin = `http://127.0.0.1:${gw.gateway.adminAddress!.port}`;
  });

  after(async () => {
    await gw.close();
    await backend.close();
  });

  test("GET /api/routers lists the compiled routers in precedence order", async () => {
    const res = await adminCall(admin, "GET", "/api/routers");
    assert.equal(res.status, 200);
    const routers = (res.body as { routers: { rank: number; name: string; tenant: string | null; hosts: string[]; match: unknown; middlewares: string[]; service: string; priority: number }[] }).routers;
    assert.deepEqual(
      routers.map((r) => r.name),
      ["api-get", "acme/shop", "api", "catchall"],
      "priority first, then the most specific host",
    );
    assert.deepEqual(routers[2], { rank: 3, name: "api", tenant: null, hosts: ["*"], match: { path: { prefix: "/api" } }, priority: 0, middlewares: ["strip"], service: "api", split: null });
    assert.deepEqual(routers[1]!.hosts, ["acme.example.com"]);
    assert.equal(routers[1]!.tenant, "acme");
    assert.equal(routers[0]!.priority, 5);
  });

  test("GET /api/services shows each service and its backends' state, with why a backend is out", async () => {
    // One request to the dead backend (127.0.0.1:1) opens its breaker (consecutiveFailures: 1).
    for (let i = 0; i < 4; i++) await get(`${gw.url}/api/x`, { method: "POST" });
    const res = await adminCall(admin, "GET", "/api/services");
    const services = (res.body as { services: { name: string; balancer: string; backends: Record<string, unknown>[] }[] }).services;
    assert.deepEqual(
      services.map((s) => s.name),
      ["api", "web"],
    );
    const api = services[0]!;
    assert.equal(api.balancer, "least-connections");
    assert.deepEqual(Object.keys(api).sort(), ["backends", "balancer", "breaker", "healthCheck", "inFlight", "name", "queued", "recentRetries", "sticky"]);
    const [up, dead] = api.backends as { address: string; available: boolean; unavailableBecause: string[]; circuit: { state: string }; weight: number; connections: { idle: number } }[];
    assert.equal(up!.address, backend.address);
    assert.equal(up!.available, true);
    assert.equal(up!.connections.idle, 1, "the keep-alive connection waits in the pool");
    assert.deepEqual(Object.keys(up!).sort(), ["address", "adminState", "available", "circuit", "connections", "effectiveWeight", "ewmaLatencyMs", "health", "inFlight", "unavailableBecause", "weight"]);
    assert.equal(dead!.address, "127.0.0.1:1");
    assert.equal(dead!.weight, 3);
    assert.equal(dead!.available, false);
    assert.deepEqual(dead!.unavailableBecause, ["circuit"]);
    assert.equal(dead!.circuit.state, "open");
    const one = await adminCall(admin, "GET", "/api/services/web");
    assert.equal(one.status, 200);
    assert.equal((one.body as { name: string }).name, "web");
  });

  test("GET /api/listeners counts open connections, accepted ones and requests in flight", async () => {
    const raw = new RawClient(gw.port);
    await raw.ready;
    const res = await adminCall(admin, "GET", "/api/listeners");
    const [web] = (res.body as { listeners: { name: string; address: string; bound: string; protocol: string; connections: number; accepted: number; requestsInFlight: number }[] }).listeners;
    assert.equal(web!.name, "web");
    assert.equal(web!.address, "127.0.0.1:0");
    assert.equal(web!.bound, `127.0.0.1:${gw.port}`);
    assert.equal(web!.protocol, "http");
    assert.ok(web!.connections >= 1, "the raw client's connection is open");
    assert.ok(web!.accepted >= 2);
    assert.equal(web!.requestsInFlight, 0);
    raw.destroy();
  });

  test("GET /api/runtime reports the process and the reloads", async () => {
    const res = await adminCall(admin, "GET", "/api/runtime");
    const r = res.body as Record<string, unknown> & { memory: { rssBytes: number }; reloads: { success: number; lastResult: string | null }; eventLoopDelay: { p99Ms: number } };
    assert.equal(r.pid, process.pid);
    assert.equal(r.node, process.versions.node);
    assert.ok(r.memory.rssBytes > 10_000_000);
    assert.equal(typeof r.eventLoopDelay.p99Ms, "number");
    for (const key of ["version", "uptimeSeconds", "cpu", "activeResources", "requestsInFlight", "connections", "eventLoopUtilization"]) assert.ok(key in r, key);
    assert.equal(typeof r.reloads.success, "number");
  });
});

describe("POST /api/reload", () => {
  let backend: TestBackend;
  let dir: string;
  before(async () => {
    backend = await startBackend();
    dir = mkdtempSync(join(tmpdir(), "divisor-admin-reload-"));
  });
  after(async () => {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const yaml = (services: string, routers: string) => `listeners:\n  - address: 127.0.0.1:0\nadmin:\n  address: 127.0.0.1:0\nservices:\n${services}\nrouters:\n${routers}\n`;

  test("without a source, takes the configuration in the body and answers what changed", async () => {
    const gw = await startGateway({ admin: { address: "127.0.0.1:0" }, services: { old: { backends: [backend.address] } }, routers: { old: { service: "old" } } });
    try {
      const admin = `http://127.0.0.1:${gw.gateway.adminAddress!.port}`;
      const body = yaml(`  old:\n    backends: [${backend.address}]\n  fresh:\n    backends: [${backend.address}]`, "  fresh:\n    service: fresh");
      const res = await adminCall(admin, "POST", "/api/reload", { body });
      assert.equal(res.status, 200, res.text);
      const changes = (res.body as { status: string; changes: Record<string, { added: string[]; removed: string[]; changed: string[] }> }).changes;
      assert.deepEqual(changes.services, { added: ["fresh"], removed: [], changed: [] });
      assert.deepEqual(changes.routers, { added: ["fresh"], removed: ["old"], changed: [] });
      assert.deepEqual(changes.listeners, { added: [], removed: [], changed: [] });
      assert.equal((await get(`${gw.url}/`)).status, 200);
      assert.deepEqual(Object.keys(gw.gateway.config.services), ["old", "fresh"]);
      const families = parseExposition((await adminCall(admin, "GET", "/metrics")).text, "text");
      assert.equal(sampleValue(families, "divisor_config_reloads_total", { result: "success" }), 1);
    } finally {
      await gw.close();
    }
  });

  test("an invalid configuration is 422 with located problems, and the running one stays", async () => {
    const gw = await startGateway({ admin: { address: "127.0.0.1:0" }, services: { old: { backends: [backend.address] } }, routers: { old: { service: "old" } } });
    try {
      const admin = `http://127.0.0.1:${gw.gateway.adminAddress!.port}`;
      const before = gw.gateway.config;
      const res = await adminCall(admin, "POST", "/api/reload", { body: yaml(`  old:\n    backends: [${backend.address}]`, "  old:\n    service: olf") });
      assert.equal(res.status, 422);
      const error = (res.body as ErrorBody).error;
      assert.equal(error.code, "ERR_CONFIG_INVALID");
      assert.match(error.message, /the running configuration stays in force/);
      assert.equal(error.issues![0]!.path, "routers.old.service");
      assert.equal(error.issues![0]!.line, 10);
      assert.match(error.issues![0]!.message, /did you mean "old"/);
      assert.equal(gw.gateway.config, before);
      const bad = await adminCall(admin, "POST", "/api/reload", { body: "listeners: [" });
      assert.equal(bad.status, 422);
      assert.match((bad.body as ErrorBody).error.issues![0]!.message, /YAML syntax/);
      const families = parseExposition((await adminCall(admin, "GET", "/metrics")).text, "text");
      assert.equal(sampleValue(families, "divisor_config_reloads_total", { result: "failure" }), 2);
      const empty = await adminCall(admin, "POST", "/api/reload");
      assert.equal(empty.status, 400);
      assert.match((empty.body as ErrorBody).error.message, /send the new configuration, YAML or JSON, as the request body/);
    } finally {
      await gw.close();
    }
  });

  test("a listener that cannot bind refuses the reload with 422, and the running listeners stay", async () => {
    const gw = await startGateway({ admin: { address: "127.0.0.1:0" }, services: { old: { backends: [backend.address] } }, routers: { old: { service: "old" } } });
    try {
      const admin = `http://127.0.0.1:${gw.gateway.adminAddress!.port}`;
      const taken = `127.0.0.1:${backend.port}`;
      const body = `listeners:\n  - address: 127.0.0.1:0\n  - address: ${taken}\nadmin:\n  address: 127.0.0.1:0\nservices:\n  old:\n    backends: [${backend.address}]\nrouters:\n  old:\n    service: old\n`;
      const res = await adminCall(admin, "POST", "/api/reload", { body });
      assert.equal(res.status, 422, res.text);
      assert.equal((res.body as ErrorBody).error.code, "ERR_RELOAD_EADDRINUSE");
      assert.match((res.body as ErrorBody).error.message, /the running configuration stays in force/);
      assert.equal(gw.gateway.config.listeners.length, 1);
      assert.equal((await get(`${gw.url}/`)).status, 200);
    } finally {
      await gw.close();
    }
  });

  test("a reload that moves the admin listener still answers, then serves on the new address", async () => {
    const gw = await startGateway({ admin: { address: "127.0.0.1:0" }, services: { old: { backends: [backend.address] } }, routers: { old: { service: "old" } } });
    try {
      const oldPort = gw.gateway.adminAddress!.port;
      const newPort = await freePort();
      const body = `listeners:\n  - address: 127.0.0.1:0\nadmin:\n  address: 127.0.0.1:${newPort}\nservices:\n  old:\n    backends: [${backend.address}]\nrouters:\n  old:\n    service: old\n`;
      const res = await adminCall(`http://127.0.0.1:${oldPort}`, "POST", "/api/reload", { body });
      assert.equal(res.status, 200, res.text);
      assert.equal(gw.gateway.adminAddress!.port, newPort);
      assert.equal((await adminCall(`http://127.0.0.1:${newPort}`, "GET", "/api/runtime")).status, 200);
      const refused = await new Promise<string>((resolve) => {
        const socket = net.connect(oldPort, "127.0.0.1", () => {
          socket.destroy();
          resolve("connected");
        });
        socket.on("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "error"));
      });
      assert.equal(refused, "ECONNREFUSED", "the old admin address accepts no new connection");
    } finally {
      await gw.close();
    }
  });

  test("with a source (GatewayOptions.loadConfig), re-reads it; a body is refused", async () => {
    const file = join(dir, "divisor.yaml");
    writeFileSync(file, yaml(`  one:\n    backends: [${backend.address}]`, "  one:\n    service: one"));
    let gateway: Gateway | undefined;
    try {
      gateway = createGateway(await loadConfigFile(file), { source: file, loadConfig: () => loadConfigFile(file) });
      await gateway.listen();
      const admin = `http://127.0.0.1:${gateway.adminAddress!.port}`;
      writeFileSync(file, yaml(`  two:\n    backends: [${backend.address}]`, "  two:\n    service: two"));
      const res = await adminCall(admin, "POST", "/api/reload");
      assert.equal(res.status, 200, res.text);
      assert.deepEqual((res.body as { changes: { services: unknown } }).changes.services, { added: ["two"], removed: ["one"], changed: [] });
      assert.deepEqual(Object.keys(gateway.config.services), ["two"]);
      writeFileSync(file, "listeners: []\n");
      const refused = await adminCall(admin, "POST", "/api/reload");
      assert.equal(refused.status, 422);
      assert.equal((refused.body as ErrorBody).error.issues![0]!.path, "listeners");
      assert.deepEqual(Object.keys(gateway.config.services), ["two"]);
      const withBody = await adminCall(admin, "POST", "/api/reload", { body: "listeners: []" });
      assert.equal(withBody.status, 400);
      assert.match((withBody.body as ErrorBody).error.message, /reloads from its configuration source/);
      const runtime = (await adminCall(admin, "GET", "/api/runtime")).body as { reloads: { success: number; failure: number; lastResult: string } };
      assert.deepEqual([runtime.reloads.success, runtime.reloads.failure, runtime.reloads.lastResult], [1, 1, "failure"]);
    } finally {
      await gateway?.close({ gracePeriodMs: 500 });
    }
  });
});
