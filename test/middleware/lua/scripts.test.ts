// The example scripts of scripts/lua/, each through a running gateway with real backends.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { loadLuaRuntime } from "../../../src/index.js";
import type { DivisorConfigInput } from "../../../src/config/schema.js";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../../helpers/net.js";

type Seen = { name: string; url: string; headers: Record<string, string> };

describe("example scripts (scripts/lua) through the gateway", () => {
  const backends: Record<string, TestBackend> = {};
  before(async () => {
    await loadLuaRuntime();
    for (const name of ["stable", "canary", "blue", "green", "site-a", "site-b", "api-eu", "api-us"]) {
      backends[name] = await startBackend((req, res) => {
        res.setHeader("server", "backend/1.0");
        res.setHeader("x-powered-by", "php/5");
        if (req.url?.startsWith("/account")) res.setHeader("cache-control", "private");
        res.end(JSON.stringify({ name, url: req.url, headers: req.headers }));
      });
    }
  });
  after(async () => {
    for (const b of Object.values(backends)) await b.close();
  });

  const services = (): DivisorConfigInput["services"] => Object.fromEntries(Object.entries(backends).map(([name, b]) => [name, { backends: [b.address] }]));

  async function withScript(file: string, extra: Record<string, unknown>, run: (gw: TestGateway) => Promise<void>, service = "stable"): Promise<void> {
    const gw = await startGateway({
      services: services(),
      middlewares: { script: { type: "lua", file: `scripts/lua/${file}`, ...extra } as never },
      routers: { all: { service, middlewares: ["script"] } },
    });
    try {
      await run(gw);
    } finally {
      await gw.close();
    }
  }

  const seen = (body: string): Seen => JSON.parse(body) as Seen;

  test("canary-header.lua sends requests with the header, and the configured share of the others, to the canary", async () => {
    await withScript("canary-header.lua", { services: ["canary"], vars: { canary: "canary", percentage: 25 } }, async (gw) => {
      const flagged = await get(`${gw.url}/`, { headers: { "x-canary": "1" } });
      assert.equal(seen(flagged.body).name, "canary", "the header picks the canary");
      const names: string[] = [];
      for (let i = 0; i < 8; i++) names.push(seen((await get(`${gw.url}/`)).body).name);
      assert.equal(names.filter((n) => n === "canary").length, 2, `25% of 8 unflagged requests go to the canary: ${names.join(",")}`);
    });
  });

  test("blue-green.lua flips every client from blue to green with a token, and refuses a wrong token", async () => {
    await withScript("blue-green.lua", { services: ["blue", "green"], vars: { blue: "blue", green: "green", live: "blue", token: "s3cret" } }, async (gw) => {
      assert.equal(seen((await get(`${gw.url}/`)).body).name, "blue", "blue is live at first");
      const refused = await get(`${gw.url}/`, { headers: { "x-deploy-flip": "green", "x-deploy-token": "nope" } });
      assert.equal(refused.status, 403, "a wrong token is refused");
      const flipped = await get(`${gw.url}/`, { headers: { "x-deploy-flip": "green", "x-deploy-token": "s3cret" } });
      assert.equal(flipped.status, 200, "the right token flips");
      assert.equal(seen((await get(`${gw.url}/`)).body).name, "green", "green is live after the flip");
      const unknown = await get(`${gw.url}/`, { headers: { "x-deploy-flip": "red", "x-deploy-token": "s3cret" } });
      assert.equal(unknown.status, 400, "a flip to a service that is neither side is refused");
    });
  });

  test("ab-cookie.lua keeps a client on the arm its cookie names and assigns new clients with a cookie", async () => {
    await withScript("ab-cookie.lua", { services: ["site-a", "site-b"], vars: { a: "site-a", b: "site-b" } }, async (gw) => {
      assert.equal(seen((await get(`${gw.url}/`, { headers: { cookie: "ab=a" } })).body).name, "site-a", "cookie ab=a");
      assert.equal(seen((await get(`${gw.url}/`, { headers: { cookie: "x=1; ab=b" } })).body).name, "site-b", "cookie ab=b");
      const fresh = await get(`${gw.url}/`);
      const cookie = String(fresh.headers["set-cookie"]);
      assert.match(cookie, /^ab=[ab]; Path=\/; HttpOnly$/, "a new client gets its arm as a cookie");
      const arm = cookie.slice(3, 4);
      assert.equal(seen(fresh.body).name, `site-${arm}`, "and was served by that arm");
      assert.equal((await get(`${gw.url}/`, { headers: { cookie: "ab=a" } })).headers["set-cookie"], undefined, "a client with a cookie gets none");
    });
  });

  test("maintenance.lua answers 503 with the page while on, and lets the bypass header through", async () => {
    await withScript("maintenance.lua", { vars: { maintenance: "on", bypass_header: "x-staff", retry_after: 120 } }, async (gw) => {
      const down = await get(`${gw.url}/shop`);
      assert.equal(down.status, 503, "maintenance answers 503");
      assert.equal(down.headers["retry-after"], "120", "with Retry-After");
      assert.match(down.body, /Down for maintenance/, "and the page");
      assert.equal(backends.stable!.seen.filter((r) => r.url === "/shop").length, 0, "the backend saw nothing");
      const staff = await get(`${gw.url}/shop`, { headers: { "x-staff": "1" } });
      assert.equal(seen(staff.body).name, "stable", "the bypass header reaches the backend");
    });
    await withScript("maintenance.lua", { vars: { maintenance: "off" } }, async (gw) => {
      assert.equal((await get(`${gw.url}/`)).status, 200, "off lets everything through");
    });
  });

  test("auth-header.lua refuses a missing or wrong token with 401 and strips a good one before the backend", async () => {
    await withScript("auth-header.lua", { vars: { tokens: "t1, t2" } }, async (gw) => {
      assert.equal((await get(`${gw.url}/`)).status, 401, "no token");
      const wrong = await get(`${gw.url}/`, { headers: { "x-api-token": "t3" } });
      assert.equal(wrong.status, 401, "wrong token");
      assert.equal(wrong.headers["www-authenticate"], "Token", "with a challenge");
      const ok = await get(`${gw.url}/`, { headers: { "x-api-token": "t2" } });
      assert.equal(ok.status, 200, "a listed token passes");
      assert.equal(seen(ok.body).headers["x-api-token"], undefined, "and is not forwarded");
    });
  });

  test("request-id.lua keeps a valid client id, replaces a bad one, and echoes it on the response", async () => {
    await withScript("request-id.lua", {}, async (gw) => {
      const kept = await get(`${gw.url}/`, { headers: { "x-request-id": "abc-123" } });
      assert.equal(seen(kept.body).headers["x-request-id"], "abc-123", "a valid id is kept");
      assert.equal(kept.headers["x-request-id"], "abc-123", "and echoed");
      const made = await get(`${gw.url}/`, { headers: { "x-request-id": "bad id with spaces" } });
      const id = seen(made.body).headers["x-request-id"]!;
      assert.match(id, /^[0-9a-f]+-[0-9a-f]+-[0-9a-f]{6}$/, `a bad id is replaced: ${id}`);
      assert.equal(made.headers["x-request-id"], id, "the made id is echoed");
      const other = seen((await get(`${gw.url}/`)).body).headers["x-request-id"];
      assert.notEqual(other, id, "each request gets its own id");
    });
  });

  test("tenant-routing.lua routes by the region header, else by the host's first label, else stays put", async () => {
    await withScript("tenant-routing.lua", { services: ["api-eu", "api-us"], vars: { region_eu: "api-eu", region_us: "api-us" } }, async (gw) => {
      const eu = await get(`${gw.url}/`, { headers: { "x-region": "EU" } });
      assert.equal(seen(eu.body).name, "api-eu", "x-region: EU");
      assert.equal(seen(eu.body).headers["x-routed-region"], "eu", "the region is passed on");
      assert.equal(seen((await get(`${gw.url}/`, { headers: { host: "us.example.com" } })).body).name, "api-us", "host us.example.com");
      assert.equal(seen((await get(`${gw.url}/`, { headers: { host: "www.example.com" } })).body).name, "stable", "an unknown region stays on the router's service");
    });
  });

  test("response-headers.lua removes stack headers, adds x-served-by and rewrites Cache-Control on /account", async () => {
    await withScript("response-headers.lua", { vars: { served_by: "edge-1" } }, async (gw) => {
      const res = await get(`${gw.url}/account/settings`);
      assert.equal(res.headers.server, undefined, "server removed");
      assert.equal(res.headers["x-powered-by"], undefined, "x-powered-by removed");
      assert.equal(res.headers["x-served-by"], "edge-1", "x-served-by added");
      assert.equal(res.headers["cache-control"], "no-store", "private became no-store on /account");
    });
  });

  test("header-rewrite.lua (the benchmark's script) sets the request headers and rewrites the response", async () => {
    await withScript("header-rewrite.lua", {}, async (gw) => {
      const res = await get(`${gw.url}/`, { headers: { host: "acme.example.com" } });
      assert.equal(seen(res.body).headers["x-api-version"], "2", "x-api-version defaults to 2");
      assert.equal(seen(res.body).headers["x-tenant"], "acme", "x-tenant is the host's first label");
      assert.equal(res.headers["x-served-by"], "divisor", "x-served-by set");
      assert.equal(res.headers["x-powered-by"], undefined, "x-powered-by removed");
      const given = await get(`${gw.url}/`, { headers: { host: "acme.example.com", "x-api-version": "1" } });
      assert.equal(seen(given.body).headers["x-api-version"], "1", "a client's x-api-version is kept");
    });
  });
});
