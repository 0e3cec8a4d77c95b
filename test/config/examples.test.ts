import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parse } from "yaml";
import { configJsonSchema } from "../../src/config/json-schema.js";
import { loadConfigFile, validateConfig } from "../../src/config/load.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const bundled = ["examples", "defaults"].flatMap((dir) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => join(dir, f)),
);
const validate = new Ajv2020({ allErrors: true, strict: true }).compile(configJsonSchema());

describe("bundled example configurations", () => {
  it("include the three documented examples", () => {
    for (const name of ["examples/minimal.yaml", "examples/multi-tenant.yaml", "examples/all-balancers.yaml"]) assert.ok(bundled.includes(name), name);
  });

  for (const file of bundled) {
    it(`${file} loads with the loader`, async () => {
      const config = await loadConfigFile(join(root, file), { env: {} });
      assert.ok(config.listeners.length > 0);
    });

    it(`${file} validates again to itself once loaded (the gateway re-validates what it is given)`, async () => {
      const config = await loadConfigFile(join(root, file), { env: {} });
      assert.deepEqual(validateConfig(structuredClone(config)), config);
    });

    it(`${file} validates against the JSON Schema as written`, () => {
      const document: unknown = parse(readFileSync(join(root, file), "utf8"), { merge: true });
      assert.ok(validate(document), JSON.stringify(validate.errors, null, 2));
    });
  }

  it("minimal.yaml loads to the documented defaults", async () => {
    const config = await loadConfigFile(join(root, "examples/minimal.yaml"), { env: {} });
    assert.deepEqual(config, {
      listeners: [
        {
          address: "127.0.0.1:8080",
          limits: { maxHeadSize: 16384, maxHeaders: 100, maxUrlLength: 8192 },
          timeouts: { header: 10_000, idle: 60_000, tunnelIdle: 3_600_000 },
          maxConnections: 0,
        },
      ],
      services: {
        app: {
          backends: [
            { address: "127.0.0.1:3001", weight: 1, maxConnections: 0 },
            { address: "127.0.0.1:3002", weight: 1, maxConnections: 0 },
          ],
          balancer: { algorithm: "round-robin" },
          preserveHost: true,
          protocol: "http1",
          timeouts: { connect: 5_000, response: 60_000 },
          retries: { attempts: 1, onStatus: [], budget: { ratio: 0.2, minPerSecond: 10 }, bufferBody: 65_536 },
          limits: { maxInFlight: 0, queueSize: 100, queueTimeout: 1_000 },
          circuitBreaker: {
            enabled: true,
            consecutiveFailures: 5,
            errorRatio: 0.5,
            minRequests: 20,
            window: 10_000,
            openDuration: 5_000,
            maxOpenDuration: 60_000,
            halfOpenRequests: 1,
            maxEjectedShare: 0.5,
            failureStatuses: [502, 503, 504],
          },
          serviceBreaker: {
            enabled: false,
            consecutiveFailures: 20,
            errorRatio: 0.5,
            minRequests: 50,
            window: 10_000,
            openDuration: 5_000,
            maxOpenDuration: 60_000,
            halfOpenRequests: 3,
          },
          pool: { maxConnections: 0, maxIdle: 64, idleTimeout: 30_000 },
        },
      },
      routers: { all: { match: {}, service: "app", middlewares: [] } },
      tenants: {},
      middlewares: {},
      plugins: [],
      proxy: { trustedProxies: [], forwardedHeaders: true, forwarded: false },
      shutdown: { gracePeriod: 30_000 },
      metrics: { enabled: true, buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], process: true },
      logging: { level: "info", components: {}, format: "auto" },
      providers: [],
    });
  });

  it("all-balancers.yaml turns every duration into milliseconds and keeps every algorithm's options", async () => {
    const config = await loadConfigFile(join(root, "examples/all-balancers.yaml"), { env: { DEPLOY_ENV: "staging" } });
    assert.deepEqual(config.listeners[0]!.timeouts, { header: 15_000, idle: 120_000, tunnelIdle: 3_600_000 });
    assert.deepEqual(config.services.ewma!.balancer, { algorithm: "p2c-ewma", decay: 5_000 });
    assert.deepEqual(config.services["by-user"]!.balancer, { algorithm: "consistent-hash", key: { source: "header", name: "X-User-Id" }, method: "maglev" });
    assert.deepEqual(config.services["by-session"]!.timeouts, { connect: 1_500, response: 30_000 });
    assert.deepEqual(config.middlewares["env-header"], { type: "headers", request: { add: { "X-Env": "staging" }, remove: ["Cookie"] } });
    const algorithms = new Set(Object.values(config.services).map((s) => s.balancer.algorithm));
    assert.equal(algorithms.size, 6);
  });

  it("multi-tenant.yaml substitutes the default of an unset variable", async () => {
    const config = await loadConfigFile(join(root, "examples/multi-tenant.yaml"), { env: {} });
    assert.equal(config.proxy.via, "divisor");
    assert.deepEqual(config.tenants.acme!.hosts, ["acme.example", "*.acme.example"]);
  });
});

describe("the JSON Schema", () => {
  const doc = (timeouts: unknown) => ({ listeners: [{ address: "127.0.0.1:8080", timeouts }] });

  it("accepts durations as strings with a unit or as numbers", () => {
    assert.ok(validate(doc({ idle: "10s", header: 2500 })));
    assert.equal(validate(doc({ idle: "10 sec" })), false);
  });

  it("rejects unknown keys like the loader does", () => {
    assert.equal(validate({ listeners: [{ address: "127.0.0.1:8080" }], servics: {} }), false);
  });
});
