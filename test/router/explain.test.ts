import assert from "node:assert/strict";
import { test } from "node:test";
import { buildTable, request } from "./fixtures.js";

const table = buildTable({
  api: { match: { hosts: ["api.test"], path: { prefix: "/v1" }, methods: ["GET"], headers: [{ name: "x-env", value: "prod" }] } },
  admin: { match: { hosts: ["admin.test"] } },
  beta: { match: { hosts: ["api.test"], headers: [{ name: "x-beta", present: true }] } },
  nobot: { match: { hosts: ["api.test"], headers: [{ name: "x-bot", present: false }] } },
  json: { match: { hosts: ["api.test"], headers: [{ name: "accept", regex: "json$" }] } },
  fallback: {},
  maintenance: { match: { path: { exact: "/v1/down" } }, priority: 5 },
});

/** reason by router name */
function reasons(path: string, method = "GET", headers: Record<string, string> = {}): Record<string, string> {
  const { match, candidates } = table.explain(request("api.test", path, method, headers));
  const chosen = candidates.filter((c) => c.matched).map((c) => c.name);
  assert.deepEqual(chosen, match === undefined ? [] : [match.route.name]);
  return Object.fromEntries(candidates.map((c) => [c.name, c.reason]));
}

test("explain lists every router in precedence order with the winner marked", () => {
  const { match, candidates } = table.explain(request("api.test", "/v1/x", "GET", { "x-env": "prod" }));
  assert.equal(match?.route.name, "api");
  assert.deepEqual(
    candidates.map((c) => c.name),
    table.routes.map((r) => r.name),
  );
  assert.equal(candidates.find((c) => c.matched)?.reason, "selected");
});

test("explain says which host, path, method or header condition failed", () => {
  const r = reasons("/v2", "POST", { "x-bot": "1", accept: "text/html", "x-env": "dev" });
  assert.equal(r.admin, 'host "api.test" is not admin.test');
  assert.equal(r.maintenance, 'path "/v2" does not match exact /v1/down');
  assert.equal(r.beta, "header x-beta is missing");
  assert.equal(r.nobot, "header x-bot is present, must be absent");
  assert.equal(r.json, 'header accept "text/html" does not match /json$/');
  assert.equal(r.api, 'path "/v2" does not match prefix /v1');
  assert.equal(reasons("/v1", "POST").api, "method POST is not GET");
  assert.equal(reasons("/v1", "GET").api, "header x-env is missing");
  assert.equal(reasons("/v1", "GET", { "x-env": "dev" }).api, 'header x-env is "dev", expected "prod"');
});

test("explain says why a matching router lost: priority or a more specific condition", () => {
  const r = reasons("/v1/down", "GET", { "x-env": "prod" });
  assert.equal(r.maintenance, "selected");
  assert.equal(r.api, "matches, but maintenance wins with higher priority (5 > 0)");
  const s = reasons("/v1/x", "GET", { "x-env": "prod" });
  assert.equal(s.nobot, "matches, but api wins with a more specific kind of path");
  assert.equal(s.fallback, "matches, but api wins with a more specific host");
});

test("explain reports no winner when nothing matches", () => {
  const t = buildTable({ only: { match: { hosts: ["a.test"] } } });
  const { match, candidates } = t.explain(request("b.test", "/"));
  assert.equal(match, undefined);
  assert.deepEqual(candidates, [{ name: "only", matched: false, reason: 'host "b.test" is not a.test' }]);
});
