import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { ConfigError } from "../../src/errors.js";
import { createGateway } from "../../src/gateway/gateway.js";
import { get, parseHeadBlock, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

const run = promisify(execFile);

/** curl with the given headers; status and lowercased response headers (repeated ones joined by ", "). */
async function curl(url: string, method: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, string> }> {
  const args = ["-s", "-o", "/dev/null", "-D", "-", "-X", method];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  const { stdout } = await run("curl", [...args, url]);
  return parseHeadBlock(stdout);
}

/** What Chromium sends before a fetch(url, { method: "PUT", headers: { "content-type": "application/json", "x-api-key": … } }). */
const browserPreflight = (origin: string, method = "PUT", requestHeaders = "content-type,x-api-key") => ({
  Origin: origin,
  "Access-Control-Request-Method": method,
  "Access-Control-Request-Headers": requestHeaders,
  Accept: "*/*",
  "Sec-Fetch-Mode": "cors",
  "Sec-Fetch-Site": "cross-site",
  "Sec-Fetch-Dest": "empty",
  "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
});

describe("cors", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startBackend((_req, res) => {
      res.setHeader("x-request-id", "r1");
      res.end("ok");
    });
    gw = await startGateway({
      admin: { address: "127.0.0.1:0" },
      services: { app: { backends: [backend.address] } },
      middlewares: {
        api: {
          type: "cors",
          rules: [
            {
              origins: ["https://app.example.com", "https://*.example.net"],
              methods: ["GET", "PUT"],
              allowHeaders: ["Content-Type", "X-Api-Key"],
              exposeHeaders: ["x-request-id"],
              credentials: true,
              maxAge: 300,
            },
            { origins: ["*"], methods: ["GET"] },
          ],
        },
      },
      routers: { all: { service: "app", middlewares: ["api"] } },
    });
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  test("answers a browser's preflight at the gateway with 204 and never proxies it", async () => {
    const seen = backend.seen.length;
    const res = await curl(`${gw.url}/items/1`, "OPTIONS", browserPreflight("https://app.example.com"));
    assert.equal(res.status, 204);
    assert.equal(res.headers["access-control-allow-origin"], "https://app.example.com");
    assert.equal(res.headers["access-control-allow-methods"], "GET, PUT");
    assert.equal(res.headers["access-control-allow-headers"], "Content-Type, X-Api-Key");
    assert.equal(res.headers["access-control-allow-credentials"], "true");
    assert.equal(res.headers["access-control-max-age"], "300");
    assert.match(res.headers.vary!, /Origin/);
    assert.equal(backend.seen.length, seen);
  });

  test("matches wildcard subdomains but not the bare domain, and refuses a disallowed preflight with 403", async () => {
    assert.equal((await curl(`${gw.url}/`, "OPTIONS", browserPreflight("https://a.b.example.net"))).status, 204);
    const bare = await curl(`${gw.url}/`, "OPTIONS", browserPreflight("https://example.net", "GET", ""));
    // the bare domain falls to the "*" rule: GET is allowed there, and "*" is sent (no credentials)
    assert.equal(bare.status, 204);
    assert.equal(bare.headers["access-control-allow-origin"], "*");
    assert.equal((await curl(`${gw.url}/`, "OPTIONS", browserPreflight("https://evil.test"))).status, 403, "PUT is not allowed by the * rule");
    assert.equal((await curl(`${gw.url}/`, "OPTIONS", browserPreflight("https://app.example.com", "DELETE"))).status, 403, "method");
    const header = await curl(`${gw.url}/`, "OPTIONS", browserPreflight("https://app.example.com", "PUT", "x-other"));
    assert.equal(header.status, 403, "request header");
    assert.equal(header.headers["access-control-allow-origin"], undefined);
  });

  test("adds CORS headers and Vary: Origin to actual responses of allowed origins, none to others", async () => {
    const allowed = await curl(`${gw.url}/`, "GET", { Origin: "https://app.example.com" });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers["access-control-allow-origin"], "https://app.example.com");
    assert.equal(allowed.headers["access-control-allow-credentials"], "true");
    assert.equal(allowed.headers["access-control-expose-headers"], "x-request-id");
    assert.match(allowed.headers.vary!, /Origin/);
    const noOrigin = await get(`${gw.url}/`);
    assert.equal(noOrigin.headers["access-control-allow-origin"], undefined);
    assert.match(String(noOrigin.headers.vary), /Origin/);
    // a plain OPTIONS without Access-Control-Request-Method is not a preflight: it is proxied
    const seen = backend.seen.length;
    assert.equal((await curl(`${gw.url}/`, "OPTIONS", { Origin: "https://app.example.com" })).status, 200);
    assert.equal(backend.seen.length, seen + 1);
  });

  test("counts requests in divisor_cors_requests_total by middleware and kind", async () => {
    const families = parseExposition((await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`)).body, "text");
    const value = (kind: string) => sampleValue(families, "divisor_cors_requests_total", { middleware: "api", kind });
    assert.equal(value("preflight"), 3);
    assert.equal(value("rejected_preflight"), 3);
    assert.equal(value("actual"), 2);
  });

  test('credentials with the origin "*" is a config error', () => {
    assert.throws(
      () =>
        createGateway({
          listeners: [{ address: "127.0.0.1:0" }],
          services: { app: { backends: ["127.0.0.1:1"] } },
          middlewares: { c: { type: "cors", rules: [{ origins: ["*"], credentials: true }] } },
          routers: { all: { service: "app", middlewares: ["c"] } },
        }),
      (err: unknown) => err instanceof ConfigError && err.message.includes("middlewares.c.rules[0].credentials") && err.message.includes('"*"'),
    );
  });
});
