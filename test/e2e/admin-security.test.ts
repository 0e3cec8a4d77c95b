import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { definePlugin } from "../../src/middleware/plugin.js";
import { adminCall, nonLoopbackAddress } from "../helpers/admin.js";
import { startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";

const OPS = "ops-token-0123456789abcdef";
const VIEWER = "viewer-token-0123456789abcdef";
const ACME = "acme-token-0123456789abcdef";
const ACME_VIEWER = "acme-viewer-token-0123456789ab";
const SECRETS = {
  apiKey: "plugin-api-key-7f3a9c",
  password: "plugin-password-51be02",
  clientSecret: "plugin-client-secret-c0ffee",
  authorization: "Bearer header-secret-9d8e7f",
};

type ErrorBody = { error: { code: string; message: string } };

describe("admin API security, called from a non-loopback address", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  let base: string;

  before(async () => {
    backend = await startBackend();
    const vault = definePlugin({ name: "vault", schema: z.unknown(), create: () => ({}) });
    gw = await startGateway(
      {
        admin: {
          address: "0.0.0.0:0",
          tokens: [
            { name: "ops", token: OPS },
            { name: "viewer", token: VIEWER, readOnly: true },
            { name: "acme", token: ACME, tenant: "acme" },
            { name: "acme-viewer", token: ACME_VIEWER, tenant: "acme", readOnly: true },
          ],
        },
        services: {
          api: { backends: [backend.address] },
          shop: { backends: [backend.address] },
          internal: { backends: [backend.address] },
        },
        middlewares: {
          vault: { type: "plugin", plugin: "vault", options: { apiKey: SECRETS.apiKey, password: SECRETS.password, nested: { clientSecret: SECRETS.clientSecret } } },
          "acme-auth": { type: "headers", request: { set: { authorization: SECRETS.authorization } } },
        },
        routers: {
          api: { match: { path: { prefix: "/api" } }, service: "api", middlewares: ["vault"] },
          internal: { match: { path: { prefix: "/internal" } }, service: "internal" },
        },
        tenants: { acme: { hosts: ["acme.example.com"], routers: { shop: { service: "shop", middlewares: ["acme-auth"] } } } },
      },
      [vault],
    );
    base = `http://${nonLoopbackAddress()}:${gw.gateway.adminAddress!.port}`;
  });

  after(async () => {
    await gw.close();
    await backend.close();
  });

  test("refuses a request without a token with 401 and says how to send one", async () => {
    const res = await adminCall(base, "GET", "/api/services");
    assert.equal(res.status, 401);
    assert.equal((res.body as ErrorBody).error.code, "ERR_ADMIN_UNAUTHORIZED");
    assert.match((res.body as ErrorBody).error.message, /Authorization: Bearer/);
    assert.match(String(res.headers["www-authenticate"]), /^Bearer/);
  });

  test("refuses a wrong token with 401", async () => {
    for (const token of ["not-the-token-0123456789", `${OPS}x`, OPS.slice(0, -1)]) {
      const res = await adminCall(base, "GET", "/api/services", { token });
      assert.equal(res.status, 401, token);
    }
  });

  test("answers a good token with 200 on every read endpoint", async () => {
    for (const path of ["/api", "/api/config", "/api/routers", "/api/services", "/api/services/api", "/api/listeners", "/api/runtime", "/metrics"]) {
      const res = await adminCall(base, "GET", path, { token: OPS });
      assert.equal(res.status, 200, `${path}: ${res.text}`);
    }
  });

  test("a read-only token reads but cannot PUT or POST", async () => {
    assert.equal((await adminCall(base, "GET", "/api/services", { token: VIEWER })).status, 200);
    const put = await adminCall(base, "PUT", `/api/services/api/backends/${encodeURIComponent(backend.address)}`, { token: VIEWER, body: '{"state":"drain"}' });
    assert.equal(put.status, 403);
    assert.equal((put.body as ErrorBody).error.code, "ERR_ADMIN_READ_ONLY");
    const post = await adminCall(base, "POST", "/api/reload", { token: VIEWER, body: "listeners: [{address: 127.0.0.1:0}]" });
    assert.equal(post.status, 403);
    assert.equal((post.body as ErrorBody).error.code, "ERR_ADMIN_READ_ONLY");
    assert.equal(gw.gateway.backends().find((b) => b.service === "api")!.adminState, "active", "nothing changed");
  });

  test("a tenant token sees only its tenant's services, routers and config", async () => {
    const services = (await adminCall(base, "GET", "/api/services", { token: ACME })).body as { services: { name: string }[] };
    assert.deepEqual(
      services.services.map((s) => s.name),
      ["shop"],
    );
    const routers = (await adminCall(base, "GET", "/api/routers", { token: ACME })).body as { routers: { name: string; tenant: string }[] };
    assert.deepEqual(
      routers.routers.map((r) => [r.name, r.tenant]),
      [["acme/shop", "acme"]],
    );
    const config = await adminCall(base, "GET", "/api/config", { token: ACME });
    assert.equal(config.status, 200);
    const body = config.body as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.keys(body.tenants!), ["acme"]);
    assert.deepEqual(Object.keys(body.services!), ["shop"]);
    assert.deepEqual(Object.keys(body.middlewares!), ["acme-auth"]);
    for (const hidden of ["internal", "vault", '"api"', "admin", "listeners", OPS]) assert.ok(!config.text.includes(hidden), `the tenant's config does not show ${hidden}`);
  });

  test("another tenant's or the gateway's service is 404 to a tenant token, as if it did not exist", async () => {
    for (const name of ["internal", "api", "nope"]) {
      const res = await adminCall(base, "GET", `/api/services/${name}`, { token: ACME });
      assert.equal(res.status, 404, name);
      const message = (res.body as ErrorBody).error.message;
      assert.equal(message, `no service "${name}"; services: shop`, "the same answer for a service that exists elsewhere and one that does not");
    }
    const full = await adminCall(base, "GET", "/api/services/nope", { token: OPS });
    assert.equal((full.body as ErrorBody).error.message, 'no service "nope"; services: api, shop, internal');
    const put = await adminCall(base, "PUT", `/api/services/internal/backends/${encodeURIComponent(backend.address)}`, { token: ACME, body: '{"state":"maintenance"}' });
    assert.equal(put.status, 404);
    assert.equal(gw.gateway.backends().find((b) => b.service === "internal")!.adminState, "active");
  });

  test("a tenant token changes its own service's backends; a read-only tenant token cannot", async () => {
    const path = `/api/services/shop/backends/${encodeURIComponent(backend.address)}`;
    assert.equal((await adminCall(base, "PUT", path, { token: ACME_VIEWER, body: '{"state":"drain"}' })).status, 403);
    const res = await adminCall(base, "PUT", path, { token: ACME, body: '{"state":"drain"}' });
    assert.equal(res.status, 200, res.text);
    assert.equal(gw.gateway.backends().find((b) => b.service === "shop")!.adminState, "drain");
    assert.equal((await adminCall(base, "PUT", path, { token: ACME, body: '{"state":"active"}' })).status, 200);
  });

  test("a tenant token gets 403 on what concerns the whole gateway", async () => {
    for (const [method, path] of [
      ["GET", "/api/listeners"],
      ["GET", "/api/runtime"],
      ["POST", "/api/reload"],
      ["GET", "/metrics"],
    ] as const) {
      const res = await adminCall(base, method, path, { token: ACME });
      assert.equal(res.status, 403, `${method} ${path}`);
      assert.equal((res.body as ErrorBody).error.code, "ERR_ADMIN_TENANT_SCOPE");
    }
    const index = (await adminCall(base, "GET", "/api", { token: ACME })).body as { endpoints: { path: string }[] };
    assert.ok(!index.endpoints.some((e) => e.path === "/api/runtime"), "the endpoint list shows only what the token may call");
  });

  test("no admin token, plugin secret or header secret appears in /api/config or /api/routers", async () => {
    const config = await adminCall(base, "GET", "/api/config", { token: OPS });
    const routers = await adminCall(base, "GET", "/api/routers", { token: OPS });
    for (const text of [config.text, routers.text]) {
      for (const secret of [OPS, VIEWER, ACME, ACME_VIEWER, ...Object.values(SECRETS), SECRETS.authorization.slice(7)]) {
        assert.ok(!text.includes(secret), `"${secret}" is not shown`);
      }
    }
    const body = config.body as { admin: { tokens: { name: string; token: string }[] }; middlewares: { vault: { options: Record<string, unknown> } } };
    assert.deepEqual(
      body.admin.tokens.map((t) => [t.name, t.token]),
      [
        ["ops", "<redacted>"],
        ["viewer", "<redacted>"],
        ["acme", "<redacted>"],
        ["acme-viewer", "<redacted>"],
      ],
    );
    assert.deepEqual(body.middlewares.vault.options, { apiKey: "<redacted>", password: "<redacted>", nested: { clientSecret: "<redacted>" } });
  });

  test("a tenant's config view redacts its secrets too", async () => {
    const config = await adminCall(base, "GET", "/api/config", { token: ACME });
    assert.ok(!config.text.includes(SECRETS.authorization.slice(7)));
    assert.match(config.text, /"authorization": "<redacted>"/);
  });
});
