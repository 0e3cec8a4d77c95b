import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { hostCovers, parseHostPattern } from "../../src/router/host.js";
import { buildTable, winner } from "./fixtures.js";

describe("host matching", () => {
  test("an exact host matches that host and no other", () => {
    const t = buildTable({ api: { match: { hosts: ["api.example.com"] } } });
    assert.equal(winner(t, "api.example.com", "/"), "api");
    assert.equal(winner(t, "www.example.com", "/"), undefined);
    assert.equal(winner(t, "x.api.example.com", "/"), undefined);
  });

  test("a wildcard matches subdomains at any depth but not the domain itself", () => {
    const t = buildTable({ sub: { match: { hosts: ["*.example.com"] } } });
    assert.equal(winner(t, "a.example.com", "/"), "sub");
    assert.equal(winner(t, "a.b.example.com", "/"), "sub");
    assert.equal(winner(t, "example.com", "/"), undefined);
    assert.equal(winner(t, "badexample.com", "/"), undefined);
  });

  test('"*" and a router without hosts match every host, including an empty one', () => {
    const star = buildTable({ any: { match: { hosts: ["*"] } } });
    const none = buildTable({ any: {} });
    for (const t of [star, none]) {
      assert.equal(winner(t, "whatever.test", "/"), "any");
      assert.equal(winner(t, "", "/"), "any");
    }
  });

  test("host patterns are lowercased and lose a trailing dot", () => {
    const t = buildTable({ api: { match: { hosts: ["API.Example.COM."] } } });
    assert.equal(winner(t, "api.example.com", "/"), "api");
    assert.equal(t.routes[0]!.hosts[0]!.text, "api.example.com");
  });

  test("a router with several hosts matches each of them", () => {
    const t = buildTable({ multi: { match: { hosts: ["a.test", "*.b.test"] } } });
    assert.equal(winner(t, "a.test", "/"), "multi");
    assert.equal(winner(t, "x.b.test", "/"), "multi");
    assert.equal(winner(t, "b.test", "/"), undefined);
  });
});

describe("host coverage (tenant scoping)", () => {
  const covers = (outer: string, inner: string) => hostCovers(parseHostPattern(outer), parseHostPattern(inner));

  test("a wildcard covers its subdomains and narrower wildcards, not its apex", () => {
    assert.equal(covers("*.example.com", "a.example.com"), true);
    assert.equal(covers("*.example.com", "*.a.example.com"), true);
    assert.equal(covers("*.example.com", "*.example.com"), true);
    assert.equal(covers("*.example.com", "example.com"), false);
    assert.equal(covers("*.example.com", "*"), false);
  });

  test("an exact host covers only itself, and * covers everything", () => {
    assert.equal(covers("a.test", "a.test"), true);
    assert.equal(covers("a.test", "b.a.test"), false);
    assert.equal(covers("a.test", "*.a.test"), false);
    assert.equal(covers("*", "*"), true);
    assert.equal(covers("*", "a.test"), true);
  });
});
