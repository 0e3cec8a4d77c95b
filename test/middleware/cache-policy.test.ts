import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { HeaderList } from "../../src/http1/headers.js";
import { buildEntry, refreshEntry, selectVariant } from "../../src/middleware/cache/entry.js";
import { etagMatches, freshnessLifetime, initialAge, parseCacheControl, unstorableReason, updateHeaders, varyNames } from "../../src/middleware/cache/policy.js";
import { type CachedResponse, MemoryStore } from "../../src/middleware/cache/store.js";

const rules = { heuristicMs: 0, keyHeaders: [], swrCapMs: 3_600_000, sieCapMs: 3_600_000 };
const noAuth = { authorization: false, setCookie: false, varyStar: false, expires: false };

describe("cache policy (RFC 9111)", () => {
  test("parses Cache-Control directives across fields, with quoted values holding commas", () => {
    const d = parseCacheControl(['max-age=60, private="set-cookie, x-a"', "S-MaxAge=5,no-cache", "max-age=1"]);
    assert.equal(d.get("max-age"), "60");
    assert.equal(d.get("private"), "set-cookie, x-a");
    assert.equal(d.get("s-maxage"), "5");
    assert.equal(d.get("no-cache"), "");
    assert.equal(parseCacheControl([]).size, 0);
    assert.equal(parseCacheControl(['a="x\\"y", b']).get("a"), 'x"y');
  });

  test("freshness comes from s-maxage, then max-age, then Expires - Date, then the heuristic", () => {
    const date = Date.parse("Tue, 01 Dec 2026 10:00:00 GMT");
    assert.equal(freshnessLifetime(parseCacheControl(["max-age=60, s-maxage=10"]), date, undefined, 0), 10_000);
    assert.equal(freshnessLifetime(parseCacheControl(["max-age=60"]), date, "Tue, 01 Dec 2026 11:00:00 GMT", 0), 60_000);
    assert.equal(freshnessLifetime(parseCacheControl([]), date, "Tue, 01 Dec 2026 11:00:00 GMT", 0), 3_600_000);
    assert.equal(freshnessLifetime(parseCacheControl([]), date, "not a date", 0), 0);
    assert.equal(freshnessLifetime(parseCacheControl([]), date, undefined, 5000), 5000);
    assert.equal(freshnessLifetime(parseCacheControl(["max-age=x"]), date, undefined, 0), 0);
  });

  test("age is the larger of the apparent age and Age plus the response delay", () => {
    assert.equal(initialAge("10", 1000, 1000, 1500), 10_500);
    assert.equal(initialAge(undefined, 0, 9000, 10_000), 10_000);
    assert.equal(initialAge("junk", 10_000, 10_000, 10_000), 0);
  });

  test("decides what a shared cache may store", () => {
    const cc = (v: string) => parseCacheControl([v]);
    assert.equal(unstorableReason(200, cc("max-age=1"), noAuth, false), null);
    assert.equal(unstorableReason(200, cc("max-age=1, no-store"), noAuth, false), "no-store");
    assert.equal(unstorableReason(200, cc("private, max-age=1"), noAuth, false), "private");
    assert.equal(unstorableReason(500, cc("max-age=1"), noAuth, false), "status");
    assert.equal(unstorableReason(206, cc("max-age=1"), noAuth, false), "status");
    assert.equal(unstorableReason(200, cc(""), noAuth, false), "no-freshness");
    assert.equal(unstorableReason(200, cc(""), noAuth, true), null);
    assert.equal(unstorableReason(200, cc("max-age=1"), { ...noAuth, authorization: true }, false), "authorization");
    assert.equal(unstorableReason(200, cc("s-maxage=1"), { ...noAuth, authorization: true }, false), null);
    assert.equal(unstorableReason(200, cc("max-age=1"), { ...noAuth, setCookie: true }, false), "set-cookie");
    assert.equal(unstorableReason(200, cc("max-age=1"), { ...noAuth, varyStar: true }, false), "vary-star");
  });

  test("Vary names are normalized, and variants match on normalized request values", () => {
    assert.deepEqual(varyNames(["Accept-Encoding, X-Lang", "accept-encoding"]), ["accept-encoding", "x-lang"]);
    assert.equal(varyNames(["a, *"]), "*");
    const req = (raw: string[]) => new HeaderList(raw);
    const entry = buildEntry(200, ["Cache-Control", "max-age=60", "Vary", "Accept-Encoding"], req(["accept-encoding", "gzip,  br"]), 0, 0, rules) as CachedResponse;
    assert.equal(typeof entry, "object");
    assert.equal(selectVariant([entry], req(["Accept-Encoding", "gzip, br"])), entry);
    assert.equal(selectVariant([entry], req(["Accept-Encoding", "gzip"])), undefined);
    assert.equal(selectVariant([entry], req([])), undefined);
  });

  test("a 304 replaces the stored fields it carries but not the body's framing or coding", () => {
    assert.deepEqual(updateHeaders(["ETag", '"a"', "Content-Encoding", "gzip", "X-A", "1", "X-A", "2"], ["x-a", "3", "content-encoding", "br"]), ["ETag", '"a"', "Content-Encoding", "gzip", "x-a", "3"]);
    const stored = buildEntry(200, ["Cache-Control", "max-age=0", "ETag", '"a"'], new HeaderList(), 0, 0, rules) as CachedResponse;
    stored.body = Buffer.from("kept");
    const fresh = refreshEntry(stored, ["Cache-Control", "max-age=30"], new HeaderList(), 1000, 1000, rules) as CachedResponse;
    assert.equal(fresh.lifetimeMs, 30_000);
    assert.equal(fresh.body.toString(), "kept");
    assert.equal(refreshEntry(stored, ["Cache-Control", "no-store"], new HeaderList(), 0, 0, rules), "no-store");
  });

  test("entity tags compare weakly", () => {
    assert.ok(etagMatches('W/"a", "b"', '"a"'));
    assert.ok(etagMatches("*", '"z"'));
    assert.ok(!etagMatches('"b"', 'W/"a"'));
  });

  test("the memory store evicts least recently used keys past its byte budget", () => {
    let evicted = 0;
    const store = new MemoryStore(2000, { evicted: (n) => (evicted += n), changed: () => {} });
    const entry = (body: string) => {
      const e = buildEntry(200, ["Cache-Control", "max-age=60"], new HeaderList(), 0, 0, rules) as CachedResponse;
      e.body = Buffer.from(body);
      return e;
    };
    store.set("a", entry("x".repeat(500)));
    store.set("b", entry("x".repeat(500)));
    store.get("a");
    store.set("c", entry("x".repeat(500)));
    assert.equal(evicted, 1);
    assert.ok(store.get("b") === undefined && store.get("a") !== undefined && store.get("c") !== undefined);
    assert.ok(store.bytes <= 2000);
    store.set("big", entry("x".repeat(5000)));
    assert.equal(store.get("big"), undefined);
    assert.equal(store.deletePrefix(""), 2);
    assert.equal(store.entries, 0);
    assert.equal(store.bytes, 0);
  });
});
