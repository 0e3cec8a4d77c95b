import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { ConfigError } from "../../src/errors.js";
import { createGateway } from "../../src/gateway/gateway.js";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

const run = promisify(execFile);
const ACME = "acme-0123456789abcdef";
const GLOBEX = "globex-fedcba9876543210";

describe("api-key", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startBackend((req, res) => res.end(JSON.stringify({ url: req.url, headers: req.headers })));
    gw = await startGateway({
      admin: { address: "127.0.0.1:0" },
      services: { app: { backends: [backend.address] } },
      middlewares: {
        header: { type: "api-key", keys: [{ name: "acme", key: ACME }, { name: "globex", sha256: createHash("sha256").update(GLOBEX).digest("hex") }] },
        query: { type: "api-key", query: "api_key", keys: [{ name: "acme", key: ACME }], nameHeader: "x-client" },
        keep: { type: "api-key", header: "x-token", keys: [{ name: "acme", key: ACME }], removeKey: false },
      },
      routers: {
        query: { match: { path: { prefix: "/q" } }, service: "app", middlewares: ["query"] },
        keep: { match: { path: { prefix: "/keep" } }, service: "app", middlewares: ["keep"] },
        all: { service: "app", middlewares: ["header"] },
      },
    });
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test("a key in the header passes with its name to the backend and without the key", async () => {
    const { stdout } = await run("curl", ["-s", "-H", `x-api-key: ${ACME}`, "-H", "x-api-key-name: root", `${gw.url}/`]);
    const seen = JSON.parse(stdout).headers;
    assert.equal(seen["x-api-key-name"], "acme");
    assert.equal(seen["x-api-key"], undefined);
  });

  test("a key given as its SHA-256 digest is accepted", async () => {
    assert.equal(JSON.parse((await get(`${gw.url}/`, { headers: { "x-api-key": GLOBEX } })).body).headers["x-api-key-name"], "globex");
  });

  test("a missing key and a wrong key get 401 and do not reach the backend", async () => {
    const missing = await get(`${gw.url}/`);
    assert.equal(missing.status, 401);
    assert.match(missing.body, /header x-api-key/);
    assert.equal((await get(`${gw.url}/`, { headers: { "x-api-key": "wrong-key-0000000000" } })).status, 401);
  });

  test("a key in a query parameter is removed from the query the backend gets, other parameters kept", async () => {
    const seen = JSON.parse((await get(`${gw.url}/q/items?a=1&api_key=${encodeURIComponent(ACME)}&b=2`)).body);
    assert.equal(seen.url, "/q/items?a=1&b=2");
    assert.equal(seen.headers["x-client"], "acme");
    assert.equal(JSON.parse((await get(`${gw.url}/q?api_key=${ACME}`)).body).url, "/q");
    assert.equal((await get(`${gw.url}/q?api_key=nope&x=${ACME}`)).status, 401);
    assert.equal((await get(`${gw.url}/q?xapi_key=${ACME}`)).status, 401);
  });

  test("removeKey: false keeps the key for the backend", async () => {
    assert.equal(JSON.parse((await get(`${gw.url}/keep`, { headers: { "x-token": ACME } })).body).headers["x-token"], ACME);
  });

  test("decisions are counted in divisor_auth_decisions_total", async () => {
    const families = parseExposition((await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`)).body, "text");
    assert.ok((sampleValue(families, "divisor_auth_decisions_total", { middleware: "header", result: "allowed" }) ?? 0) >= 2);
    assert.ok((sampleValue(families, "divisor_auth_decisions_total", { middleware: "header", result: "missing" }) ?? 0) >= 1);
    assert.ok((sampleValue(families, "divisor_auth_decisions_total", { middleware: "header", result: "invalid" }) ?? 0) >= 1);
  });

  test("a short key is refused at config time without echoing it, and key and sha256 go alone", () => {
    const config = (entry: Record<string, string>) => ({ listeners: [{ address: "127.0.0.1:0" }], middlewares: { k: { type: "api-key" as const, keys: [{ name: "a", ...entry }] } } });
    assert.throws(
      () => createGateway(config({ key: "short-secret" })),
      (err: unknown) => err instanceof ConfigError && /at least 16 characters/.test(err.message) && !err.message.includes("short-secret"),
    );
    assert.throws(() => createGateway(config({})), (err: unknown) => err instanceof ConfigError && /exactly one of key and sha256/.test(err.message));
  });
});
