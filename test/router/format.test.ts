import assert from "node:assert/strict";
import { test } from "node:test";
import { formatRouteTable } from "../../src/router/format.js";
import { buildTable } from "./fixtures.js";

const table = buildTable(
  {
    fallback: { service: "web" },
    api: {
      match: { hosts: ["api.example.com"], path: { prefix: "/v1/" }, methods: ["GET", "POST"], headers: [{ name: "X-Env", value: "prod" }, { name: "x-bot", present: false }] },
      service: "api",
      middlewares: ["auth", "ratelimit"],
    },
    redirect: { match: { path: { regex: "^/old" } }, middlewares: ["to-new"], priority: 3 },
  },
  { acme: { hosts: ["*.acme.test"], routers: { shop: { match: { path: { pattern: "/items/:id" } }, service: "shop" } } } },
);

test("formatRouteTable prints a header and one aligned row per router in precedence order", () => {
  const lines = formatRouteTable(table).trimEnd().split("\n");
  assert.deepEqual(lines[0]!.split(/\s{2,}/), ["#", "router", "tenant", "hosts", "path", "methods", "headers", "priority", "service", "middlewares"]);
  assert.deepEqual(
    lines.slice(1).map((l) => l.split(/\s{2,}/)),
    [
      ["1", "redirect", "-", "*", "regex ^/old", "*", "-", "3", "-", "to-new"],
      ["2", "api", "-", "api.example.com", "prefix /v1", "GET,POST", "x-env=prod, x-bot absent", "0", "api", "auth,ratelimit"],
      ["3", "acme/shop", "acme", "*.acme.test", "pattern /items/:id", "*", "-", "0", "shop", "-"],
      ["4", "fallback", "-", "*", "*", "*", "-", "0", "web", "-"],
    ],
  );
  const column = lines[0]!.indexOf("hosts");
  assert.ok(lines.slice(1).every((l) => l.slice(column - 2, column) === "  "), "every row starts the hosts column at the same place");
});

test("formatRouteTable adds a target column when given a describer", () => {
  const lines = formatRouteTable(table, (t) => `pipeline:${String(t)}`).trimEnd().split("\n");
  assert.ok(lines[0]!.endsWith("target"));
  assert.ok(lines[1]!.endsWith("pipeline:redirect"));
});

test("formatRouteTable says so when there are no routers", () => {
  assert.equal(formatRouteTable(buildTable({})), "#  router  tenant  hosts  path  methods  headers  priority  service  middlewares\n(no routers)\n");
});
