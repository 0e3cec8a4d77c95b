import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { createGateway } from "../../src/gateway/gateway.js";
import { definePlugin } from "../../src/middleware/plugin.js";
import { ConfigError } from "../../src/errors.js";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

/** A plugin that refuses requests without a key and counts both outcomes. */
const keyCheck = definePlugin({
  name: "key-check",
  schema: z.object({ key: z.string() }),
  create: ({ key }, { metrics }) => {
    const decisions = metrics.counter("divisor_test_key_checks", "Key checks by result.", ["result"]);
    const allowed = decisions.labels("allowed");
    const refused = decisions.labels("refused");
    const last = metrics.gauge("divisor_test_last_key_length", "Length of the last key seen.").labels();
    return {
      onRequest(ex) {
        const given = ex.request.headers.get("x-key") ?? "";
        last.set(given.length);
        if (given === key) {
          allowed.inc();
          return;
        }
        refused.inc();
        return ex.respond(401, "no\n");
      },
    };
  },
});

async function scrape(gw: TestGateway) {
  const res = await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`);
  assert.equal(res.status, 200);
  return parseExposition(res.body, "text");
}

describe("metrics declared by middlewares", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  const config = (key: string) => ({
    admin: { address: "127.0.0.1:0" },
    services: { app: { backends: [backend.address] } },
    middlewares: { auth: { type: "plugin" as const, plugin: "key-check", options: { key } } },
    routers: { all: { service: "app", middlewares: ["auth"] } },
  });

  before(async () => {
    backend = await startBackend();
    gw = await startGateway(config("k1"), [keyCheck]);
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test("are served at /metrics with the middleware's name, parsed by the reference parser, and kept across reloads", async () => {
    assert.equal((await get(`${gw.url}/`, { headers: { "x-key": "k1" } })).status, 200);
    assert.equal((await get(`${gw.url}/`)).status, 401);
    assert.equal((await get(`${gw.url}/`, { headers: { "x-key": "bad" } })).status, 401);
    let families = await scrape(gw);
    assert.equal(sampleValue(families, "divisor_test_key_checks_total", { middleware: "auth", result: "allowed" }), 1);
    assert.equal(sampleValue(families, "divisor_test_key_checks_total", { middleware: "auth", result: "refused" }), 2);
    assert.equal(sampleValue(families, "divisor_test_last_key_length", { middleware: "auth" }), 3);

    await gw.gateway.reload({ listeners: [{ address: "127.0.0.1:0" }], ...config("k2") });
    assert.equal((await get(`${gw.url}/`, { headers: { "x-key": "k2" } })).status, 200);
    families = await scrape(gw);
    assert.equal(sampleValue(families, "divisor_test_key_checks_total", { middleware: "auth", result: "allowed" }), 2);
  });

  test("a family declared again with other labels is a config error naming the middleware", () => {
    const clash = definePlugin({
      name: "clash",
      create: (_o, { metrics }) => {
        metrics.gauge("divisor_test_key_checks", "Same name, other type.");
        return {};
      },
    });
    const make = () =>
      createGateway(
        {
          listeners: [{ address: "127.0.0.1:0" }],
          services: { app: { backends: [backend.address] } },
          middlewares: {
            a: { type: "plugin", plugin: "key-check", options: { key: "x" } },
            b: { type: "plugin", plugin: "clash" },
          },
          routers: { all: { service: "app", middlewares: ["a", "b"] } },
        },
        { plugins: [keyCheck, clash] },
      );
    assert.throws(make, (err: unknown) => err instanceof ConfigError && /middlewares\.b/.test(err.message) && /already declared as a counter/.test(err.message));
  });

  test("a counter named with _total is refused", () => {
    const bad = definePlugin({
      name: "bad",
      create: (_o, { metrics }) => {
        metrics.counter("divisor_test_things_total", "Things.");
        return {};
      },
    });
    assert.throws(
      () =>
        createGateway(
          {
            listeners: [{ address: "127.0.0.1:0" }],
            services: { app: { backends: [backend.address] } },
            middlewares: { m: { type: "plugin", plugin: "bad" } },
            routers: { all: { service: "app", middlewares: ["m"] } },
          },
          { plugins: [bad] },
        ),
      /without "_total"/,
    );
  });
});
