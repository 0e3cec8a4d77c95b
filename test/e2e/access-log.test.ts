import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ACCESS_LOG_FIELD_NAMES } from "../../src/config/schema-observability.js";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { freePort, get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

type Line = Record<string, unknown>;

function readLines(file: string): Line[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Line);
}

/** The access log is written asynchronously: wait until `file` holds `count` lines. */
async function linesOf(file: string, count: number, timeoutMs = 3000): Promise<Line[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = readLines(file);
    if (lines.length >= count) return lines;
    if (Date.now() > deadline) throw new Error(`expected ${count} lines in ${file}, found ${lines.length}:\n${JSON.stringify(lines, null, 1)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type Config = Omit<DivisorConfigInput, "listeners">;

describe("access log", () => {
  let dir: string;
  let backend: TestBackend;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-access-"));
    backend = await startBackend((req, res) => {
      req.resume();
      req.on("end", () => {
        const delay = req.url?.startsWith("/slow") ? 250 : 0;
        setTimeout(() => {
          res.setHeader("set-cookie", "session=secret-session");
          res.setHeader("x-backend", "b1");
          res.statusCode = req.url?.includes("fail") ? 503 : 200;
          res.end("hello");
        }, delay);
      });
    });
  });

  after(async () => {
    await backend.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function gatewayLogging(name: string, access: Record<string, unknown>, extra: Partial<Config> = {}): Promise<{ gw: TestGateway; file: string }> {
    const file = join(dir, name, "access.log");
    const gw = await startGateway({
      services: { app: { backends: [backend.address] } },
      middlewares: { strip: { type: "strip-prefix", prefixes: ["/api"] } },
      routers: { api: { match: { path: { prefix: "/api" } }, middlewares: ["strip"], service: "app" } },
      ...extra,
      logging: { access: { destination: file, ...access } },
    } as Config);
    return { gw, file };
  }

  test("writes the chosen fields of each exchange with exact values, redacting credentials", async () => {
    const fields = [
      ...ACCESS_LOG_FIELD_NAMES,
      "request_header:x-request-id",
      "request_header:authorization",
      "request_header:cookie",
      "request_header:proxy-authorization",
      "response_header:x-backend",
      "response_header:set-cookie",
    ];
    const { gw, file } = await gatewayLogging("fields", { fields });
    try {
      const before = Date.now();
      const res = await get(`${gw.url}/api/users?page=2`, {
        headers: {
          host: "Shop.Example.com:8080",
          "user-agent": "test-agent/1",
          referer: "https://example.com/",
          "x-request-id": "req-42",
          authorization: "Bearer top-secret-token",
          cookie: "session=abc",
        },
      });
      assert.equal(res.status, 200);
      assert.equal((await get(`${gw.url}/api/upload`, { method: "POST" }, "0123456789")).status, 200);
      assert.equal((await get(`${gw.url}/elsewhere`)).status, 404);
      const [first, post, unrouted] = await linesOf(file, 3);
      const text = readFileSync(file, "utf8");
      for (const secret of ["top-secret-token", "session=abc", "secret-session"]) assert.ok(!text.includes(secret), `${secret} must never be logged`);

      assert.deepEqual(Object.keys(first!), fields.filter((f) => !["trace_id", "tenant", "error", "request_header:proxy-authorization"].includes(f)));
      const { time, duration_ms, upstream_ms, ...rest } = first!;
      assert.deepEqual(rest, {
        client_ip: "127.0.0.1",
        method: "GET",
        host: "shop.example.com",
        path: "/api/users",
        query: "?page=2",
        protocol: "HTTP/1.1",
        status: 200,
        request_bytes: 0,
        response_bytes: 5,
        listener: "127.0.0.1:0",
        router: "api",
        service: "app",
        backend: backend.address,
        retries: 0,
        user_agent: "test-agent/1",
        referer: "https://example.com/",
        "request_header:x-request-id": "req-42",
        "request_header:authorization": "[redacted]",
        "request_header:cookie": "[redacted]",
        "response_header:x-backend": "b1",
        "response_header:set-cookie": "[redacted]",
      });
      const at = Date.parse(time as string);
      assert.ok(at >= before - 5 && at <= Date.now(), `time ${time} is when the exchange ended`);
      assert.match(time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(typeof duration_ms, "number");
      assert.equal(typeof upstream_ms, "number");
      assert.ok((upstream_ms as number) >= 0 && (upstream_ms as number) <= (duration_ms as number), `upstream ${upstream_ms} ms within the exchange's ${duration_ms} ms`);
      assert.ok((duration_ms as number) < 1000);
      assert.ok(!("trace_id" in first!), "no trace id without tracing");

      assert.equal(post!.method, "POST");
      assert.equal(post!.request_bytes, 10);
      assert.equal(post!.path, "/api/upload");
      assert.ok(!("query" in post!));

      assert.equal(unrouted!.status, 404);
      assert.equal(unrouted!.path, "/elsewhere");
      assert.ok(!("router" in unrouted!) && !("backend" in unrouted!) && !("upstream_ms" in unrouted!));
      assert.ok((unrouted!.response_bytes as number) > 0);
    } finally {
      await gw.close();
    }
  });

  test("logs the exchange's trace id when tracing is on: the client's trace, as the backend got it", async () => {
    // An OTLP/HTTP endpoint that takes every export; the spans themselves are test/e2e/tracing.test.ts's concern.
    const collector = await startBackend((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    });
    const { gw, file } = await gatewayLogging("trace", { fields: ["trace_id", "status"] }, {
      tracing: { endpoint: `http://${collector.address}/v1/traces`, protocol: "http/json" },
    });
    try {
      const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
      const seen = backend.seen.length;
      assert.equal((await get(`${gw.url}/api/traced`, { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } })).status, 200);
      assert.equal((await get(`${gw.url}/api/untraced`)).status, 200);
      const [traced, untraced] = await linesOf(file, 2);
      assert.deepEqual(traced, { trace_id: traceId, status: 200 });
      const forwarded = backend.seen.slice(seen).map((r) => String(r.headers.traceparent));
      assert.equal(forwarded[0]!.split("-")[1], traceId, "the backend got the same trace");
      // A request without a traceparent starts a trace of its own, logged and propagated alike.
      assert.match(String(untraced!.trace_id), /^[0-9a-f]{32}$/);
      assert.notEqual(untraced!.trace_id, traceId);
      assert.equal(forwarded[1]!.split("-")[1], untraced!.trace_id);
    } finally {
      await gw.close();
      await collector.close();
    }
  });

  test("names the error and omits upstream_ms when the backend cannot be reached", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const { gw, file } = await gatewayLogging("error", { fields: ["status", "backend", "upstream_ms", "error", "retries"] }, {
      services: { app: { backends: [dead] } },
    });
    try {
      assert.equal((await get(`${gw.url}/api/x`)).status, 502);
      const [line] = await linesOf(file, 1);
      assert.deepEqual(line, { status: 502, backend: dead, error: "ERR_UPSTREAM_CONNECT_REFUSED", retries: 0 });
    } finally {
      await gw.close();
    }
  });

  test("sampling keep 0 for 2xx and 1 for 5xx keeps exactly the 5xx lines, and counts both", async () => {
    const { gw, file } = await gatewayLogging(
      "sample-status",
      { fields: ["status", "path"], sample: [{ status: "5xx", keep: 1 }, { status: "2xx", keep: 0 }] },
      { admin: { address: "127.0.0.1:0" } },
    );
    try {
      for (let i = 0; i < 6; i++) assert.equal((await get(`${gw.url}/api/ok-${i}`)).status, 200);
      for (let i = 0; i < 3; i++) assert.equal((await get(`${gw.url}/api/fail-${i}`)).status, 503);
      await linesOf(file, 3);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(readLines(file), [0, 1, 2].map((i) => ({ status: 503, path: `/api/fail-${i}` })));
      const metrics = parseExposition((await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`)).body, "text");
      const labels = { tenant: "", router: "api", service: "app" };
      assert.equal(sampleValue(metrics, "divisor_access_log_lines_total", labels), 3);
      assert.equal(sampleValue(metrics, "divisor_access_log_lines_dropped_total", labels), 6);
    } finally {
      await gw.close();
    }
  });

  test("a slower-than rule keeps only the slow exchanges, and a share keeps about that share", async () => {
    const { gw, file } = await gatewayLogging("sample-slow", {
      fields: ["path"],
      sample: [{ slowerThan: "150ms", keep: 1 }, { routers: ["half"], keep: 0.5 }, { keep: 0 }],
    }, {
      routers: {
        api: { match: { path: { prefix: "/api" } }, middlewares: ["strip"], service: "app" },
        half: { match: { path: { prefix: "/half" } }, service: "app" },
      },
    });
    try {
      await Promise.all([get(`${gw.url}/api/slow-1`), get(`${gw.url}/api/fast-1`), get(`${gw.url}/api/slow-2`), get(`${gw.url}/api/fast-2`)]);
      const slow = await linesOf(file, 2);
      assert.deepEqual(slow.map((l) => l.path).sort(), ["/api/slow-1", "/api/slow-2"]);
      for (let i = 0; i < 400; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => get(`${gw.url}/half/${i + j}`)));
      await gw.close();
      const half = readLines(file).filter((l) => (l.path as string).startsWith("/half/")).length;
      // Binomial(400, 0.5): mean 200, standard deviation 10.
      assert.ok(half > 130 && half < 270, `kept ${half} of 400 at keep 0.5`);
    } finally {
      await gw.close();
    }
  });

  test("a tenant's router is logged as tenant/router with its tenant, and sampling rules match it by either", async () => {
    const { gw, file } = await gatewayLogging(
      "tenant",
      { fields: ["host", "tenant", "router", "status"], sample: [{ tenants: ["acme"], status: 404, keep: 0 }, { routers: ["acme/shop"], keep: 1 }, { keep: 0 }] },
      { tenants: { acme: { hosts: ["acme.example.com"], routers: { shop: { match: { path: { prefix: "/shop" } }, service: "app" } } } } },
    );
    try {
      assert.equal((await get(`${gw.url}/shop/cart`, { headers: { host: "acme.example.com" } })).status, 200);
      assert.equal((await get(`${gw.url}/api/x`)).status, 200);
      await linesOf(file, 1);
      await new Promise((r) => setTimeout(r, 250));
      assert.deepEqual(readLines(file), [{ host: "acme.example.com", tenant: "acme", router: "acme/shop", status: 200 }]);
    } finally {
      await gw.close();
    }
  });

  test("a reload swaps the access log's fields and destination atomically", async () => {
    const { gw, file } = await gatewayLogging("reload", { fields: ["path"] });
    const second = join(dir, "reload", "second.log");
    try {
      await get(`${gw.url}/api/one`);
      await linesOf(file, 1);
      await gw.gateway.reload({
        listeners: [{ address: "127.0.0.1:0" }],
        services: { app: { backends: [backend.address] } },
        routers: { all: { service: "app" } },
        logging: { access: { destination: second, fields: ["status", "router"] } },
      });
      await get(`${gw.url}/two`);
      assert.deepEqual(await linesOf(second, 1), [{ status: 200, router: "all" }]);
      assert.deepEqual(readLines(file), [{ path: "/api/one" }]);
      await gw.gateway.reload({ listeners: [{ address: "127.0.0.1:0" }], services: { app: { backends: [backend.address] } }, routers: { all: { service: "app" } } });
      await get(`${gw.url}/three`);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(readLines(second).length, 1, "access log off after a reload without logging.access");
    } finally {
      await gw.close();
    }
  });

  test("reopenLogs (SIGUSR1 in the CLI) starts a new file after logrotate renamed the old one", async () => {
    const { gw, file } = await gatewayLogging("rotate", { fields: ["path"] });
    try {
      await get(`${gw.url}/api/before`);
      await linesOf(file, 1);
      renameSync(file, `${file}.1`);
      await get(`${gw.url}/api/still-old-fd`);
      gw.gateway.reopenLogs();
      await new Promise((r) => setTimeout(r, 50));
      await get(`${gw.url}/api/after`);
      assert.deepEqual(await linesOf(file, 1), [{ path: "/api/after" }]);
      assert.deepEqual(readLines(`${file}.1`), [{ path: "/api/before" }, { path: "/api/still-old-fd" }]);
    } finally {
      await gw.close();
    }
  });

  test("flushes every line at process exit, without a close", async () => {
    const file = join(dir, "exit", "access.log");
    const port = await freePort();
    const script = join(dir, "exit-child.mts");
    const gatewayModule = new URL("../../src/gateway/gateway.ts", import.meta.url).pathname;
    writeFileSync(
      script,
      `import { createGateway } from ${JSON.stringify(gatewayModule)};
const gateway = createGateway(${JSON.stringify({
        listeners: [{ address: `127.0.0.1:${port}` }],
        logging: { level: "warn", access: { destination: file, fields: ["path"] } },
        services: { app: { backends: [backend.address] } },
        routers: { all: { service: "app" } },
      })});
await gateway.listen();
process.stdout.write("ready\\n");
process.on("SIGUSR2", () => process.exit(0));
`,
    );
    const child = spawn(process.execPath, ["--import", "tsx", script], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((r) => child.stdout!.once("data", r));
    for (let i = 0; i < 50; i++) await get(`http://127.0.0.1:${port}/${i}`);
    const exitCode = new Promise((r) => child.once("exit", r));
    child.kill("SIGUSR2");
    assert.equal(await exitCode, 0);
    assert.deepEqual(
      readLines(file).map((l) => l.path),
      Array.from({ length: 50 }, (_, i) => `/${i}`),
    );
  });

  test("a line longer than a write batch (a 10 KB header) is written whole and in order", async () => {
    const { gw, file } = await gatewayLogging("long", { fields: ["path", "request_header:x-big"] });
    const big = "b".repeat(10_000);
    try {
      await get(`${gw.url}/api/1`);
      await get(`${gw.url}/api/2`, { headers: { "x-big": big } });
      await get(`${gw.url}/api/3`);
      assert.deepEqual(await linesOf(file, 3), [{ path: "/api/1" }, { path: "/api/2", "request_header:x-big": big }, { path: "/api/3" }]);
    } finally {
      await gw.close();
    }
  });

  test("flushes every line on close", async () => {
    const { gw, file } = await gatewayLogging("flush", { fields: ["path"] });
    await Promise.all(Array.from({ length: 200 }, (_, i) => get(`${gw.url}/api/${i}`)));
    await gw.close();
    assert.equal(readLines(file).length, 200);
  });
});
