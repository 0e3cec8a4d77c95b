import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { ConfigError } from "../../src/errors.js";
import { createGateway } from "../../src/gateway/gateway.js";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

const run = promisify(execFile);

/** An identity provider: a JWKS at /jwks and an OIDC discovery document, on port 0. */
async function startIdentityProvider() {
  const state = { keys: [] as JWK[], jwksFetches: 0 };
  const server = http.createServer((req, res) => {
    if (req.url === "/jwks") {
      state.jwksFetches++;
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: state.keys }));
    } else if (req.url === "/.well-known/openid-configuration") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ issuer: url, jwks_uri: `${url}/jwks` }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, state, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

async function signer(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair("RS256");
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" };
  const sign = (claims: Record<string, unknown>, opts: { issuer: string; audience?: string; exp?: number | string }) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: "RS256", kid })
      .setIssuer(opts.issuer)
      .setAudience(opts.audience ?? "api")
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? "5m")
      .sign(privateKey);
  return { jwk, sign };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe("jwt", () => {
  let backend: TestBackend;
  let idp: Awaited<ReturnType<typeof startIdentityProvider>>;
  let gw: TestGateway;
  let first: Awaited<ReturnType<typeof signer>>;
  before(async () => {
    backend = await startBackend((req, res) => res.end(JSON.stringify({ headers: req.headers })));
    idp = await startIdentityProvider();
    first = await signer("k1");
    idp.state.keys = [first.jwk];
    const common = { issuer: idp.url, audience: "api", jwks: { cooldown: 0 } };
    gw = await startGateway({
      admin: { address: "127.0.0.1:0" },
      services: { app: { backends: [backend.address] } },
      middlewares: {
        remote: { type: "jwt", jwksUri: `${idp.url}/jwks`, realm: "api", cookie: "session", claimsToHeaders: { sub: "x-user", roles: "x-roles" }, requiredClaims: ["sub"], ...common },
        oidc: { type: "jwt", discovery: true, claimsToHeaders: { sub: "x-user" }, removeHeader: true, ...common },
        strict: { type: "jwt", keys: [first.jwk], clockSkew: 0, issuer: idp.url, audience: "api" },
        down: { type: "jwt", jwksUri: "http://127.0.0.1:1/jwks", jwks: { timeout: 500 } },
      },
      routers: {
        oidc: { match: { path: { prefix: "/oidc" } }, service: "app", middlewares: ["oidc"] },
        strict: { match: { path: { prefix: "/strict" } }, service: "app", middlewares: ["strict"] },
        down: { match: { path: { prefix: "/down" } }, service: "app", middlewares: ["down"] },
        all: { service: "app", middlewares: ["remote"] },
      },
    });
  });
  after(async () => {
    await gw.close();
    await idp.close();
    await backend.close();
  });

  test("a valid token from the JWKS URL passes through curl, claims go to the backend as headers, spoofed ones are dropped", async () => {
    const token = await first.sign({ sub: "u-1", roles: ["admin", "dev"] }, { issuer: idp.url });
    const { stdout } = await run("curl", ["-s", "-H", `Authorization: Bearer ${token}`, "-H", "x-user: root", `${gw.url}/`]);
    const seen = JSON.parse(stdout).headers;
    assert.equal(seen["x-user"], "u-1");
    assert.equal(seen["x-roles"], '["admin","dev"]');
    assert.equal(seen.authorization, `Bearer ${token}`);
  });

  test("the token is read from the cookie when there is no Authorization header", async () => {
    const token = await first.sign({ sub: "u-2" }, { issuer: idp.url });
    const res = await get(`${gw.url}/`, { headers: { cookie: `a=b; session=${token}` } });
    assert.equal(JSON.parse(res.body).headers["x-user"], "u-2");
  });

  test("no token gets 401 with a Bearer challenge, a bad token 401 invalid_token, a non-Bearer header 400 invalid_request", async () => {
    const none = await get(`${gw.url}/`);
    assert.equal(none.status, 401);
    assert.equal(none.headers["www-authenticate"], 'Bearer realm="api"');
    const wrongAudience = await get(`${gw.url}/`, { headers: bearer(await first.sign({ sub: "u" }, { issuer: idp.url, audience: "other" })) });
    assert.equal(wrongAudience.status, 401);
    assert.match(wrongAudience.headers["www-authenticate"]!, /^Bearer realm="api", error="invalid_token", error_description="[^"]*aud[^"]*"$/);
    const wrongIssuer = await get(`${gw.url}/`, { headers: bearer(await first.sign({ sub: "u" }, { issuer: "https://evil.example" })) });
    assert.equal(wrongIssuer.status, 401);
    const noSub = await get(`${gw.url}/`, { headers: bearer(await first.sign({}, { issuer: idp.url })) });
    assert.equal(noSub.status, 401);
    const tampered = await first.sign({ sub: "u" }, { issuer: idp.url });
    assert.equal((await get(`${gw.url}/`, { headers: bearer(`${tampered.slice(0, -4)}AAAA`) })).status, 401);
    const basic = await get(`${gw.url}/`, { headers: { authorization: "Basic abc" } });
    assert.equal(basic.status, 400);
    assert.match(basic.headers["www-authenticate"]!, /error="invalid_request"/);
  });

  test("a token signed by a new key (new kid) is accepted once the JWKS serves that key", async () => {
    const next = await signer("k2");
    const token = await next.sign({ sub: "u-3" }, { issuer: idp.url });
    assert.equal((await get(`${gw.url}/`, { headers: bearer(token) })).status, 401);
    idp.state.keys = [first.jwk, next.jwk];
    const fetches = idp.state.jwksFetches;
    assert.equal(JSON.parse((await get(`${gw.url}/`, { headers: bearer(token) })).body).headers["x-user"], "u-3");
    assert.ok(idp.state.jwksFetches > fetches);
  });

  test("with discovery, jwks_uri comes from the issuer's openid-configuration, and removeHeader drops the token", async () => {
    const token = await first.sign({ sub: "u-4" }, { issuer: idp.url });
    const seen = JSON.parse((await get(`${gw.url}/oidc`, { headers: bearer(token) })).body).headers;
    assert.equal(seen["x-user"], "u-4");
    assert.equal(seen.authorization, undefined);
  });

  test("expiry honours the clock skew: a token expired 10 s ago passes with the default 30 s, not with 0", async () => {
    const token = await first.sign({ sub: "u" }, { issuer: idp.url, exp: Math.floor(Date.now() / 1000) - 10 });
    assert.equal((await get(`${gw.url}/`, { headers: bearer(token) })).status, 200);
    const strict = await get(`${gw.url}/strict`, { headers: bearer(token) });
    assert.equal(strict.status, 401);
    assert.match(strict.headers["www-authenticate"]!, /'exp' claim/);
    assert.equal((await get(`${gw.url}/strict`, { headers: bearer(await first.sign({ sub: "u" }, { issuer: idp.url })) })).status, 200);
  });

  test("an unreachable JWKS gives 503 and counts an error, not a 401", async () => {
    const token = await first.sign({ sub: "u" }, { issuer: idp.url });
    const res = await get(`${gw.url}/down`, { headers: bearer(token) });
    assert.equal(res.status, 503);
    const families = parseExposition((await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`)).body, "text");
    assert.equal(sampleValue(families, "divisor_auth_decisions_total", { middleware: "down", result: "error" }), 1);
    assert.ok((sampleValue(families, "divisor_auth_decisions_total", { middleware: "remote", result: "allowed" }) ?? 0) >= 3);
  });

  test("a config without exactly one key source is refused with a clear message", () => {
    assert.throws(
      () => createGateway({ listeners: [{ address: "127.0.0.1:0" }], middlewares: { j: { type: "jwt", issuer: "https://x" } } }),
      (err: unknown) => err instanceof ConfigError && /exactly one key source/.test(err.message),
    );
    assert.throws(
      () => createGateway({ listeners: [{ address: "127.0.0.1:0" }], middlewares: { j: { type: "jwt", keys: [{ ...first.jwk, d: "private-part" }] } } }),
      (err: unknown) => err instanceof ConfigError && /public key only/.test(err.message) && !err.message.includes("private-part"),
    );
  });
});
