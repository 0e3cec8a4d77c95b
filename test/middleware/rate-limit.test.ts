import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { redactSecrets } from "../../src/admin/redact.js";
import { cookie, jwtClaim } from "../../src/middleware/rate-limit/key.js";
import { GcraStore, SlidingWindowStore } from "../../src/middleware/rate-limit/memory.js";

describe("rate-limit stores", () => {
  test("gcra allows burst at once, then one request per interval", () => {
    const s = new GcraStore(10, 1000, 5, 100);
    for (let i = 0; i < 5; i++) assert.equal(s.decide("k", 0).allowed, true, `request ${i}`);
    const d = s.decide("k", 0);
    assert.equal(d.allowed, false);
    assert.equal(d.retryAfterMs, 100);
    assert.equal(s.decide("k", 99).allowed, false);
    assert.equal(s.decide("k", 100).allowed, true);
    assert.equal(s.decide("k", 100).allowed, false);
  });

  test("gcra reports the remaining requests and the time to a full bucket", () => {
    const s = new GcraStore(4, 1000, 4, 100);
    const d = s.decide("k", 0);
    assert.equal(d.remaining, 3);
    assert.equal(d.resetMs, 250);
    s.decide("k", 0);
    assert.equal(s.decide("k", 0).remaining, 1);
  });

  test("sliding window weights the previous window by the part still covered", () => {
    const s = new SlidingWindowStore(10, 1000, 100);
    for (let i = 0; i < 10; i++) assert.equal(s.decide("k", 0).allowed, true);
    assert.equal(s.decide("k", 500).allowed, false);
    // At 1500ms the previous window (10) weighs 5: five more fit.
    for (let i = 0; i < 5; i++) assert.equal(s.decide("k", 1500).allowed, true, `request ${i}`);
    const d = s.decide("k", 1500);
    assert.equal(d.allowed, false);
    assert.ok(d.retryAfterMs > 0 && d.retryAfterMs <= 1500);
    // Two periods later nothing is left.
    for (let i = 0; i < 10; i++) assert.equal(s.decide("k", 3000).allowed, true);
  });

  test("memory stays within maxKeys and idle keys are dropped", () => {
    const s = new GcraStore(1, 1000, 1, 3);
    for (let i = 0; i < 10; i++) s.decide(`k${i}`, 0);
    assert.equal(s.size, 3);
    // Every key is back to a full quota: each new key drops up to two idle ones.
    s.decide("fresh", 5000);
    assert.equal(s.size, 2);
    s.decide("fresh2", 5000);
    assert.equal(s.size, 2);
    const w = new SlidingWindowStore(1, 1000, 2);
    for (let i = 0; i < 5; i++) w.decide(`k${i}`, 0);
    assert.equal(w.size, 2);
  });
});

describe("rate-limit keys", () => {
  test("cookie finds a cookie by its exact name", () => {
    assert.equal(cookie("a=1; team=red; teams=blue", "team"), "red");
    assert.equal(cookie("teams=blue", "team"), "");
    assert.equal(cookie(undefined, "team"), "");
  });

  test("jwtClaim decodes the Bearer payload and tolerates garbage", () => {
    const payload = Buffer.from(JSON.stringify({ sub: "alice", org: 7 })).toString("base64url");
    assert.equal(jwtClaim(`Bearer x.${payload}.y`, "sub"), "alice");
    assert.equal(jwtClaim(`bearer x.${payload}.y`, "org"), "7");
    assert.equal(jwtClaim("Bearer not-a-jwt", "sub"), "");
    assert.equal(jwtClaim("Bearer x.%%%.y", "sub"), "");
    assert.equal(jwtClaim("Basic abc", "sub"), "");
  });
});

describe("rate-limit config", () => {
  test("the admin API's redaction hides a password in store.redis.url", () => {
    const shown = redactSecrets({ middlewares: { rl: { type: "rate-limit", store: { redis: { url: "redis://:hunter2@redis:6379/0" } } } } });
    assert.equal(shown.middlewares.rl.store.redis.url, "redis://:<redacted>@redis:6379/0");
  });
});
