import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildTable, winner } from "./fixtures.js";

describe("methods", () => {
  test("a method list matches exactly the listed upper-case methods", () => {
    const t = buildTable({ r: { match: { methods: ["GET", "POST"] } } });
    assert.equal(winner(t, "h", "/", "GET"), "r");
    assert.equal(winner(t, "h", "/", "POST"), "r");
    assert.equal(winner(t, "h", "/", "HEAD"), undefined);
    assert.equal(winner(t, "h", "/", "get"), undefined);
  });
});

describe("headers", () => {
  test("a value condition compares the value case-sensitively and the name case-insensitively", () => {
    const t = buildTable({ r: { match: { headers: [{ name: "X-Env", value: "prod" }] } } });
    assert.equal(winner(t, "h", "/", "GET", { "x-env": "prod" }), "r");
    assert.equal(winner(t, "h", "/", "GET", { "X-ENV": "prod" }), "r");
    assert.equal(winner(t, "h", "/", "GET", { "x-env": "Prod" }), undefined);
    assert.equal(winner(t, "h", "/", "GET"), undefined);
  });

  test("a regex condition needs the header present and matching", () => {
    const t = buildTable({ r: { match: { headers: [{ name: "accept", regex: "json" }] } } });
    assert.equal(winner(t, "h", "/", "GET", { accept: "application/json" }), "r");
    assert.equal(winner(t, "h", "/", "GET", { accept: "text/html" }), undefined);
    assert.equal(winner(t, "h", "/", "GET"), undefined);
  });

  test("presence conditions require the header present or absent", () => {
    const t = buildTable({
      canary: { match: { headers: [{ name: "x-canary", present: true }] } },
      stable: { match: { headers: [{ name: "x-canary", present: false }] } },
    });
    assert.equal(winner(t, "h", "/", "GET", { "x-canary": "" }), "canary");
    assert.equal(winner(t, "h", "/", "GET"), "stable");
  });

  test("every header condition must hold", () => {
    const t = buildTable({ r: { match: { headers: [{ name: "a", value: "1" }, { name: "b", present: true }] } } });
    assert.equal(winner(t, "h", "/", "GET", { a: "1", b: "x" }), "r");
    assert.equal(winner(t, "h", "/", "GET", { a: "1" }), undefined);
  });
});
