import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { configSchema } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { compileRouterTable, routeDefinitions } from "../../src/router/compile.js";
import { buildTable, type RouterInput, type TenantInput, winner } from "./fixtures.js";

/** The issues a table would be rejected with, as "path: message". */
function issuesOf(routers: Record<string, RouterInput>, tenants: Record<string, TenantInput> = {}): string[] {
  try {
    buildTable(routers, tenants);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, "ERR_CONFIG_INVALID");
    for (const issue of err.issues) {
      assert.equal(issue.file, "<config>");
      assert.equal(issue.line, 0);
    }
    return err.issues.map((i) => `${i.path}: ${i.message}`);
  }
  assert.fail("expected a ConfigError");
}

describe("invalid conditions", () => {
  test("an invalid path regex is reported at routers.<name>.match.path.regex", () => {
    const [issue] = issuesOf({ api: { match: { path: { regex: "([a-z" } } } });
    assert.match(issue!, /^routers\.api\.match\.path\.regex: invalid regular expression/);
  });

  test("an invalid header regex is reported at its index", () => {
    const [issue] = issuesOf({ api: { match: { headers: [{ name: "a", value: "1" }, { name: "b", regex: "*x" }] } } });
    assert.match(issue!, /^routers\.api\.match\.headers\[1\]\.regex: invalid regular expression/);
  });

  test("a * before the end of a pattern, a bad parameter name and a repeated parameter are rejected", () => {
    assert.match(issuesOf({ a: { match: { path: { pattern: "/x/*/y" } } } })[0]!, /^routers\.a\.match\.path\.pattern: "\*" may only be the last segment/);
    assert.match(issuesOf({ a: { match: { path: { pattern: "/x/:" } } } })[0]!, /parameter ":" in/);
    assert.match(issuesOf({ a: { match: { path: { pattern: "/x/:9lives" } } } })[0]!, /parameter ":9lives"/);
    assert.match(issuesOf({ a: { match: { path: { pattern: "/:id/:id" } } } })[0]!, /":id" appears twice/);
  });

  test("empty host and method lists are rejected rather than matching nothing", () => {
    assert.deepEqual(
      issuesOf({ a: { match: { hosts: [], methods: [] } } }).map((i) => i.split(":")[0]),
      ["routers.a.match.hosts", "routers.a.match.methods"],
    );
  });

  test("every problem is reported at once", () => {
    assert.equal(issuesOf({ a: { match: { path: { regex: "(" } } }, b: { match: { path: { regex: "[" } } } }).length, 2);
  });
});

describe("tenants", () => {
  const acme: TenantInput = { hosts: ["acme.test", "*.acme.test"], routers: {} };

  test("a tenant router without hosts matches only its tenant's hosts", () => {
    const t = buildTable({}, { acme: { ...acme, routers: { web: {} } } });
    assert.equal(winner(t, "acme.test", "/"), "acme/web");
    assert.equal(winner(t, "shop.acme.test", "/"), "acme/web");
    assert.equal(winner(t, "other.test", "/"), undefined);
    assert.equal(t.routes[0]!.tenant, "acme");
  });

  test("a tenant router may narrow its tenant's hosts", () => {
    const t = buildTable({}, { acme: { ...acme, routers: { shop: { match: { hosts: ["shop.acme.test", "*.eu.acme.test"] } } } } });
    assert.equal(winner(t, "shop.acme.test", "/"), "acme/shop");
    assert.equal(winner(t, "x.eu.acme.test", "/"), "acme/shop");
    assert.equal(winner(t, "acme.test", "/"), undefined);
  });

  test("a tenant router cannot name hosts outside its tenant", () => {
    const issues = issuesOf({}, { acme: { ...acme, routers: { web: { match: { hosts: ["shop.acme.test", "evil.test", "*"] } } } } });
    assert.deepEqual(
      issues.map((i) => i.split(": ")[0]),
      ["tenants.acme.routers.web.match.hosts[1]", "tenants.acme.routers.web.match.hosts[2]"],
    );
    assert.match(issues[0]!, /"evil\.test" is outside the hosts of tenant "acme" \(acme\.test, \*\.acme\.test\)/);
  });

  test("two tenants cannot claim the same host", () => {
    const issues = issuesOf({}, { a: { hosts: ["shared.test"] }, b: { hosts: ["b.test", "Shared.test"] } });
    assert.deepEqual(issues, ['tenants.b.hosts[1]: host "shared.test" already belongs to tenant "a"; a host belongs to one tenant']);
  });

  test("a tenant may own a subdomain of another tenant's wildcard; the exact host wins", () => {
    const t = buildTable({}, { a: { hosts: ["*.test"], routers: { r: {} } }, b: { hosts: ["b.test"], routers: { r: {} } } });
    assert.equal(winner(t, "b.test", "/"), "b/r");
    assert.equal(winner(t, "c.test", "/"), "a/r");
  });

  test("a router naming an undefined tenant is rejected", () => {
    assert.throws(
      () => compileRouterTable([{ name: "ghost/r", tenant: "ghost", config: { match: {}, middlewares: [] }, target: 0 }], {}),
      (err: unknown) => err instanceof ConfigError && err.issues[0]!.path === "tenants.ghost.routers.r" && /not defined/.test(err.issues[0]!.message),
    );
  });
});

describe("ambiguity", () => {
  test("two routers with the same match and priority are rejected", () => {
    const issues = issuesOf({
      a: { match: { hosts: ["h.test"], path: { prefix: "/x" }, methods: ["GET", "POST"] } },
      b: { match: { hosts: ["h.test"], path: { prefix: "/x" }, methods: ["POST", "GET"] } },
    });
    assert.deepEqual(
      issues.map((i) => i.split(": ")[0]),
      ["routers.b.match"],
    );
    assert.match(issues[0]!, /same requests as router "a" \(host h\.test, path \/x\) with the same priority/);
  });

  test("matches that differ only in spelling are still ambiguous", () => {
    assert.equal(issuesOf({ a: { match: { path: { prefix: "/api" } } }, b: { match: { path: { prefix: "/api/" } } } }).length, 1);
    assert.equal(issuesOf({ a: { match: { path: { pattern: "/u/:id" } } }, b: { match: { path: { pattern: "/u/:name" } } } }).length, 1);
    assert.equal(issuesOf({ a: {}, b: { match: { path: { prefix: "/" } } } }).length, 1);
    assert.equal(issuesOf({ a: { match: { hosts: ["H.test"] } } }, { t: { hosts: ["h.test"], routers: { b: {} } } }).length, 1);
  });

  test("a different priority, host, or condition makes them distinct", () => {
    const t = buildTable({
      a: { match: { path: { prefix: "/x" } } },
      b: { match: { path: { prefix: "/x" } }, priority: 1 },
      c: { match: { path: { prefix: "/x" }, headers: [{ name: "x", present: true }] } },
      d: { match: { path: { prefix: "/x" }, hosts: ["d.test"] } },
    });
    assert.equal(t.routes.length, 4);
  });

  test("a router name used twice is rejected", () => {
    assert.throws(
      () => compileRouterTable([0, 1].map((target) => ({ name: "dup", tenant: undefined, config: { match: { hosts: [`h${target}.test`] }, middlewares: [] }, target })), {}),
      /router name "dup" is used twice/,
    );
  });
});

describe("routeDefinitions", () => {
  test("lists top-level routers, then tenant routers named <tenant>/<router>, with targets from makeTarget", () => {
    const config = configSchema.parse({
      listeners: [{ address: "127.0.0.1:0" }],
      services: { s: { backends: ["127.0.0.1:1"] } },
      routers: { api: { service: "s" } },
      tenants: { acme: { hosts: ["acme.test"], routers: { web: { service: "s" } } } },
    });
    const defs = routeDefinitions(config, (name, tenant, router) => `${name}|${tenant}|${router.service}`);
    assert.deepEqual(
      defs.map((d) => [d.name, d.tenant, d.target]),
      [
        ["api", undefined, "api|undefined|s"],
        ["acme/web", "acme", "acme/web|acme|s"],
      ],
    );
    const table = compileRouterTable(defs, config.tenants);
    assert.equal(table.match({ host: "acme.test", path: "/", method: "GET", header: () => undefined })?.route.target, "acme/web|acme|s");
  });
});
