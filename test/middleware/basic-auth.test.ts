import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes, scryptSync } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import bcrypt from "bcryptjs";
import { createGateway } from "../../src/gateway/gateway.js";
import { ConfigError } from "../../src/errors.js";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

const run = promisify(execFile);

function scryptHash(password: string): string {
  const salt = randomBytes(16);
  const hash = scryptSync(password, salt, 32, { N: 16384, r: 8, p: 1 });
  return `$scrypt$N=16384,r=8,p=1$${salt.toString("base64")}$${hash.toString("base64")}`;
}

const basic = (user: string, password: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}` });

describe("basic-auth", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startBackend((req, res) => res.end(JSON.stringify({ headers: req.headers })));
    gw = await startGateway({
      admin: { address: "127.0.0.1:0" },
      services: { app: { backends: [backend.address] } },
      middlewares: {
        staff: {
          type: "basic-auth",
          realm: "staff area",
          users: { alice: bcrypt.hashSync("wonderland", 4), bob: scryptHash("builder"), carol: bcrypt.hashSync("x", 4).replace(/^\$2b\$/, "$2y$") },
          userHeader: "x-auth-user",
        },
        keep: { type: "basic-auth", users: { alice: bcrypt.hashSync("wonderland", 4) }, removeHeader: false, cache: { size: 0 } },
      },
      routers: {
        keep: { match: { path: { prefix: "/keep" } }, service: "app", middlewares: ["keep"] },
        all: { service: "app", middlewares: ["staff"] },
      },
    });
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test("a request without credentials gets 401 with a Basic challenge naming the realm", async () => {
    const res = await get(`${gw.url}/`);
    assert.equal(res.status, 401);
    assert.equal(res.headers["www-authenticate"], 'Basic realm="staff area", charset="UTF-8"');
  });

  test("a bcrypt user passes through curl -u, the backend gets the user name and no Authorization header", async () => {
    const { stdout } = await run("curl", ["-s", "-u", "alice:wonderland", `${gw.url}/`]);
    const seen = JSON.parse(stdout).headers;
    assert.equal(seen["x-auth-user"], "alice");
    assert.equal(seen.authorization, undefined);
  });

  test("scrypt and $2y$ bcrypt hashes are accepted, and a second request is answered from the cache", async () => {
    for (let i = 0; i < 2; i++) {
      assert.equal(JSON.parse((await get(`${gw.url}/`, { headers: basic("bob", "builder") })).body).headers["x-auth-user"], "bob");
    }
    assert.equal((await get(`${gw.url}/`, { headers: basic("carol", "x") })).status, 200);
  });

  test("a wrong password, an unknown user, another user's password and a malformed header are refused", async () => {
    assert.equal((await get(`${gw.url}/`, { headers: basic("alice", "nope") })).status, 401);
    assert.equal((await get(`${gw.url}/`, { headers: basic("mallory", "wonderland") })).status, 401);
    assert.equal((await get(`${gw.url}/`, { headers: basic("bob", "wonderland") })).status, 401);
    assert.equal((await get(`${gw.url}/`, { headers: { authorization: "Basic !!!" } })).status, 401);
    assert.equal((await get(`${gw.url}/`, { headers: { authorization: "Bearer abc" } })).status, 401);
  });

  test("a client cannot name itself to the backend through the user header", async () => {
    const seen = JSON.parse((await get(`${gw.url}/`, { headers: { ...basic("bob", "builder"), "x-auth-user": "root" } })).body).headers;
    assert.equal(seen["x-auth-user"], "bob");
  });

  test("removeHeader: false keeps the Authorization header for the backend", async () => {
    const seen = JSON.parse((await get(`${gw.url}/keep`, { headers: basic("alice", "wonderland") })).body).headers;
    assert.match(seen.authorization, /^Basic /);
  });

  test("decisions are counted in divisor_auth_decisions_total by middleware and result", async () => {
    const before = parseExposition((await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`)).body, "text");
    const allowed = sampleValue(before, "divisor_auth_decisions_total", { middleware: "staff", result: "allowed" }) ?? 0;
    const invalid = sampleValue(before, "divisor_auth_decisions_total", { middleware: "staff", result: "invalid" }) ?? 0;
    await get(`${gw.url}/`, { headers: basic("alice", "wonderland") });
    await get(`${gw.url}/`, { headers: basic("alice", "bad") });
    const families = parseExposition((await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`)).body, "text");
    assert.equal(sampleValue(families, "divisor_auth_decisions_total", { middleware: "staff", result: "allowed" }), allowed + 1);
    assert.equal(sampleValue(families, "divisor_auth_decisions_total", { middleware: "staff", result: "invalid" }), invalid + 1);
    assert.ok((sampleValue(families, "divisor_auth_decisions_total", { middleware: "staff", result: "missing" }) ?? 0) >= 1);
  });

  test("a plain-text password is refused at config time with a message that says how to fix it", () => {
    assert.throws(
      () => createGateway({ listeners: [{ address: "127.0.0.1:0" }], middlewares: { m: { type: "basic-auth", users: { alice: "secret" } } } }),
      (err: unknown) => err instanceof ConfigError && /middlewares\.m\.users\.alice/.test(err.message) && /plain-text passwords are refused/.test(err.message) && !/secret"/.test(err.message),
    );
  });
});
