import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { describe, test } from "node:test";
import tls from "node:tls";
import { allowedByPatterns, backoffDelay, renewalTime } from "../../../src/listener/acme/manager.js";
import { selfSignedCertificate } from "../../../src/listener/acme/self-signed.js";

const DAY = 86_400_000;

describe("ACME policy: when to renew, when to order again, which names may order", () => {
  test("a 90-day certificate is renewed renewBefore (30 days) before it expires", () => {
    assert.equal(renewalTime(0, 90 * DAY, 30 * DAY), 60 * DAY, "60 days after issue");
  });

  test("a short-lived certificate is renewed when a third of its lifetime is left", () => {
    assert.equal(renewalTime(0, 9000, 30 * DAY), 6000, "6 s into a 9 s certificate");
    assert.equal(renewalTime(0, 6 * DAY, 30 * DAY), 4 * DAY, "day 4 of a 6-day certificate");
  });

  test("failed orders back off exponentially up to the maximum", () => {
    const b = { initial: 60_000, max: 3_600_000 };
    assert.deepEqual([1, 2, 3, 4].map((n) => backoffDelay(n, b, null)), [60_000, 120_000, 240_000, 480_000], "doubling");
    assert.equal(backoffDelay(20, b, null), 3_600_000, "capped at max");
  });

  test("a rateLimited answer waits at least its Retry-After", () => {
    const problem = { type: "urn:ietf:params:acme:error:rateLimited", detail: "too many certificates", status: 429, retryAfterMs: 7_200_000 };
    assert.equal(backoffDelay(1, { initial: 60_000, max: 3_600_000 }, problem), 7_200_000, "Retry-After beats the backoff and its max");
    assert.equal(backoffDelay(1, { initial: 60_000, max: 3_600_000 }, { ...problem, retryAfterMs: 1000 }), 60_000, "a short Retry-After does not shorten the backoff");
  });

  test("on-demand patterns allow exact names and one label under a wildcard", () => {
    const allow = ["*.customers.example.com", "shop.example.com"];
    assert.ok(allowedByPatterns("acme.customers.example.com", allow), "one label under the wildcard");
    assert.ok(allowedByPatterns("shop.example.com", allow), "an exact name");
    assert.ok(!allowedByPatterns("customers.example.com", allow), "not the wildcard's parent");
    assert.ok(!allowedByPatterns("a.b.customers.example.com", allow), "not two labels");
    assert.ok(!allowedByPatterns("evilcustomers.example.com", allow), "not a suffix match");
  });

  test("the self-signed default certificate is a valid X.509 certificate Node's TLS accepts", () => {
    for (let i = 0; i < 50; i++) {
      const pair = selfSignedCertificate("divisor.invalid");
      const x509 = new X509Certificate(pair.cert);
      assert.ok(x509.verify(x509.publicKey), "signed by its own key");
      assert.equal(x509.subjectAltName, "DNS:divisor.invalid", "names divisor.invalid");
      assert.ok(x509.checkPrivateKey(createPrivateKey(pair.key)), "the key matches");
      assert.doesNotThrow(() => tls.createSecureContext(pair), "Node makes a TLS context of it");
    }
  });
});
