import assert from "node:assert/strict";
import type http from "node:http";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import type { Plugin } from "../../src/middleware/plugin.js";
import { freePort, get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { type DecodedSpan, type OtlpReceiver, startReceiver } from "../helpers/otlp.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

const CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN = "00f067aa0ba902b7";
let seq = 0;

/** A fresh W3C traceparent from "the client" (sampled unless told otherwise). */
function clientTraceparent(sampled = true): { traceId: string; spanId: string; header: string } {
  seq++;
  const traceId = `${CLIENT_TRACE.slice(0, 24)}${seq.toString(16).padStart(8, "0")}`;
  return { traceId, spanId: CLIENT_SPAN, header: `00-${traceId}-${CLIENT_SPAN}-${sampled ? "01" : "00"}` };
}

/** traceparent = version-traceid-parentid-flags */
function parseTraceparent(value: string | string[] | undefined): { traceId: string; parentId: string; flags: string } {
  assert.equal(typeof value, "string", "the backend got no traceparent");
  const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(value as string);
  assert.ok(m, `not a valid traceparent: ${value}`);
  return { traceId: m[1]!, parentId: m[2]!, flags: m[3]! };
}

function spansOf(receiver: OtlpReceiver, traceId: string): DecodedSpan[] {
  return receiver.spans.filter((s) => s.traceId === traceId);
}

async function scrape(gw: TestGateway): Promise<string> {
  const res = await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`);
  assert.equal(res.status, 200);
  return res.body;
}

function counter(text: string, name: string): number {
  return sampleValue(parseExposition(text, "text"), name, {}) ?? Number.NaN;
}

/** Records each exchange's traceId as onLog sees it. */
function traceIdRecorder(seen: (string | undefined)[]): Plugin<unknown> {
  return { name: "trace-ids", schema: z.object({}), create: () => ({ onLog: (ex) => void seen.push(ex.traceId) }) };
}

describe("tracing", () => {
  let receiver: OtlpReceiver;
  let backend: TestBackend;
  let slow: TestBackend;
  let gw: TestGateway;
  let deadAddress: string;
  const traceIds: (string | undefined)[] = [];

  const tracing = () => ({ endpoint: receiver.url, batching: { delay: 20 }, resourceAttributes: { "deployment.environment.name": "test" } });
  const services = (): DivisorConfigInput["services"] => ({
    app: { backends: [backend.address] },
    slow: { backends: [slow.address], timeouts: { response: 5000 } },
    dead: { backends: [deadAddress], retries: { attempts: 0 } },
  });
  const routers = (): DivisorConfigInput["routers"] => ({
    users: { match: { path: { pattern: "/users/:id" } }, service: "app", middlewares: ["ids"] },
    api: { match: { path: { prefix: "/api" } }, service: "app", middlewares: ["ids"] },
    slow: { match: { path: { prefix: "/slow" } }, service: "slow" },
    moved: { match: { path: { prefix: "/moved" } }, middlewares: ["to-https"] },
    dead: { match: { path: { prefix: "/dead" } }, service: "dead" },
  });

  before(async () => {
    receiver = await startReceiver();
    deadAddress = `127.0.0.1:${await freePort()}`;
    backend = await startBackend((req, res) => {
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    slow = await startBackend((req, res) => {
      req.resume();
      setTimeout(() => res.end("late"), 300);
    });
    gw = await startGateway(
      {
        admin: { address: "127.0.0.1:0" },
        tracing: tracing(),
        services: services(),
        middlewares: { ids: { type: "plugin", plugin: "trace-ids" }, "to-https": { type: "redirect", scheme: "https", status: 308 } },
        routers: routers(),
        listeners: [{ address: "127.0.0.1:0" }],
      },
      [traceIdRecorder(traceIds)],
    );
  });

  after(async () => {
    await gw.close();
    await backend.close();
    await slow.close();
    await receiver.close();
  });

  test("a client's traceparent reaches the backend with the same trace id and the CLIENT span as new parent", async () => {
    const client = clientTraceparent();
    const res = await get(`${gw.url}/users/42?x=1`, { headers: { traceparent: client.header, "user-agent": "tracing-test/1" } });
    assert.equal(res.status, 200);
    const sent = parseTraceparent(backend.seen.at(-1)!.headers.traceparent);
    assert.equal(sent.traceId, client.traceId);
    assert.notEqual(sent.parentId, client.spanId);
    assert.equal(sent.flags, "01");
    assert.equal(traceIds.at(-1), client.traceId, "exchange.traceId is the trace's id");

    await receiver.waitFor(() => spansOf(receiver, client.traceId).length === 2);
    const server = spansOf(receiver, client.traceId).find((s) => s.kind === "SERVER")!;
    const upstream = spansOf(receiver, client.traceId).find((s) => s.kind === "CLIENT")!;
    assert.equal(server.parentSpanId, client.spanId, "the SERVER span's parent is the client's span");
    assert.equal(upstream.parentSpanId, server.spanId, "the CLIENT span's parent is the SERVER span");
    assert.equal(upstream.spanId, sent.parentId, "the backend's parent is the CLIENT span");
    assert.equal(server.encoding, "protobuf");

    assert.equal(server.name, "GET /users/:id");
    assert.deepEqual(
      { ...server.attributes, "server.port": undefined, "client.address": undefined },
      {
        "http.request.method": "GET",
        "http.route": "/users/:id",
        "url.path": "/users/42",
        "url.scheme": "http",
        "server.address": "127.0.0.1",
        "server.port": undefined,
        "network.protocol.version": "1.1",
        "client.address": undefined,
        "user_agent.original": "tracing-test/1",
        "http.response.status_code": 200,
        "divisor.listener": gw.gateway.addresses[0]!.name,
        "divisor.router": "users",
        "divisor.service": "app",
      },
    );
    assert.equal(server.attributes["server.port"], gw.port);
    assert.equal(server.attributes["client.address"], "127.0.0.1");
    assert.equal(server.statusCode, "UNSET");

    assert.equal(upstream.name, "GET");
    assert.deepEqual(upstream.attributes, {
      "http.request.method": "GET",
      "server.address": "127.0.0.1",
      "server.port": backend.port,
      "network.protocol.version": "1.1",
      "divisor.backend": backend.address,
      "http.response.status_code": 200,
    });
    assert.ok(BigInt(server.startTimeUnixNano) <= BigInt(upstream.startTimeUnixNano));
    assert.ok(BigInt(upstream.endTimeUnixNano) <= BigInt(server.endTimeUnixNano));
    assert.equal(server.resource["service.name"], "divisor");
    assert.equal(typeof server.resource["service.version"], "string");
    assert.equal(server.resource["deployment.environment.name"], "test");
  });

  test("tracestate and baggage from the client reach the backend", async () => {
    const client = clientTraceparent();
    const res = await get(`${gw.url}/api/x`, { headers: { traceparent: client.header, tracestate: "vendor=abc,other=1", baggage: "user.id=7,tier=gold" } });
    assert.equal(res.status, 200);
    const headers = backend.seen.at(-1)!.headers;
    assert.equal(parseTraceparent(headers.traceparent).traceId, client.traceId);
    assert.equal(headers.tracestate, "vendor=abc,other=1");
    assert.deepEqual(String(headers.baggage).split(",").sort(), ["tier=gold", "user.id=7"]);
    await receiver.waitFor(() => spansOf(receiver, client.traceId).length === 2);
    assert.equal(spansOf(receiver, client.traceId).find((s) => s.kind === "SERVER")!.traceState, "vendor=abc,other=1");
    assert.equal(spansOf(receiver, client.traceId).find((s) => s.kind === "SERVER")!.name, "GET /api/*");
  });

  test("a request without traceparent starts a new trace", async () => {
    const before = traceIds.length;
    const res = await get(`${gw.url}/api/new`);
    assert.equal(res.status, 200);
    const sent = parseTraceparent(backend.seen.at(-1)!.headers.traceparent);
    assert.equal(sent.flags, "01");
    assert.equal(traceIds[before], sent.traceId);
    await receiver.waitFor(() => spansOf(receiver, sent.traceId).length === 2);
    const server = spansOf(receiver, sent.traceId).find((s) => s.kind === "SERVER")!;
    assert.equal(server.parentSpanId, "", "the SERVER span is the trace's root");
  });

  test("an unsampled parent records nothing but still propagates a valid traceparent", async () => {
    const client = clientTraceparent(false);
    const res = await get(`${gw.url}/api/unsampled`, { headers: { traceparent: client.header } });
    assert.equal(res.status, 200);
    const sent = parseTraceparent(backend.seen.at(-1)!.headers.traceparent);
    assert.equal(sent.traceId, client.traceId);
    assert.notEqual(sent.parentId, client.spanId);
    assert.equal(sent.flags, "00");
    // A later sampled request's spans arriving shows the batch holding this one went out.
    const marker = clientTraceparent();
    await get(`${gw.url}/api/marker`, { headers: { traceparent: marker.header } });
    await receiver.waitFor(() => spansOf(receiver, marker.traceId).length === 2);
    assert.equal(spansOf(receiver, client.traceId).length, 0);
  });

  test("requests answered without a backend get a SERVER span: a 404 and a middleware's answer", async () => {
    const unrouted = clientTraceparent();
    const moved = clientTraceparent();
    assert.equal((await get(`${gw.url}/nowhere`, { headers: { traceparent: unrouted.header } })).status, 404);
    assert.equal((await get(`${gw.url}/moved/x`, { headers: { traceparent: moved.header } })).status, 308);
    await receiver.waitFor(() => spansOf(receiver, unrouted.traceId).length === 1 && spansOf(receiver, moved.traceId).length === 1);
    const s404 = spansOf(receiver, unrouted.traceId)[0]!;
    assert.equal(s404.kind, "SERVER");
    assert.equal(s404.name, "GET");
    assert.equal(s404.attributes["http.response.status_code"], 404);
    assert.equal(s404.attributes["error.type"], undefined, "a 4xx is not a server error");
    assert.equal(s404.attributes["divisor.router"], undefined);
    const s308 = spansOf(receiver, moved.traceId)[0]!;
    assert.equal(s308.name, "GET /moved/*");
    assert.equal(s308.attributes["http.response.status_code"], 308);
    assert.equal(s308.attributes["divisor.router"], "moved");
    assert.equal(s308.attributes["divisor.service"], undefined);
  });

  test("a failed try sets error.type on both spans: the failure kind on the CLIENT span, the error code on the SERVER span", async () => {
    const client = clientTraceparent();
    assert.equal((await get(`${gw.url}/dead/x`, { headers: { traceparent: client.header } })).status, 502);
    await receiver.waitFor(() => spansOf(receiver, client.traceId).length === 2);
    const server = spansOf(receiver, client.traceId).find((s) => s.kind === "SERVER")!;
    const upstream = spansOf(receiver, client.traceId).find((s) => s.kind === "CLIENT")!;
    assert.equal(upstream.attributes["error.type"], "connect-refused");
    assert.equal(upstream.attributes["http.response.status_code"], undefined);
    assert.equal(upstream.statusCode, "ERROR");
    assert.equal(server.attributes["http.response.status_code"], 502);
    assert.equal(server.attributes["error.type"], "ERR_UPSTREAM_CONNECT_REFUSED");
    assert.equal(server.statusCode, "ERROR");
  });

  test("a client that leaves before the response ends the SERVER span with 499 and error.type", async () => {
    const client = clientTraceparent();
    const socket = net.connect(gw.port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(`GET /slow/x HTTP/1.1\r\nHost: 127.0.0.1\r\ntraceparent: ${client.header}\r\n\r\n`);
    await new Promise((r) => setTimeout(r, 100));
    socket.resetAndDestroy(); // a FIN would be a half-close, which still gets its response

    await receiver.waitFor(() => spansOf(receiver, client.traceId).length === 2);
    const server = spansOf(receiver, client.traceId).find((s) => s.kind === "SERVER")!;
    const upstream = spansOf(receiver, client.traceId).find((s) => s.kind === "CLIENT")!;
    assert.equal(server.attributes["http.response.status_code"], 499);
    assert.equal(server.attributes["error.type"], "ERR_CLIENT_ABORTED");
    assert.equal(upstream.attributes["error.type"], "ERR_CLIENT_ABORTED");
    assert.equal(upstream.parentSpanId, server.spanId);
  });
});

describe("tracing: tries, sampling and export", () => {
  let receiver: OtlpReceiver;
  let backend: TestBackend;

  before(async () => {
    receiver = await startReceiver();
    backend = await startBackend((req, res) => {
      req.resume();
      req.on("end", () => res.end("ok"));
    });
  });

  after(async () => {
    await backend.close();
    await receiver.close();
  });

  test("a retry produces two CLIENT spans, the second with http.request.resend_count, and the backend names the second", async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const gw = await startGateway({
      tracing: { endpoint: receiver.url, batching: { delay: 20 } },
      services: { app: { backends: [dead, backend.address], balancer: { algorithm: "round-robin" }, retries: { attempts: 1 } } },
      routers: { all: { service: "app" } },
    });
    try {
      const clients = [clientTraceparent(), clientTraceparent()];
      for (const c of clients) assert.equal((await get(`${gw.url}/`, { headers: { traceparent: c.header } })).status, 200);
      await receiver.waitFor(() => clients.every((c) => spansOf(receiver, c.traceId).length >= 2));
      const retried = clients.find((c) => spansOf(receiver, c.traceId).length === 3);
      assert.ok(retried, "one of the two requests went to the dead backend first");
      const spans = spansOf(receiver, retried.traceId);
      const server = spans.find((s) => s.kind === "SERVER")!;
      const tries = spans.filter((s) => s.kind === "CLIENT").sort((a, b) => (BigInt(a.startTimeUnixNano) < BigInt(b.startTimeUnixNano) ? -1 : 1));
      assert.equal(tries.length, 2);
      for (const t of tries) assert.equal(t.parentSpanId, server.spanId);
      assert.equal(tries[0]!.attributes["divisor.backend"], dead);
      assert.equal(tries[0]!.attributes["error.type"], "connect-refused");
      assert.equal(tries[0]!.attributes["http.request.resend_count"], undefined);
      assert.equal(tries[0]!.statusCode, "ERROR");
      assert.equal(tries[1]!.attributes["divisor.backend"], backend.address);
      assert.equal(tries[1]!.attributes["http.request.resend_count"], 1);
      assert.equal(tries[1]!.attributes["http.response.status_code"], 200);
      const received = backend.seen.map((r) => parseTraceparent(r.headers.traceparent)).filter((t) => t.traceId === retried.traceId);
      assert.equal(received.length, 1);
      assert.equal(received[0]!.parentId, tries[1]!.spanId);
    } finally {
      await gw.close();
    }
  });

  test("a hedged request has a CLIENT span per try: the winner names the backend's parent, the loser ends cancelled", async () => {
    let slowMode = false;
    const maybeSlow = await startBackend((req, res) => {
      if (!slowMode) return void res.end("first");
      const timer = setTimeout(() => res.end("first, late"), 1000);
      req.socket.once("close", () => clearTimeout(timer));
    });
    const fast = await startBackend((_req, res) => res.end("second"));
    const gw = await startGateway({
      tracing: { endpoint: receiver.url, batching: { delay: 20 } },
      services: { app: { backends: [maybeSlow.address, fast.address], balancer: { algorithm: "round-robin" } } },
      routers: { all: { service: "app", hedge: { percentile: 90, minDelay: "50ms" } } },
    });
    try {
      for (let i = 0; i < 20; i++) await get(`${gw.url}/`);
      await new Promise((r) => setTimeout(r, 300)); // the latency percentile is refreshed by the sweeper
      slowMode = true;
      const clients = [clientTraceparent(), clientTraceparent()];
      for (const c of clients) assert.equal((await get(`${gw.url}/`, { headers: { traceparent: c.header } })).body, "second");
      await receiver.waitFor(() => clients.some((c) => spansOf(receiver, c.traceId).length === 3));
      const hedged = clients.find((c) => spansOf(receiver, c.traceId).length === 3)!;
      const spans = spansOf(receiver, hedged.traceId);
      const server = spans.find((s) => s.kind === "SERVER")!;
      const first = spans.find((s) => s.kind === "CLIENT" && s.attributes["divisor.hedge"] === undefined)!;
      const hedge = spans.find((s) => s.kind === "CLIENT" && s.attributes["divisor.hedge"] === true)!;
      assert.equal(first.parentSpanId, server.spanId);
      assert.equal(hedge.parentSpanId, server.spanId);
      assert.equal(first.attributes["divisor.backend"], maybeSlow.address);
      assert.equal(first.attributes["error.type"], "cancelled");
      assert.equal(hedge.attributes["divisor.backend"], fast.address);
      assert.equal(hedge.attributes["http.response.status_code"], 200);
      const sentToFast = fast.seen.map((r) => parseTraceparent(r.headers.traceparent)).find((t) => t.traceId === hedged.traceId)!;
      assert.equal(sentToFast.parentId, hedge.spanId);
      const sentToSlow = maybeSlow.seen.map((r) => parseTraceparent(r.headers.traceparent)).find((t) => t.traceId === hedged.traceId)!;
      assert.equal(sentToSlow.parentId, first.spanId);
    } finally {
      await gw.close();
      await maybeSlow.close();
      await fast.close();
    }
  });

  test("ratio 0 with parentBased still records a sampled parent's request and none of the new traces", async () => {
    const gw = await startGateway({
      tracing: { endpoint: receiver.url, sampler: { ratio: 0 }, batching: { delay: 20 } },
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
    });
    try {
      const client = clientTraceparent();
      await get(`${gw.url}/`);
      const root = parseTraceparent(backend.seen.at(-1)!.headers.traceparent);
      assert.equal(root.flags, "00", "a new trace at ratio 0 is not sampled, yet propagated");
      await get(`${gw.url}/`, { headers: { traceparent: client.header } });
      await receiver.waitFor(() => spansOf(receiver, client.traceId).length === 2);
      assert.equal(spansOf(receiver, root.traceId).length, 0);
    } finally {
      await gw.close();
    }
  });

  test("parentBased false lets the ratio decide even for a sampled parent", async () => {
    const gw = await startGateway({
      tracing: { endpoint: receiver.url, sampler: { ratio: 0, parentBased: false }, batching: { delay: 20 } },
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
    });
    const client = clientTraceparent();
    try {
      await get(`${gw.url}/`, { headers: { traceparent: client.header } });
      const sent = parseTraceparent(backend.seen.at(-1)!.headers.traceparent);
      assert.equal(sent.traceId, client.traceId);
      assert.equal(sent.flags, "00");
    } finally {
      await gw.close(); // flushes: anything recorded is sent before close resolves
    }
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(spansOf(receiver, client.traceId).length, 0);
  });

  test("the http/json protocol exports the same spans, with the configured headers", async () => {
    const gw = await startGateway({
      tracing: { endpoint: receiver.url, protocol: "http/json", headers: { authorization: "Bearer s3cret-vendor-key" }, serviceName: "edge", batching: { delay: 20 } },
      services: { app: { backends: [backend.address] } },
      routers: { all: { match: { path: { exact: "/exact" } }, service: "app" } },
    });
    try {
      const client = clientTraceparent();
      await get(`${gw.url}/exact`, { headers: { traceparent: client.header } });
      await receiver.waitFor(() => spansOf(receiver, client.traceId).length === 2);
      const spans = spansOf(receiver, client.traceId);
      const server = spans.find((s) => s.kind === "SERVER")!;
      const upstream = spans.find((s) => s.kind === "CLIENT")!;
      assert.equal(server.encoding, "json");
      assert.equal(server.name, "GET /exact");
      assert.equal(server.parentSpanId, client.spanId);
      assert.equal(upstream.parentSpanId, server.spanId);
      assert.equal(upstream.attributes["server.port"], backend.port);
      assert.equal(server.resource["service.name"], "edge");
      const request = receiver.requests.find((r) => r.encoding === "json")!;
      assert.equal(request.headers.authorization, "Bearer s3cret-vendor-key");
    } finally {
      await gw.close();
    }
  });

  test("an unreachable endpoint counts export failures and never fails or slows a request", async () => {
    const gw = await startGateway({
      admin: { address: "127.0.0.1:0" },
      tracing: { endpoint: `http://127.0.0.1:${await freePort()}/v1/traces`, batching: { delay: 10, exportTimeout: 300 } },
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
    });
    try {
      const started = performance.now();
      for (let i = 0; i < 20; i++) assert.equal((await get(`${gw.url}/`)).status, 200);
      const elapsed = performance.now() - started;
      assert.ok(elapsed < 2000, `20 requests took ${elapsed} ms`);
      let text = "";
      const until = Date.now() + 5000;
      do {
        await new Promise((r) => setTimeout(r, 50));
        text = await scrape(gw);
      } while (counter(text, "divisor_tracing_export_failures_total") === 0 && Date.now() < until);
      assert.ok(counter(text, "divisor_tracing_export_failures_total") > 0, text);
      assert.ok(counter(text, "divisor_tracing_spans_failed_total") > 0);
      assert.equal(counter(text, "divisor_tracing_spans_exported_total"), 0);
    } finally {
      await gw.close();
    }
  });

  test("a full export queue drops spans and counts them", async () => {
    const gw = await startGateway({
      admin: { address: "127.0.0.1:0" },
      tracing: { endpoint: receiver.url, batching: { maxQueueSize: 2, maxBatchSize: 2, delay: 60_000 } },
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
    });
    try {
      // Two spans a request; a full batch is exported at once, but the queue takes only two meanwhile.
      await Promise.all([1, 2, 3, 4].map(() => get(`${gw.url}/`)));
      const text = await scrape(gw);
      assert.ok(counter(text, "divisor_tracing_spans_dropped_total") > 0, text);
    } finally {
      await gw.close();
    }
  });

  test("a reload that turns tracing off stops exporting, and then client trace headers pass through unchanged", async () => {
    const base = { listeners: [{ address: "127.0.0.1:0" }], services: { app: { backends: [backend.address] } }, routers: { all: { service: "app" } } };
    const gw = await startGateway({ ...base, tracing: { endpoint: receiver.url, batching: { delay: 20 } } });
    try {
      const before = clientTraceparent();
      await get(`${gw.url}/`, { headers: { traceparent: before.header } });
      await receiver.waitFor(() => spansOf(receiver, before.traceId).length === 2);

      await gw.gateway.reload(base);
      const client = clientTraceparent();
      await get(`${gw.url}/`, { headers: { traceparent: client.header, tracestate: "a=b", baggage: "k=v" } });
      const headers: http.IncomingHttpHeaders = backend.seen.at(-1)!.headers;
      assert.equal(headers.traceparent, client.header, "with tracing off the client's traceparent is forwarded as is");
      assert.equal(headers.tracestate, "a=b");
      assert.equal(headers.baggage, "k=v");
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(spansOf(receiver, client.traceId).length, 0);

      // And back on: a new provider for new exchanges.
      await gw.gateway.reload({ ...base, tracing: { endpoint: receiver.url, protocol: "http/json", batching: { delay: 20 } } });
      const again = clientTraceparent();
      await get(`${gw.url}/`, { headers: { traceparent: again.header } });
      await receiver.waitFor(() => spansOf(receiver, again.traceId).length === 2);
      assert.equal(spansOf(receiver, again.traceId)[0]!.encoding, "json");
    } finally {
      await gw.close();
    }
  });
});
