import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http from "node:http";
import net from "node:net";
import { after, before, beforeEach, describe, test } from "node:test";
import { pino } from "pino";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { get, startBackend, type TestBackend } from "../helpers/net.js";

/** What the shadow saw of one copy. */
interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** How the shadow answers: like the primary, or differing in one field, or never. */
type Mode = "same" | "status" | "header" | "body" | "hang";

const PRIMARY_BODY = "the primary's answer\n";

/**
 * Request bodies and the body compare ride on the body filter phases (onRequestBody,
 * onResponseBody), which src/exchange/exchange.ts does not call yet on this branch: these
 * tests run and report, but do not fail the suite, until main's "exchange: body filters"
 * is merged; then this marker goes.
 */

/** `name{labels}` sample of a counter or gauge in the gateway's exposition, 0 when absent. */
async function sample(gateway: Gateway, name: string, labels: Record<string, string>): Promise<number> {
  const text = await gateway.metrics();
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    const inside = line.slice(name.length + 1, line.indexOf("}"));
    const parts = inside.split(",");
    if (wanted.every((w) => parts.includes(w))) return Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return 0;
}

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await check())) {
    if (performance.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function send(port: number, method: string, path: string, headers: http.OutgoingHttpHeaders = {}, body?: Buffer | Buffer[]): Promise<{ status: number; body: Buffer; ms: number }> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ms: performance.now() - started }));
      res.on("error", reject);
    });
    req.on("error", reject);
    if (Array.isArray(body)) {
      for (const part of body) req.write(part);
      req.end();
    } else req.end(body);
  });
}

describe("mirror middleware", () => {
  let primary: TestBackend;
  let shadow: TestBackend;
  let gateway: Gateway;
  let port: number;
  let mode: Mode = "same";
  const seen: Seen[] = [];
  const primaryBodies: Buffer[] = [];
  const hanging = new Set<http.ServerResponse>();
  const logLines: Record<string, unknown>[] = [];

  const answer = (res: http.ServerResponse, differ: Mode | "none"): void => {
    res.statusCode = differ === "status" ? 500 : 200;
    res.setHeader("content-type", differ === "header" ? "application/json" : "text/plain");
    res.end(differ === "body" ? "the shadow's answer\n" : PRIMARY_BODY);
  };

  const config = (mirror: Record<string, unknown>, extra: Partial<DivisorConfigInput> = {}): DivisorConfigInput =>
    ({
      listeners: gateway === undefined ? [{ address: "127.0.0.1:0" }] : gateway.config.listeners,
      services: { primary: { backends: [primary.address] }, shadow: { backends: [shadow.address] } },
      middlewares: { copy: { type: "mirror", service: "shadow", ...mirror } },
      routers: { all: { service: "primary", middlewares: ["copy"] } },
      ...extra,
    }) as DivisorConfigInput;

  before(async () => {
    primary = await startBackend((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        primaryBodies.push(Buffer.concat(chunks));
        answer(res, "none");
      });
    });
    shadow = await startBackend((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) });
        if (mode === "hang") {
          hanging.add(res);
          return;
        }
        answer(res, mode);
      });
    });
    const logger = pino({ level: "debug" }, { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) });
    gateway = createGateway(config({ compare: { headers: ["content-type"] } }), { logger });
    const [bound] = await gateway.listen();
    port = bound!.port;
  });
  beforeEach(() => {
    mode = "same";
    seen.length = 0;
    primaryBodies.length = 0;
    logLines.length = 0;
  });
  after(async () => {
    for (const res of hanging) res.destroy();
    await gateway.close({ gracePeriodMs: 500 });
    await Promise.all([primary.close(), shadow.close()]);
  });

  test("the shadow receives the same method, path, query and headers, plus the header marking a mirror", async () => {
    await gateway.reload(config({}));
    const res = await send(port, "GET", "/items/7?sort=asc&x=%20", { "x-custom": "one", host: "api.example" });
    assert.equal(res.status, 200);
    await until("the copy", () => seen.length === 1);
    const copy = seen[0]!;
    assert.equal(copy.method, "GET");
    assert.equal(copy.url, "/items/7?sort=asc&x=%20");
    assert.equal(copy.headers["x-custom"], "one");
    assert.equal(copy.headers.host, "api.example", "host: request keeps the Host the primary gets");
    assert.equal(copy.headers["x-divisor-mirror"], "copy", "marked with the middleware's name");
    assert.equal(copy.headers["x-forwarded-for"], "127.0.0.1", "the copy carries the forwarding headers the primary gets");
    assert.equal(primary.seen.at(-1)!.headers["x-divisor-mirror"], undefined, "the primary is not marked");
  });

  test("with host: backend and a custom header, the copy carries the shadow backend's address and that header", async () => {
    await gateway.reload(config({ host: "backend", header: { name: "x-shadow", value: "yes" } }));
    await send(port, "GET", "/", { host: "api.example" });
    await until("the copy", () => seen.length === 1);
    assert.equal(seen[0]!.headers.host, shadow.address);
    assert.equal(seen[0]!.headers["x-shadow"], "yes");
    assert.equal(seen[0]!.headers["x-divisor-mirror"], undefined);
  });

  test("a percentage copies exactly that share of the requests, and methods and a header match filter them", async () => {
    await gateway.reload(config({ percentage: 25 }));
    for (let i = 0; i < 20; i++) await send(port, "GET", `/p${i}`);
    await until("five copies", () => seen.length === 5);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen.length, 5);

    seen.length = 0;
    await gateway.reload(config({ methods: ["GET"], match: { header: "x-mirror-me", value: "1" } }));
    await send(port, "GET", "/yes", { "x-mirror-me": "1" });
    await send(port, "GET", "/no-header");
    await send(port, "GET", "/wrong-value", { "x-mirror-me": "2" });
    await send(port, "DELETE", "/wrong-method", { "x-mirror-me": "1" });
    await until("the copy", () => seen.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      seen.map((s) => s.url),
      ["/yes"],
    );
  });

  test("a shadow that never answers does not slow the primary, and copies past maxInFlight are dropped and counted, across reloads", async () => {
    await gateway.reload(config({ maxInFlight: 3, timeout: "30s" }));
    mode = "hang";
    const droppedBefore = await sample(gateway, "divisor_mirror_dropped_total", { middleware: "copy", reason: "in_flight_full" });
    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const res = await send(port, "GET", `/slow${i}`);
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), PRIMARY_BODY);
      latencies.push(res.ms);
    }
    latencies.sort((a, b) => a - b);
    // The shadow holds every copy for 30 s; the primary must not notice (generous bound for a shared CI machine).
    assert.ok(latencies.at(-1)! < 500, `slowest primary response took ${latencies.at(-1)} ms`);
    await until("three copies held by the shadow", () => hanging.size === 3);
    assert.equal(await sample(gateway, "divisor_mirror_in_flight", { middleware: "copy" }), 3);
    assert.equal((await sample(gateway, "divisor_mirror_dropped_total", { middleware: "copy", reason: "in_flight_full" })) - droppedBefore, 7);
    // A reload keeps the count: the copies held under the old configuration still fill the bound.
    await gateway.reload(config({ maxInFlight: 3, timeout: "30s" }));
    await send(port, "GET", "/after-reload");
    assert.equal((await sample(gateway, "divisor_mirror_dropped_total", { middleware: "copy", reason: "in_flight_full" })) - droppedBefore, 8);
    assert.equal(hanging.size, 3);
    for (const res of hanging) res.destroy();
    hanging.clear();
    await until("the held copies to fail", async () => (await sample(gateway, "divisor_mirror_in_flight", { middleware: "copy" })) === 0);
  });

  test("a copy the shadow does not answer in time counts as failed", async () => {
    await gateway.reload(config({ timeout: "100ms" }));
    mode = "hang";
    const before = await sample(gateway, "divisor_mirror_requests_total", { middleware: "copy", outcome: "failed" });
    const res = await send(port, "GET", "/timeout");
    assert.equal(res.status, 200);
    await until("the failure", async () => (await sample(gateway, "divisor_mirror_requests_total", { middleware: "copy", outcome: "failed" })) === before + 1);
    for (const r of hanging) r.destroy();
    hanging.clear();
  });

  describe("compare", () => {
    const counts = async () => ({
      same: await sample(gateway, "divisor_mirror_compared_total", { middleware: "copy", result: "same" }),
      different: await sample(gateway, "divisor_mirror_compared_total", { middleware: "copy", result: "different" }),
      status: await sample(gateway, "divisor_mirror_differences_total", { middleware: "copy", field: "status" }),
      header: await sample(gateway, "divisor_mirror_differences_total", { middleware: "copy", field: "header" }),
      body: await sample(gateway, "divisor_mirror_differences_total", { middleware: "copy", field: "body" }),
    });
    const compared = async (before: Awaited<ReturnType<typeof counts>>) => {
      await until("the compare", async () => {
        const now = await counts();
        return now.same + now.different > before.same + before.different;
      });
      const now = await counts();
      return {
        same: now.same - before.same,
        different: now.different - before.different,
        status: now.status - before.status,
        header: now.header - before.header,
        body: now.body - before.body,
      };
    };

    before(async () => {
      await gateway.reload(config({ compare: { headers: ["content-type"] } }));
    });

    test("identical responses count as the same and no difference", async () => {
      const start = await counts();
      await send(port, "GET", "/same");
      assert.deepEqual(await compared(start), { same: 1, different: 0, status: 0, header: 0, body: 0 });
    });

    for (const field of ["status", "header", "body"] as const) {
      test(`a differing ${field} is counted and logged with the exchange id and router`, async () => {
        mode = field;
        const start = await counts();
        const res = await send(port, "GET", `/differs-${field}`);
        assert.equal(res.status, 200, "the client always gets the primary's response");
        assert.equal(res.body.toString(), PRIMARY_BODY);
        assert.deepEqual(await compared(start), { same: 0, different: 1, status: field === "status" ? 1 : 0, header: field === "header" ? 1 : 0, body: field === "body" ? 1 : 0 });
        const line = logLines.find((l) => l.component === "middleware" && l.msg === "mirror: the shadow's response differs from the primary's");
        assert.ok(line !== undefined, "a log line on the middleware logger");
        assert.equal(typeof line.exchange, "number");
        assert.equal(line.router, "all");
        const diffs = line.differences as { field: string; name?: string }[];
        assert.deepEqual(
          diffs.map((d) => d.field),
          [field],
        );
        if (field === "header") {
          assert.equal(diffs[0]!.name, "content-type");
          assert.ok(!JSON.stringify(line).includes("application/json"), "header values are never logged");
        }
      });
    }
  });

  describe("request bodies", () => {
    before(async () => {
      await gateway.reload(config({ maxBodySize: "64KiB", compare: {} }));
    });

    test("are copied byte for byte, with Content-Length or chunked", async () => {
      const body = randomBytes(48 * 1024);
      const res = await send(port, "POST", "/upload?id=1", { "content-type": "application/octet-stream", "content-length": String(body.length) }, body);
      assert.equal(res.status, 200);
      const parts = [randomBytes(1000), randomBytes(20_000), randomBytes(7)];
      await send(port, "PUT", "/chunked", { "transfer-encoding": "chunked" }, parts);
      await until("both copies", () => seen.length === 2);
      const byUrl = new Map(seen.map((s) => [s.url, s]));
      assert.ok(byUrl.get("/upload?id=1")!.body.equals(body));
      assert.equal(byUrl.get("/upload?id=1")!.method, "POST");
      assert.ok(byUrl.get("/chunked")!.body.equals(Buffer.concat(parts)));
      assert.equal(byUrl.get("/chunked")!.method, "PUT");
      assert.ok(primaryBodies.some((b) => b.equals(body)), "the primary gets the body untouched");
    });

    test("over maxBodySize are not copied, counted as body_too_large, and still reach the primary", async () => {
      const before = await sample(gateway, "divisor_mirror_dropped_total", { middleware: "copy", reason: "body_too_large" });
      const big = randomBytes(100 * 1024);
      assert.equal((await send(port, "POST", "/big", { "content-length": String(big.length) }, big)).status, 200);
      assert.equal((await send(port, "POST", "/big-chunked", { "transfer-encoding": "chunked" }, [big.subarray(0, 60_000), big.subarray(60_000)])).status, 200);
      assert.equal((await sample(gateway, "divisor_mirror_dropped_total", { middleware: "copy", reason: "body_too_large" })) - before, 2);
      assert.equal(primaryBodies.filter((b) => b.equals(big)).length, 2);
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(seen.length, 0);
    });
  });

  test("a request whose client leaves before the body ends is not copied, counted as body_incomplete", async () => {
    await gateway.reload(config({}));
    const before = await sample(gateway, "divisor_mirror_dropped_total", { middleware: "copy", reason: "body_incomplete" });
    const socket = net.connect(port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    socket.write("POST /cut HTTP/1.1\r\nhost: x\r\ncontent-length: 4096\r\n\r\n");
    socket.write(randomBytes(1000));
    await until("the primary to be asked", () => primary.seen.some((r) => r.url === "/cut"));
    socket.destroy();
    await until("the drop", async () => (await sample(gateway, "divisor_mirror_dropped_total", { middleware: "copy", reason: "body_incomplete" })) === before + 1);
    assert.equal(seen.length, 0);
  });

  test("a mirror naming an unknown service is refused with the service's path", async () => {
    await assert.rejects(
      () => gateway.reload(config({ service: "shadwo" })),
      (err: unknown) => err instanceof ConfigError && /middlewares\.copy\.service/.test(err.message) && /did you mean "shadow"/.test(err.message),
    );
  });

  test("a router without the mirror sends nothing to the shadow", async () => {
    await gateway.reload(
      config({}, { routers: { all: { service: "primary" } } }),
    );
    assert.equal((await get(`http://127.0.0.1:${port}/plain`)).status, 200);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(seen.length, 0);
  });
});
