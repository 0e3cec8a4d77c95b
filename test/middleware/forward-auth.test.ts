import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

const run = promisify(execFile);

describe("forward-auth", () => {
  let backend: TestBackend;
  let auth: http.Server;
  let authUrl: string;
  let gw: TestGateway;
  const asked: http.IncomingHttpHeaders[] = [];
  before(async () => {
    backend = await startBackend((req, res) => res.end(JSON.stringify({ url: req.url, headers: req.headers })));
    // The auth service: "Bearer good" passes with a user header, /login-flow redirects, /slow never answers in time.
    auth = http.createServer((req, res) => {
      asked.push(req.headers);
      const uri = String(req.headers["x-forwarded-uri"]);
      if (uri.startsWith("/slow")) {
        setTimeout(() => res.end(), 2000);
        return;
      }
      if (req.headers.authorization === "Bearer good") {
        res.setHeader("x-auth-user", "alice");
        res.setHeader("x-not-copied", "1");
        res.end();
      } else if (uri.startsWith("/login-flow")) {
        res.writeHead(302, { location: "https://login.example.com/?rd=x", "set-cookie": ["state=abc; Path=/; HttpOnly", "nonce=n1, n2; Path=/"] });
        res.end();
      } else {
        res.writeHead(401, { "www-authenticate": 'Bearer realm="sso"', "content-type": "text/plain" });
        res.end("denied by sso\n");
      }
    });
    await new Promise<void>((resolve) => auth.listen(0, "127.0.0.1", resolve));
    authUrl = `http://127.0.0.1:${(auth.address() as AddressInfo).port}/verify`;
    gw = await startGateway({
      admin: { address: "127.0.0.1:0" },
      services: { app: { backends: [backend.address] } },
      middlewares: {
        sso: { type: "forward-auth", address: authUrl, responseHeaders: ["x-auth-user"], timeout: 300 },
        picky: { type: "forward-auth", address: authUrl, requestHeaders: ["authorization"] },
        gone: { type: "forward-auth", address: "http://127.0.0.1:1/verify", unavailableStatus: 502 },
      },
      routers: {
        picky: { match: { path: { prefix: "/picky" } }, service: "app", middlewares: ["picky"] },
        gone: { match: { path: { prefix: "/gone" } }, service: "app", middlewares: ["gone"] },
        all: { service: "app", middlewares: ["sso"] },
      },
    });
  });
  after(async () => {
    await gw.close();
    auth.closeAllConnections();
    await new Promise<void>((resolve) => auth.close(() => resolve()));
    await backend.close();
  });

  test("a 2xx from the auth service lets the request through with the selected answer headers, replacing spoofed ones", async () => {
    const { stdout } = await run("curl", ["-s", "-H", "Authorization: Bearer good", "-H", "x-auth-user: root", `${gw.url}/orders?id=7`]);
    const seen = JSON.parse(stdout);
    assert.equal(seen.url, "/orders?id=7");
    assert.equal(seen.headers["x-auth-user"], "alice");
    assert.equal(seen.headers["x-not-copied"], undefined);
    const question = asked.at(-1)!;
    assert.equal(question["x-forwarded-method"], "GET");
    assert.equal(question["x-forwarded-uri"], "/orders?id=7");
    assert.equal(question["x-forwarded-host"], `127.0.0.1:${gw.port}`);
    assert.equal(question["x-forwarded-proto"], "http");
    assert.equal(question["x-forwarded-for"], "127.0.0.1");
    assert.equal(question["x-auth-user"], undefined);
  });

  test("any other answer is relayed to the client with its status, headers and body", async () => {
    const denied = await get(`${gw.url}/orders`, { method: "POST", headers: { authorization: "Bearer bad" } }, "payload");
    assert.equal(denied.status, 401);
    assert.equal(denied.headers["www-authenticate"], 'Bearer realm="sso"');
    assert.equal(denied.body, "denied by sso\n");
    assert.equal(asked.at(-1)!["x-forwarded-method"], "POST");
    const redirect = await get(`${gw.url}/login-flow`);
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.location, "https://login.example.com/?rd=x");
    // Every cookie the auth service set reaches the client as its own field (a comma inside one stays in it).
    assert.deepEqual(redirect.headers["set-cookie"], ["state=abc; Path=/; HttpOnly", "nonce=n1, n2; Path=/"]);
  });

  test("requestHeaders limits what the auth service sees", async () => {
    assert.equal((await get(`${gw.url}/picky`, { headers: { authorization: "Bearer good", cookie: "s=1" } })).status, 200);
    const question = asked.at(-1)!;
    assert.equal(question.cookie, undefined);
    assert.equal(question.authorization, "Bearer good");
  });

  test("a timeout answers 503 and an unreachable service the configured status, both counted as errors", async () => {
    const slow = await get(`${gw.url}/slow`, { headers: { authorization: "Bearer good" } });
    assert.equal(slow.status, 503);
    assert.match(slow.body, /did not answer within 300 ms/);
    assert.equal((await get(`${gw.url}/gone`)).status, 502);
    const families = parseExposition((await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`)).body, "text");
    assert.equal(sampleValue(families, "divisor_auth_decisions_total", { middleware: "sso", result: "error" }), 1);
    assert.equal(sampleValue(families, "divisor_auth_decisions_total", { middleware: "gone", result: "error" }), 1);
    assert.ok((sampleValue(families, "divisor_auth_decisions_total", { middleware: "sso", result: "allowed" }) ?? 0) >= 1);
    assert.ok((sampleValue(families, "divisor_auth_decisions_total", { middleware: "sso", result: "invalid" }) ?? 0) >= 2);
  });
});
