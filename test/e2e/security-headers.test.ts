import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import { createGateway } from "../../src/gateway/gateway.js";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";

describe("security-headers", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startBackend((req, res) => {
      if (req.url === "/own") res.setHeader("x-frame-options", "SAMEORIGIN");
      res.end("ok");
    });
    gw = await startGateway({
      services: { app: { backends: [backend.address] } },
      middlewares: {
        preset: { type: "security-headers" },
        custom: {
          type: "security-headers",
          hsts: { maxAge: 600, includeSubDomains: false, preload: true, force: true },
          frameOptions: false,
          permissionsPolicy: "geolocation=(self)",
          contentSecurityPolicy: "default-src 'self'",
          contentSecurityPolicyReportOnly: true,
          override: true,
        },
      },
      routers: {
        custom: { match: { path: { prefix: "/custom" } }, service: "app", middlewares: ["custom"] },
        preset: { service: "app", middlewares: ["preset"] },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  test("the preset adds the OWASP headers, and no HSTS on a plain-http request", async () => {
    const res = await get(`${gw.url}/`);
    assert.equal(res.status, 200);
    assert.equal(res.headers["x-content-type-options"], "nosniff");
    assert.equal(res.headers["x-frame-options"], "DENY");
    assert.equal(res.headers["referrer-policy"], "strict-origin-when-cross-origin");
    assert.equal(res.headers["cross-origin-opener-policy"], "same-origin");
    assert.equal(res.headers["permissions-policy"], "camera=(), microphone=(), geolocation=()");
    assert.equal(res.headers["strict-transport-security"], undefined);
    assert.equal(res.headers["content-security-policy"], undefined);
  });

  test("keeps a header the backend set unless override is on", async () => {
    assert.equal((await get(`${gw.url}/own`)).headers["x-frame-options"], "SAMEORIGIN");
  });

  test("each header can be changed or turned off; a forced HSTS is sent on http; the CSP can be report-only", async () => {
    const res = await get(`${gw.url}/custom`);
    assert.equal(res.headers["strict-transport-security"], "max-age=600; preload");
    assert.equal(res.headers["x-frame-options"], undefined);
    assert.equal(res.headers["permissions-policy"], "geolocation=(self)");
    assert.equal(res.headers["content-security-policy-report-only"], "default-src 'self'");
    assert.equal(res.headers["content-security-policy"], undefined);
    assert.equal(res.headers["x-content-type-options"], "nosniff");
  });

  test("a header value with a line break is a config error naming the key", () => {
    assert.throws(
      () =>
        createGateway({
          listeners: [{ address: "127.0.0.1:0" }],
          services: { app: { backends: ["127.0.0.1:1"] } },
          middlewares: { s: { type: "security-headers", contentSecurityPolicy: "a\r\nb" } },
          routers: { all: { service: "app", middlewares: ["s"] } },
        }),
      (err: unknown) => err instanceof ConfigError && err.message.includes("middlewares.s.contentSecurityPolicy") && err.message.includes("CR/LF"),
    );
  });
});
