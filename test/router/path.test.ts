import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { PathMatch } from "../../src/config/schema.js";
import { buildTable, request, winner } from "./fixtures.js";

const only = (path: PathMatch) => buildTable({ r: { match: { path } } });

describe("exact paths", () => {
  test("an exact path matches the same string only, trailing slash included", () => {
    const t = only({ exact: "/health" });
    assert.equal(winner(t, "h", "/health"), "r");
    assert.equal(winner(t, "h", "/health/"), undefined);
    assert.equal(winner(t, "h", "/healthz"), undefined);
    assert.equal(t.match(request("h", "/health"))?.params, null);
  });
});

describe("prefix paths", () => {
  test("a prefix matches at a segment boundary: /api matches /api, /api/ and /api/x but not /apix", () => {
    const t = only({ prefix: "/api" });
    assert.equal(winner(t, "h", "/api"), "r");
    assert.equal(winner(t, "h", "/api/"), "r");
    assert.equal(winner(t, "h", "/api/x/y"), "r");
    assert.equal(winner(t, "h", "/apix"), undefined);
    assert.equal(winner(t, "h", "/"), undefined);
  });

  test("a prefix ending in a slash also matches the path without it", () => {
    const t = only({ prefix: "/api/" });
    assert.equal(winner(t, "h", "/api"), "r");
    assert.equal(winner(t, "h", "/api/x"), "r");
    assert.equal(winner(t, "h", "/apix"), undefined);
  });

  test('the prefix "/" matches every path', () => {
    const t = only({ prefix: "/" });
    for (const p of ["/", "/a", "/a/b/", "*"]) assert.equal(winner(t, "h", p), "r");
  });
});

describe("pattern paths", () => {
  test(":name segments are captured and percent-decoded", () => {
    const t = only({ pattern: "/users/:id/posts/:post" });
    assert.deepEqual(t.match(request("h", "/users/j%C3%BCrgen/posts/7"))?.params, { id: "jürgen", post: "7" });
  });

  test("a parameter with a malformed escape is captured raw", () => {
    const t = only({ pattern: "/users/:id" });
    assert.deepEqual(t.match(request("h", "/users/%E0%A4%A"))?.params, { id: "%E0%A4%A" });
  });

  test("a parameter needs a non-empty segment and the segment count must agree", () => {
    const t = only({ pattern: "/users/:id" });
    assert.equal(winner(t, "h", "/users/"), undefined);
    assert.equal(winner(t, "h", "/users/7/"), undefined);
    assert.equal(winner(t, "h", "/users/7/x"), undefined);
    assert.equal(winner(t, "h", "/users"), undefined);
  });

  test("a final * captures the raw rest of the path, which may be empty", () => {
    const t = only({ pattern: "/files/:bucket/*" });
    assert.deepEqual(t.match(request("h", "/files/b/a/c%2Fd"))?.params, { bucket: "b", "*": "a/c%2Fd" });
    assert.deepEqual(t.match(request("h", "/files/b/"))?.params, { bucket: "b", "*": "" });
    assert.deepEqual(t.match(request("h", "/files/b"))?.params, { bucket: "b", "*": "" });
    assert.equal(winner(t, "h", "/filesx/b"), undefined);
  });

  test("a pattern without parameters matches like an exact path and captures nothing", () => {
    const t = only({ pattern: "/a/b" });
    assert.equal(t.match(request("h", "/a/b"))?.params, null);
    assert.equal(winner(t, "h", "/a/b/"), undefined);
  });
});

describe("regex paths", () => {
  test("a regex is tested against the raw path and its named groups become params", () => {
    const t = only({ regex: "^/v(?<version>[0-9]+)/" });
    assert.deepEqual(t.match(request("h", "/v2/users"))?.params, { version: "2" });
    assert.equal(winner(t, "h", "/vx/users"), undefined);
  });

  test("a regex without named groups captures nothing", () => {
    const t = only({ regex: "\\.php$" });
    assert.equal(t.match(request("h", "/index.php"))?.params, null);
  });
});

describe("raw paths", () => {
  test("dot segments and escapes are matched literally, never normalised", () => {
    const t = buildTable({ api: { match: { path: { prefix: "/api" } } }, admin: { match: { path: { prefix: "/admin" } } } });
    assert.equal(winner(t, "h", "/api/../admin"), "api");
    assert.equal(winner(t, "h", "/%61pi/x"), undefined);
  });

  test("a request-target that is not a path reaches only routers without a path condition", () => {
    const t = buildTable({ any: {}, pattern: { match: { path: { pattern: "/*" } }, priority: 1 } });
    assert.equal(winner(t, "h", "*"), "any");
    assert.equal(winner(t, "h", "/x"), "pattern");
  });
});
