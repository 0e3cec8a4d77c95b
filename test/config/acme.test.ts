import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { validateConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

const base = { directory: "https://acme.example.net/dir", termsOfServiceAgreed: true, storage: { type: "file", path: "/var/lib/divisor/acme" } };

/** The problems validateConfig reports for one HTTPS listener with `tls`, as "path: message". */
function problems(tlsConfig: unknown): string[] {
  try {
    validateConfig({ listeners: [{ address: "127.0.0.1:0", tls: tlsConfig }], routers: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `a ConfigError (${String(err)})`);
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  return [];
}

describe("tls.acme configuration: bad values are refused with the key and a fix", () => {
  test("a valid ACME listener needs no certificates, and gets the documented defaults", () => {
    const config = validateConfig({ listeners: [{ address: "127.0.0.1:0", tls: { acme: { ...base, hosts: ["Shop.Example.com"] } } }], routers: {} });
    const acme = config.listeners[0]!.tls!.acme!;
    assert.deepEqual(acme.hosts, ["shop.example.com"], "names are lowercased");
    assert.equal(acme.challenge, "http-01", "HTTP-01 by default");
    assert.equal(acme.renewBefore, 30 * 86_400_000, "30 days before expiry");
    assert.equal(acme.keyType, "ecdsa-p256", "ECDSA keys");
    assert.deepEqual(acme.backoff, { initial: 60_000, max: 86_400_000 }, "1 minute doubling up to a day");
  });

  test("not agreeing to the terms of service is refused, naming the key", () => {
    assert.deepEqual(problems({ acme: { ...base, termsOfServiceAgreed: false, hosts: ["a.example.com"] } }), [
      "listeners[0].tls.acme.termsOfServiceAgreed: the ACME server requires agreeing to its terms of service; read them and set termsOfServiceAgreed: true",
    ]);
  });

  test("neither hosts nor onDemand is refused", () => {
    assert.match(problems({ acme: base }).join("\n"), /listeners\[0\]\.tls\.acme\.hosts: name the hosts to get certificates for/, "says what to add");
  });

  test("a wildcard in hosts is refused with why (dns-01) and the alternative (onDemand)", () => {
    assert.match(problems({ acme: { ...base, hosts: ["*.example.com"] } }).join("\n"), /hosts\[0\]: a wildcard certificate needs the dns-01 challenge[\s\S]*onDemand/, "explains");
  });

  test("an unknown challenge, storage type or a directory that is not a URL is refused", () => {
    assert.match(problems({ acme: { ...base, hosts: ["a.example.com"], challenge: "dns-01" } }).join("\n"), /acme\.challenge/, "challenge");
    assert.match(problems({ acme: { ...base, hosts: ["a.example.com"], storage: { type: "s3" } } }).join("\n"), /acme\.storage/, "storage type");
    assert.match(problems({ acme: { ...base, hosts: ["a.example.com"], directory: "acme.example.net" } }).join("\n"), /acme\.directory: expected an http:\/\/ or https:\/\/ URL/, "directory");
    assert.match(problems({ acme: { ...base, onDemand: { allow: [] } } }).join("\n"), /onDemand\.allow: name the hosts that may get a certificate on demand/, "empty allow-list");
  });

  test("an HTTPS listener with neither certificates nor acme is refused", () => {
    assert.deepEqual(problems({}), ["listeners[0].tls.certificates: an HTTPS listener needs at least one certificate (or acme to get them)"]);
  });
});

describe("tls.acme files: checked when the configuration loads", () => {
  test("a caCertificate that cannot be read is a configuration error naming the key", async () => {
    const { createGateway } = await import("../../src/gateway/gateway.js");
    const gw = createGateway({ logging: { level: "fatal" }, listeners: [{ address: "127.0.0.1:0", tls: { acme: { ...base, hosts: ["a.example.com"], caCertificate: "/nonexistent/ca.pem" } } }], routers: {} } as never);
    await assert.rejects(gw.listen(), (err: unknown) => {
      assert.ok(err instanceof ConfigError, "a ConfigError");
      assert.match(err.message, /listeners\[0\]\.tls\.acme\.caCertificate[\s\S]*cannot read the ACME server's CA certificate: no such file: \/nonexistent\/ca\.pem/, err.message);
      return true;
    });
    await gw.close();
  });
});
