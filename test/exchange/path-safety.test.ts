import assert from "node:assert/strict";
import { test } from "node:test";
import { hasDotSegment } from "../../src/exchange/path-safety.js";

test("finds literal and percent-encoded dot segments anywhere in the path", () => {
  for (const p of ["/.", "/..", "/a/../b", "/a/./b", "/a/..", "/%2e%2e/admin", "/a/%2E/b", "/a/.%2e/b", "/a/%2e"]) {
    assert.equal(hasDotSegment(p), true, p);
  }
});

test("accepts dots that are part of a segment name", () => {
  for (const p of ["/", "/a.b", "/.well-known/acme", "/a/..b", "/a/b..", "/file.tar.gz", "/%2fx", "/a%2e"]) {
    assert.equal(hasDotSegment(p), false, p);
  }
});
