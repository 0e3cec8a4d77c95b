import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { readFileSync } from "node:fs";
import { parseConfigText } from "../../src/config/load.js";
import { ACCESS_LOG_FIELD_NAMES, LOG_COMPONENT_NAMES } from "../../src/config/schema-observability.js";
import { ConfigError } from "../../src/errors.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { createLogger } from "../../src/observability/logger.js";
import { GatewayLogs } from "../../src/observability/logging.js";
import { get, startBackend } from "../helpers/net.js";

type Line = Record<string, unknown>;

/** A logger whose lines land in `lines`, parsed. */
function capture(): { logger: ReturnType<typeof createLogger>; lines: Line[] } {
  const lines: Line[] = [];
  const logger = createLogger({
    destination: {
      write(s: string) {
        for (const l of s.split("\n")) if (l !== "") lines.push(JSON.parse(l) as Line);
      },
    },
  });
  return { logger, lines };
}

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function api(gateway: Gateway, method: string, body?: unknown, token?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const payload = body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body);
  return get(`http://127.0.0.1:${gateway.adminAddress!.port}/api/logging`, { method, headers }, payload).then((r) => ({
    status: r.status,
    body: JSON.parse(r.body) as Record<string, unknown>,
  }));
}

describe("component levels", () => {
  test("each component takes its level from components, else from level; run-time changes win until a reload changes them", () => {
    const { logger, lines } = capture();
    const logs = new GatewayLogs(logger, { level: "warn", components: { health: "debug" } });
    logs.get("health").debug("h1");
    logs.get("breaker").info("b1");
    logs.get("breaker").warn("b2");
    assert.deepEqual(
      lines.map((l) => [l.component, l.msg]),
      [
        ["health", "h1"],
        ["breaker", "b2"],
      ],
    );
    assert.equal(logs.levels().components.breaker, "warn");
    logs.set({ components: { breaker: "info" } });
    assert.equal(logs.levels().components.breaker, "info");
    // A reload that keeps logging as it was keeps the run-time change...
    logs.configure({ level: "warn", components: { health: "debug" } });
    assert.equal(logs.levels().components.breaker, "info");
    // ...one that changes it drops it.
    logs.configure({ level: "error", components: {} });
    assert.deepEqual(logs.levels().components.breaker, "error");
    assert.equal(logs.levels().components.health, "error");
    // A new default reaches every component, configured or changed before.
    logs.set({ components: { gateway: "trace" } });
    logs.set({ level: "debug" });
    assert.ok(Object.values(logs.levels().components).every((l) => l === "debug"));
  });
});

describe("logging configuration", () => {
  test("an unknown component, level, access field or sampling share is refused with located problems", () => {
    const yaml = [
      "listeners: [{ address: 127.0.0.1:0 }]",
      "logging:",
      "  components:",
      "    helth: debug",
      "    breaker: loud",
      "  access:",
      "    fields: [status, durtion_ms, request_header:x-id, response_header:bad header]",
      "    sample:",
      "      - { status: 6xx, keep: 1 }",
      "      - { slowerThan: 500ms, keep: 2 }",
      "      - { status: 504-500, keep: 1 }",
      "      - { routers: [ap], keep: 1 }",
      "services: { app: { backends: [127.0.0.1:9] } }",
      "routers: { api: { service: app } }",
      "",
    ].join("\n");
    let error: unknown;
    try {
      parseConfigText(yaml, "divisor.yaml");
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof ConfigError, String(error));
    const got = error.issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
    const expect: [RegExp, string][] = [
      [/^4:\d+ logging\.components\.helth: .*did you mean "health"/, "unknown component with did-you-mean"],
      [/^5:\d+ logging\.components\.breaker: .*"info"/, "unknown level, listing the levels"],
      [/^7:\d+ logging\.access\.fields\[1\]: unknown access-log field "durtion_ms" \(did you mean "duration_ms"\?\)/, "unknown field"],
      [/^7:\d+ logging\.access\.fields\[3\]: unknown access-log field "response_header:bad header"/, "bad header name"],
      [/^9:\d+ logging\.access\.sample\[0\]\.status: /, "bad status class"],
      [/^10:\d+ logging\.access\.sample\[1\]\.keep: /, "share above 1"],
      [/^11:\d+ logging\.access\.sample\[2\]\.status: the range "504-500" is empty/, "empty range"],
      [/^12:\d+ logging\.access\.sample\[3\]\.routers\[0\]: unknown router "ap" \(did you mean "api"\?\)/, "unknown router"],
    ];
    for (const [re, what] of expect) assert.ok(got.some((g) => re.test(g)), `${what}: expected ${re} in\n${got.join("\n")}`);
    assert.equal(got.length, expect.length, got.join("\n"));
  });
});

describe("docs/logging.md", () => {
  test("documents every access-log field and every component, and its first example is a valid configuration", () => {
    const doc = readFileSync(new URL("../../docs/logging.md", import.meta.url), "utf8");
    // Names in the first column of the doc's tables.
    const names = new Set([...doc.matchAll(/^\| `([a-z_]+)(?::<name>)?` \|/gm)].map((m) => m[1]!));
    for (const f of ACCESS_LOG_FIELD_NAMES) assert.ok(names.has(f), `field ${f} documented`);
    for (const c of LOG_COMPONENT_NAMES) assert.ok(names.has(c), `component ${c} documented`);
    const example = /```yaml\n([\s\S]*?)```/.exec(doc)![1]!;
    const config = parseConfigText(`listeners: [{ address: 127.0.0.1:0 }]\n${example}`, "docs/logging.md");
    assert.equal(config.logging.access?.sample.length, 3);
  });
});

describe("logs of a running gateway", () => {
  test("health transitions are logged with the reason, and a debug health line appears only after PUT /api/logging", async () => {
    let healthy = true;
    const backend = await startBackend((req, res) => {
      res.statusCode = req.url === "/healthz" && !healthy ? 500 : 200;
      res.end("ok");
    });
    const { logger, lines } = capture();
    const gateway = createGateway(
      {
        listeners: [{ address: "127.0.0.1:0" }],
        admin: { address: "127.0.0.1:0" },
        services: { app: { backends: [backend.address], healthCheck: { path: "/healthz", interval: "30ms", jitter: 0, fall: 1, rise: 1 } } },
        routers: { all: { service: "app" } },
      },
      { logger },
    );
    try {
      await gateway.listen();
      healthy = false;
      const health = () => lines.filter((l) => l.component === "health");
      await until(() => health().some((l) => l.msg === "backend marked down: health checks fail"), "the down line");
      const down = health().find((l) => l.msg === "backend marked down: health checks fail")!;
      assert.equal(down.level, 40);
      assert.equal(down.service, "app");
      assert.equal(down.backend, backend.address);
      assert.equal(down.reason, "status 500");
      await new Promise((r) => setTimeout(r, 150));
      assert.ok(!health().some((l) => l.level === 20), "no debug line at the default level");

      const before = await api(gateway, "GET");
      assert.equal(before.status, 200);
      assert.equal((before.body.components as Record<string, string>).health, "info");
      const put = await api(gateway, "PUT", { components: { health: "debug" } });
      assert.equal(put.status, 200, JSON.stringify(put.body));
      assert.equal((put.body.components as Record<string, string>).health, "debug");
      assert.equal((put.body.components as Record<string, string>).breaker, "info");
      await until(() => health().some((l) => l.level === 20 && l.msg === "health check failed"), "a debug health line after the PUT");
      const debug = health().find((l) => l.level === 20)!;
      assert.equal(debug.reason, "status 500");

      healthy = true;
      await until(() => health().some((l) => l.msg === "backend marked up: health checks pass again"), "the up line");
      const admin = lines.find((l) => l.component === "admin")!;
      assert.deepEqual({ token: admin.token, method: admin.method, path: admin.path, status: admin.status, msg: admin.msg }, {
        token: "localhost",
        method: "PUT",
        path: "/api/logging",
        status: 200,
        msg: "admin call",
      });
    } finally {
      await gateway.close();
      await backend.close();
    }
  });

  test("PUT /api/logging is refused to read-only and tenant-scoped tokens, and answers 400 with what is wrong", async () => {
    const { logger, lines } = capture();
    const tokens = { admin: "admin-token-0123456789", reader: "reader-token-0123456789", tenant: "tenant-token-0123456789" };
    const gateway = createGateway(
      {
        listeners: [{ address: "127.0.0.1:0" }],
        admin: {
          address: "127.0.0.1:0",
          tokens: [
            { name: "ops", token: tokens.admin },
            { name: "dashboard", token: tokens.reader, readOnly: true },
            { name: "acme-ops", token: tokens.tenant, tenant: "acme" },
          ],
        },
        services: { app: { backends: ["127.0.0.1:9"] } },
        routers: { all: { service: "app" } },
      },
      { logger },
    );
    try {
      await gateway.listen();
      assert.equal((await api(gateway, "GET", undefined, tokens.reader)).status, 200);
      const readOnly = await api(gateway, "PUT", { level: "debug" }, tokens.reader);
      assert.equal(readOnly.status, 403);
      assert.equal((readOnly.body.error as { code: string }).code, "ERR_ADMIN_READ_ONLY");
      const scoped = await api(gateway, "PUT", { level: "debug" }, tokens.tenant);
      assert.equal(scoped.status, 403);
      assert.equal((scoped.body.error as { code: string }).code, "ERR_ADMIN_TENANT_SCOPE");
      assert.equal((await api(gateway, "GET", undefined, tokens.tenant)).status, 403);

      const cases: [unknown, RegExp][] = [
        ["{not json", /the body must be JSON/],
        [{}, /give "level" and\/or "components"/],
        [{ level: "loud" }, /^level: .*"debug"/],
        [{ components: { helth: "debug" } }, /components: unknown key "helth" \(did you mean "health"\?\)/],
        [{ levle: "debug" }, /unknown key "levle" \(did you mean "level"\?\)/],
      ];
      for (const [body, re] of cases) {
        const r = await api(gateway, "PUT", body, tokens.admin);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.match((r.body.error as { message: string }).message, re);
      }
      assert.equal(gateway.logs.levels().level, "info", "refused changes change nothing");

      const ok = await api(gateway, "PUT", { level: "warn" }, tokens.admin);
      assert.equal(ok.status, 200);
      assert.equal(ok.body.level, "warn");
      const calls = lines.filter((l) => l.component === "admin");
      assert.ok(calls.every((l) => l.token === "ops"), "only the admin token's calls got through to be logged");
      assert.ok(!JSON.stringify(lines).includes("token-0123456789"), "a token never appears in a line");
    } finally {
      await gateway.close();
    }
  });

  test("breaker transitions are logged on the breaker component", async () => {
    const backend = await startBackend((_req, res) => {
      res.statusCode = 503;
      res.end("no");
    });
    const { logger, lines } = capture();
    const gateway = createGateway(
      {
        listeners: [{ address: "127.0.0.1:0" }],
        services: { app: { backends: [backend.address], circuitBreaker: { consecutiveFailures: 2, openDuration: "50ms", maxEjectedShare: 1 }, serviceBreaker: { enabled: false } } },
        routers: { all: { service: "app" } },
      },
      { logger },
    );
    try {
      const [bound] = await gateway.listen();
      for (let i = 0; i < 2; i++) await get(`http://127.0.0.1:${bound!.port}/`);
      const breaker = () => lines.filter((l) => l.component === "breaker");
      await until(() => breaker().some((l) => l.msg === "circuit opened"), "the opened line");
      const opened = breaker().find((l) => l.msg === "circuit opened")!;
      assert.equal(opened.service, "app");
      assert.equal(opened.backend, backend.address);
      assert.equal(opened.state, "open");
      await until(() => breaker().some((l) => l.state === "half-open"), "half-open after openDuration");
    } finally {
      await gateway.close();
      await backend.close();
    }
  });

  test("a middleware that throws is logged on the middleware component, with its router", async () => {
    const backend = await startBackend();
    const { logger, lines } = capture();
    const gateway = createGateway(
      {
        listeners: [{ address: "127.0.0.1:0" }],
        services: { app: { backends: [backend.address] } },
        middlewares: { boom: { type: "plugin", plugin: "boom" } },
        routers: { all: { service: "app", middlewares: ["boom"] } },
      },
      {
        logger,
        plugins: [
          {
            name: "boom",
            create: () => ({
              onRequest() {
                throw new Error("kaboom");
              },
            }),
          },
        ],
      },
    );
    try {
      const [bound] = await gateway.listen();
      assert.equal((await get(`http://127.0.0.1:${bound!.port}/`)).status, 500);
      const line = lines.find((l) => l.component === "middleware")!;
      assert.equal(line.level, 50);
      assert.equal(line.router, "all");
      assert.match(String(line.err), /kaboom/);
    } finally {
      await gateway.close();
      await backend.close();
    }
  });
});
