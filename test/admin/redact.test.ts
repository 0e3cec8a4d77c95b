import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isSecretKey, REDACTED, redactSecrets } from "../../src/admin/redact.js";

describe("redactSecrets", () => {
  test("redacts admin token values and keeps the token names, tenants and flags", () => {
    const out = redactSecrets({
      admin: {
        address: "0.0.0.0:9901",
        tokens: [
          { name: "ops", token: "0123456789abcdef-ops", readOnly: false },
          { name: "acme", token: "0123456789abcdef-acme", tenant: "acme", readOnly: true },
        ],
      },
    });
    assert.deepEqual(out, {
      admin: {
        address: "0.0.0.0:9901",
        tokens: [
          { name: "ops", token: REDACTED, readOnly: false },
          { name: "acme", token: REDACTED, tenant: "acme", readOnly: true },
        ],
      },
    });
  });

  test("redacts the secrets of the authentication middlewares: password hashes, keys, key digests, symmetric JWKs", () => {
    const out = redactSecrets({
      middlewares: {
        staff: { type: "basic-auth", realm: "staff", users: { alice: "$2b$04$abcdefghijklmnopqrstuv" } },
        partners: { type: "api-key", keys: [{ name: "acme", key: "acme-0123456789abcdef" }, { name: "globex", sha256: "ab".repeat(32) }] },
        internal: { type: "jwt", keys: [{ kty: "oct", k: "c2VjcmV0", alg: "HS256" }, { kty: "RSA", n: "AQAB", e: "AQAB", kid: "k1" }] },
      },
    });
    assert.deepEqual(out, {
      middlewares: {
        staff: { type: "basic-auth", realm: "staff", users: { alice: REDACTED } },
        partners: { type: "api-key", keys: [{ name: "acme", key: REDACTED }, { name: "globex", sha256: REDACTED }] },
        internal: { type: "jwt", keys: [{ kty: "oct", k: REDACTED, alg: "HS256" }, { kty: "RSA", n: "AQAB", e: "AQAB", kid: "k1" }] },
      },
    });
  });

  test("redacts every tracing header value whatever the header's name", () => {
    const out = redactSecrets({ tracing: { endpoint: "http://collector:4318/v1/traces", headers: { "x-honeycomb-team": "hc-key-1", dataset: "prod" } } });
    assert.deepEqual(out, { tracing: { endpoint: "http://collector:4318/v1/traces", headers: { "x-honeycomb-team": REDACTED, dataset: REDACTED } } });
  });

  test("redacts secret-named keys at any depth of plugin options, strings and numbers alike", () => {
    const out = redactSecrets({
      middlewares: {
        auth: {
          type: "plugin",
          plugin: "oauth",
          options: {
            clientId: "divisor",
            clientSecret: "cs-1",
            api_key: "ak-1",
            "x-api-key": "ak-2",
            password: 1234,
            upstream: { privateKey: "-----BEGIN KEY-----", passphrase: "pp", enabled: true, signingKey: "sk" },
            apiKeys: ["ak-3", "ak-4"],
            credentials: { user: "u", pass: "p" },
          },
        },
      },
    });
    const options = (out as { middlewares: { auth: { options: Record<string, unknown> } } }).middlewares.auth.options;
    assert.equal(options.clientId, "divisor");
    for (const key of ["clientSecret", "api_key", "x-api-key", "password"]) assert.equal(options[key], REDACTED, key);
    assert.deepEqual(options.upstream, { privateKey: REDACTED, passphrase: REDACTED, enabled: true, signingKey: REDACTED });
    assert.deepEqual(options.apiKeys, [REDACTED, REDACTED]);
    // An object under a secret-named key is walked by its own keys (a hash `key: { source, name }` is no secret).
    assert.deepEqual(options.credentials, { user: "u", pass: REDACTED });
  });

  test("redacts the value of a { name, value } pair whose name says secret, such as a header match", () => {
    const out = redactSecrets({
      headers: [
        { name: "Authorization", value: "Bearer abc" },
        { name: "x-tenant", value: "acme" },
      ],
      set: { authorization: "Bearer def", "x-request-source": "gateway" },
    });
    assert.deepEqual(out, {
      headers: [
        { name: "Authorization", value: REDACTED },
        { name: "x-tenant", value: "acme" },
      ],
      set: { authorization: REDACTED, "x-request-source": "gateway" },
    });
  });

  test("keeps a URL but its password", () => {
    assert.deepEqual(redactSecrets({ endpoint: "https://user:hunter2@collector.example.com/v1/traces", plain: "https://collector.example.com" }), {
      endpoint: `https://user:${REDACTED}@collector.example.com/v1/traces`,
      plain: "https://collector.example.com",
    });
  });

  test("leaves what is not secret alone and does not change its input", () => {
    const input = Object.freeze({ sticky: Object.freeze({ cookie: "srv" }), balancer: Object.freeze({ key: Object.freeze({ source: "header", name: "x-user" }) }), weight: 2 });
    assert.deepEqual(redactSecrets(input), { sticky: { cookie: "srv" }, balancer: { key: { source: "header", name: "x-user" } }, weight: 2 });
  });

  test("tells secret key names from others", () => {
    for (const key of ["token", "accessToken", "refresh_token", "password", "db-passwd", "secret", "clientSecret", "apiKey", "api_key", "authorization", "Proxy-Authorization", "privateKey", "private_key", "credentials", "key"]) {
      assert.ok(isSecretKey(key), key);
    }
    for (const key of ["name", "tenant", "cookie", "address", "keepAlive", "readOnly", "hosts", "monkey"]) assert.ok(!isSecretKey(key), key);
  });
});
