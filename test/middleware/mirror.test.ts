import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import { pino } from "pino";
import { mirrorSchema } from "../../src/middleware/mirror/schema.js";
import { mirrorPlugin } from "../../src/middleware/mirror/index.js";
import { HeaderList } from "../../src/http1/headers.js";
import type { BodySink, Exchange, PluginContext } from "../../src/middleware/plugin.js";
import type { UpstreamClientRequest, UpstreamClientResponse } from "../../src/middleware/upstream-client.js";
import { NO_PLUGIN_METRICS } from "../../src/observability/metrics/plugin-metrics.js";

/**
 * The body filter phases driven directly, as the exchange calls them: until the
 * exchange implements them on this branch, this is where the tap and the hash are proven.
 */
function harness(options: Record<string, unknown>) {
  const sent: UpstreamClientRequest[] = [];
  let answer: UpstreamClientResponse = { status: 200, headers: [], body: Buffer.alloc(0), backend: "b:1" };
  const lines: Record<string, unknown>[] = [];
  const context: PluginContext = {
    name: "copy",
    metrics: NO_PLUGIN_METRICS,
    state: new Map(),
    upstream: {
      request: (_service, req) => {
        sent.push(req);
        return Promise.resolve(answer);
      },
    },
    log: pino({ level: "debug" }, { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) }),
  };
  const mw = mirrorPlugin.create(mirrorSchema.parse({ type: "mirror", service: "shadow", ...options }), context);
  const exchange = (method: string, headers: string[]) =>
    ({
      id: 1,
      router: "r",
      locals: new Map(),
      errorCode: undefined,
      request: { method, headers: new HeaderList([...headers]) },
      head: { method, target: "/t?q", headers: new HeaderList([...headers]) },
    }) as unknown as Exchange & { head: { method: string; target: string; headers: HeaderList } };
  const sink = () => {
    const out: Buffer[] = [];
    let ended = false;
    const s: BodySink = { write: (c) => out.push(c), end: () => (ended = true), error: (e) => assert.fail(e) };
    return { s, out, ended: () => ended };
  };
  return { mw, sent, lines, exchange, sink, setAnswer: (a: UpstreamClientResponse) => (answer = a) };
}

test("the request body tap passes every chunk on and sends the copy with the whole body once it ends", async () => {
  const h = harness({});
  const ex = h.exchange("POST", ["host", "x", "transfer-encoding", "chunked"]);
  h.mw.onUpstreamRequest!(ex, ex.head);
  const filter = h.mw.onRequestBody!(ex, ex.head)!;
  assert.ok(filter !== undefined);
  const parts = [randomBytes(10), randomBytes(3000), randomBytes(1)];
  const sink = h.sink();
  for (const p of parts) filter.write(p, sink.s);
  assert.equal(h.sent.length, 0, "nothing sent before the body ends");
  filter.end(sink.s);
  assert.ok(sink.ended());
  assert.ok(Buffer.concat(sink.out).equals(Buffer.concat(parts)), "the primary gets the body untouched");
  assert.equal(h.sent.length, 1);
  assert.ok(h.sent[0]!.body!.equals(Buffer.concat(parts)));
  assert.equal(h.sent[0]!.method, "POST");
  assert.equal(h.sent[0]!.target, "/t?q");
});

test("a body over maxBodySize still streams to the primary but is not copied", () => {
  const h = harness({ maxBodySize: 100 });
  const ex = h.exchange("PUT", ["transfer-encoding", "chunked"]);
  h.mw.onUpstreamRequest!(ex, ex.head);
  const filter = h.mw.onRequestBody!(ex, ex.head)!;
  const sink = h.sink();
  filter.write(Buffer.alloc(60), sink.s);
  filter.write(Buffer.alloc(60), sink.s);
  filter.end(sink.s);
  assert.equal(Buffer.concat(sink.out).length, 120);
  assert.equal(h.sent.length, 0);
});

test("the response hash finds a differing body and logs its sizes only", async () => {
  const h = harness({ compare: {} });
  h.setAnswer({ status: 200, headers: [], body: Buffer.from("shadow"), backend: "b:1" });
  const ex = h.exchange("GET", []);
  h.mw.onUpstreamRequest!(ex, ex.head);
  const view = { status: 200, headers: new HeaderList([]) };
  h.mw.onResponse!(ex, view);
  const filter = h.mw.onResponseBody!(ex, view)!;
  const sink = h.sink();
  filter.write(Buffer.from("prim"), sink.s);
  filter.write(Buffer.from("ary"), sink.s);
  filter.end(sink.s);
  assert.equal(Buffer.concat(sink.out).toString(), "primary");
  h.mw.onLog!(ex);
  await new Promise((r) => setImmediate(r));
  const line = h.lines.find((l) => l.msg === "mirror: the shadow's response differs from the primary's");
  assert.deepEqual(line?.differences, [{ field: "body", primaryBytes: 7, shadowBytes: 6 }]);

  // The same body hashes the same: no difference.
  h.lines.length = 0;
  h.setAnswer({ status: 200, headers: [], body: Buffer.from("primary"), backend: "b:1" });
  const ex2 = h.exchange("GET", []);
  h.mw.onUpstreamRequest!(ex2, ex2.head);
  h.mw.onResponse!(ex2, view);
  const f2 = h.mw.onResponseBody!(ex2, view)!;
  f2.write(Buffer.from("primary"), h.sink().s);
  f2.end(h.sink().s);
  h.mw.onLog!(ex2);
  await new Promise((r) => setImmediate(r));
  assert.equal(h.lines.length, 0);
});
