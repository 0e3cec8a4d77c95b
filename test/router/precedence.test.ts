import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { buildTable, winner } from "./fixtures.js";

describe("specificity", () => {
  test("an exact host beats a wildcard, which beats any host", () => {
    const t = buildTable({
      any: {},
      wild: { match: { hosts: ["*.example.com"] } },
      exact: { match: { hosts: ["api.example.com"] } },
    });
    assert.equal(winner(t, "api.example.com", "/"), "exact");
    assert.equal(winner(t, "www.example.com", "/"), "wild");
    assert.equal(winner(t, "example.org", "/"), "any");
  });

  test("a longer wildcard suffix beats a shorter one", () => {
    const t = buildTable({ short: { match: { hosts: ["*.example.com"] } }, long: { match: { hosts: ["*.eu.example.com"] } } });
    assert.equal(winner(t, "a.eu.example.com", "/"), "long");
    assert.equal(winner(t, "a.us.example.com", "/"), "short");
  });

  test("host specificity counts before path specificity", () => {
    const t = buildTable({ anyExact: { match: { path: { exact: "/a" } } }, hostAny: { match: { hosts: ["h.test"] } } });
    assert.equal(winner(t, "h.test", "/a"), "hostAny");
  });

  test("exact path beats pattern, which beats prefix, which beats regex, which beats no path", () => {
    const routers = {
      exact: { match: { path: { exact: "/a/b" } } },
      pattern: { match: { path: { pattern: "/a/:x" } } },
      prefix: { match: { path: { prefix: "/a" } } },
      regex: { match: { path: { regex: "^/a" } } },
      none: {},
    };
    const order = ["exact", "pattern", "prefix", "regex", "none"] as const;
    for (let i = 0; i < order.length; i++) {
      const t = buildTable(Object.fromEntries(order.slice(i).map((n) => [n, routers[n]])));
      assert.equal(winner(t, "h", "/a/b"), order[i]);
    }
  });

  test("a pattern with more literal segments beats one with fewer, and a parameter beats a *", () => {
    const t = buildTable({
      params: { match: { path: { pattern: "/:a/:b" } } },
      literal: { match: { path: { pattern: "/users/:id" } } },
      rest: { match: { path: { pattern: "/users/*" } } },
    });
    assert.equal(winner(t, "h", "/users/7"), "literal");
    assert.equal(winner(t, "h", "/users/7/x"), "rest");
    assert.equal(winner(t, "h", "/teams/7"), "params");
  });

  test("a longer prefix beats a shorter one", () => {
    const t = buildTable({ short: { match: { path: { prefix: "/api" } } }, long: { match: { path: { prefix: "/api/v2" } } } });
    assert.equal(winner(t, "h", "/api/v2/x"), "long");
    assert.equal(winner(t, "h", "/api/v1/x"), "short");
  });

  test("restricted methods beat any method, and fewer methods beat more", () => {
    const t = buildTable({
      all: { match: { path: { prefix: "/x" } } },
      reads: { match: { path: { prefix: "/x" }, methods: ["GET", "HEAD"] } },
      get: { match: { path: { prefix: "/x" }, methods: ["GET"] } },
    });
    assert.equal(winner(t, "h", "/x", "GET"), "get");
    assert.equal(winner(t, "h", "/x", "HEAD"), "reads");
    assert.equal(winner(t, "h", "/x", "POST"), "all");
  });

  test("more header conditions beat fewer", () => {
    const t = buildTable({
      one: { match: { headers: [{ name: "a", value: "1" }] } },
      two: { match: { headers: [{ name: "a", value: "1" }, { name: "b", value: "2" }] } },
    });
    assert.equal(winner(t, "h", "/", "GET", { a: "1", b: "2" }), "two");
    assert.equal(winner(t, "h", "/", "GET", { a: "1" }), "one");
  });

  test("equal precedence falls back to the router name, A before Z", () => {
    const t = buildTable({ zeta: { match: { methods: ["GET", "PUT"] } }, alpha: { match: { methods: ["GET", "POST"] } } });
    assert.equal(winner(t, "h", "/", "GET"), "alpha");
    assert.equal(winner(t, "h", "/", "PUT"), "zeta");
  });

  test("a router with several hosts competes with its most specific matching host", () => {
    const t = buildTable({
      both: { match: { hosts: ["*", "api.example.com"], path: { prefix: "/" } } },
      wild: { match: { hosts: ["*.example.com"], path: { exact: "/x" } } },
    });
    assert.equal(winner(t, "api.example.com", "/x"), "both");
    assert.equal(winner(t, "www.example.com", "/x"), "wild");
  });

  test("when the most specific router's conditions fail, the next one wins", () => {
    const t = buildTable({
      any: {},
      post: { match: { hosts: ["api.test"], path: { exact: "/x" }, methods: ["POST"] } },
    });
    assert.equal(winner(t, "api.test", "/x", "POST"), "post");
    assert.equal(winner(t, "api.test", "/x", "GET"), "any");
  });
});

describe("priority", () => {
  test("a higher priority beats any specificity, even from an any-host router", () => {
    const t = buildTable({
      exact: { match: { hosts: ["api.test"], path: { exact: "/x" }, methods: ["GET"] } },
      maintenance: { priority: 10 },
    });
    assert.equal(winner(t, "api.test", "/x"), "maintenance");
  });

  test("a negative priority loses to routers without one", () => {
    const t = buildTable({ fallback: { match: { hosts: ["api.test"], path: { exact: "/x" } }, priority: -1 }, any: {} });
    assert.equal(winner(t, "api.test", "/x"), "any");
  });

  test("routes are listed in precedence order", () => {
    const t = buildTable({
      any: {},
      wild: { match: { hosts: ["*.example.com"] } },
      exact: { match: { hosts: ["api.example.com"] } },
      urgent: { priority: 5 },
    });
    assert.deepEqual(
      t.routes.map((r) => r.name),
      ["urgent", "exact", "wild", "any"],
    );
  });
});
