import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type http from "node:http";
import { after, before, describe, test } from "node:test";
import { BodyFilterError } from "../../src/errors.js";
import { type BodyFilter, definePlugin } from "../../src/middleware/plugin.js";
import { get, RawClient, startBackend, startGateway, statusLines, type TestBackend, type TestGateway } from "../helpers/net.js";

/** Upper-cases ASCII letters: same length, Content-Length kept. */
const upper = (): BodyFilter => ({
  write(chunk, sink) {
    sink.write(Buffer.from(chunk.toString("latin1").toUpperCase(), "latin1"));
  },
  end(sink) {
    sink.end();
  },
});

/** Doubles every byte, later (an asynchronous filter): the length changes. */
const doubler = (): BodyFilter => ({
  write(chunk, sink) {
    const out = Buffer.allocUnsafe(chunk.length * 2);
    for (let i = 0; i < chunk.length; i++) out[2 * i] = out[2 * i + 1] = chunk[i]!;
    setImmediate(() => sink.write(out));
  },
  end(sink) {
    setImmediate(() => sink.end());
  },
});

let destroyed = 0;

const filters = definePlugin<{ mode: string }>({
  name: "test-body",
  create: ({ mode }) => ({
    onRequestBody(ex, head) {
      if (ex.request.headers.get("x-req") === "upper") return upper();
      if (ex.request.headers.get("x-req") === "double") {
        head.headers.delete("content-length");
        return doubler();
      }
      if (ex.request.headers.get("x-req") === "refuse") {
        return {
          write(_c, sink) {
            sink.error(new BodyFilterError("ERR_TEST_REFUSED", "this body is refused", 413));
          },
          end(sink) {
            sink.end();
          },
        };
      }
      return undefined;
    },
    onResponse(ex, head) {
      if (mode === "replace" && head.status === 304) {
        head.status = 200;
        head.headers.set("content-length", "6");
      }
      void ex;
    },
    onResponseBody(ex, head) {
      const want = ex.request.headers.get("x-res") ?? mode;
      switch (want) {
        case "upper":
          return upper();
        case "double":
          head.headers.delete("content-length");
          return doubler();
        case "replace":
          return {
            write() {},
            end(sink) {
              sink.write(Buffer.from("stored"));
              sink.end();
            },
          };
        case "too-long":
          return {
            write(chunk, sink) {
              sink.write(chunk);
              sink.write(Buffer.from("!"));
            },
            end(sink) {
              sink.end();
            },
          };
        case "fail":
          return {
            write(_chunk, sink) {
              sink.error(new Error("broken filter"));
            },
            end(sink) {
              sink.end();
            },
            destroy() {
              destroyed++;
            },
          };
        case "hang":
          return {
            write() {},
            end() {},
            destroy() {
              destroyed++;
            },
          };
        default:
          return undefined;
      }
    },
  }),
});

function sha(data: Buffer | string): string {
  return createHash("sha256").update(data).digest("hex");
}

describe("body filters", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  const bodies: Buffer[] = [];
  const received: { headers: http.IncomingHttpHeaders; body: Buffer }[] = [];

  before(async () => {
    backend = await startBackend((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({ headers: req.headers, body: Buffer.concat(chunks) });
        if (req.url === "/304") {
          res.writeHead(304, { etag: '"v1"' });
          res.end();
          return;
        }
        if (req.url === "/big") {
          // 4 MiB in chunked encoding, written in pieces.
          res.writeHead(200, { "content-type": "application/octet-stream" });
          let i = 0;
          const piece = () => {
            while (i < 64) {
              const ok = res.write(bodies[0]!.subarray(i * 65536, (i + 1) * 65536));
              i++;
              if (!ok) {
                res.once("drain", piece);
                return;
              }
            }
            res.end();
          };
          piece();
          return;
        }
        if (req.url === "/echo") {
          res.end(Buffer.concat(chunks));
          return;
        }
        res.setHeader("content-type", "text/plain");
        res.end("hello filter");
      });
    });
    bodies.push(Buffer.alloc(4 * 1024 * 1024, "abcdefgh"));
    gw = await startGateway(
      {
        services: { app: { backends: [backend.address] } },
        middlewares: {
          pass: { type: "plugin", plugin: "test-body", options: { mode: "none" } },
          replace: { type: "plugin", plugin: "test-body", options: { mode: "replace" } },
        },
        routers: {
          replace: { match: { path: { prefix: "/304" } }, service: "app", middlewares: ["replace"] },
          all: { service: "app", middlewares: ["pass"] },
        },
      },
      [filters],
    );
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test("a filter that keeps the length rewrites the body and keeps Content-Length", async () => {
    const res = await get(`${gw.url}/`, { headers: { "x-res": "upper" } });
    assert.equal(res.status, 200);
    assert.equal(res.body, "HELLO FILTER");
    assert.equal(res.headers["content-length"], "12");
    assert.equal(res.headers["transfer-encoding"], undefined);
  });

  test("a filter that changes the length gets a chunked body to an HTTP/1.1 client, on a connection that stays open", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("GET / HTTP/1.1\r\nHost: a\r\nx-res: double\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    const text = await client.waitFor((t) => statusLines(t).length === 2 && t.endsWith("hello filter"));
    client.destroy();
    const [first] = text.split("HTTP/1.1 200", 3).slice(1);
    assert.match(first!, /transfer-encoding: chunked/i);
    assert.doesNotMatch(first!, /content-length/i);
    const body = first!.slice(first!.indexOf("\r\n\r\n") + 4);
    const decoded = body.replace(/[0-9a-f]+\r\n([^\r]*)\r\n/g, "$1");
    assert.ok(decoded.startsWith("hheelllloo  ffiilltteerr"), decoded);
    assert.ok(body.includes("0\r\n\r\n"));
  });

  test("a filtered body to an HTTP/1.0 client is close-delimited", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("GET / HTTP/1.0\r\nHost: a\r\nx-res: double\r\n\r\n");
    const text = await client.waitClosed();
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.match(text, /connection: close/i);
    assert.doesNotMatch(text, /transfer-encoding|content-length/i);
    assert.ok(text.endsWith("\r\n\r\nhheelllloo  ffiilltteerr"), text);
  });

  test("a large chunked backend body goes through an asynchronous filter whole, with backpressure", async () => {
    const res = await get(`${gw.url}/big`, { headers: { "x-res": "double" } });
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 8 * 1024 * 1024);
    const src = bodies[0]!.toString("latin1");
    let expected = "";
    for (const ch of src.slice(0, 16)) expected += ch + ch;
    assert.equal(res.body.slice(0, 32), expected);
  });

  test("a filter can give a body to a bodiless backend response (a 304 answered from a store)", async () => {
    const res = await get(`${gw.url}/304`);
    assert.equal(res.status, 200);
    assert.equal(res.body, "stored");
    assert.equal(res.headers["content-length"], "6");
  });

  test("a filter that sends more than the Content-Length it kept gets the connection closed", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("GET / HTTP/1.1\r\nHost: a\r\nx-res: too-long\r\n\r\n");
    const text = await client.waitClosed();
    assert.match(text, /^HTTP\/1\.1 200/);
    assert.ok(!text.includes("!"), "the excess byte never reaches the client");
  });

  test("a filter that fails once the head is sent closes the connection and is destroyed", async () => {
    const before = destroyed;
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("GET / HTTP/1.1\r\nHost: a\r\nx-res: fail\r\n\r\n");
    await client.waitClosed();
    assert.equal(destroyed, before + 1);
    // The gateway serves on.
    assert.equal((await get(`${gw.url}/`)).body, "hello filter");
  });

  test("a filter that never ends is destroyed when the client resets its connection", async () => {
    const before = destroyed;
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("GET / HTTP/1.1\r\nHost: a\r\nx-res: hang\r\n\r\n");
    await client.waitFor((t) => t.includes("\r\n\r\n"));
    // (A client that only half-closes is still served, as everywhere in the gateway.)
    client.socket.resetAndDestroy();
    for (let i = 0; i < 100 && destroyed === before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(destroyed, before + 1);
  });

  test("HEAD requests are never filtered", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("HEAD / HTTP/1.1\r\nHost: a\r\nx-res: replace\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n");
    const text = await client.waitFor((t) => t.endsWith("hello filter"));
    client.destroy();
    assert.equal(statusLines(text).length, 2);
    assert.ok(!text.includes("stored"));
  });

  test("a request filter that keeps Content-Length rewrites the body the backend gets", async () => {
    const res = await get(`${gw.url}/echo`, { method: "POST", headers: { "x-req": "upper", "content-length": "5" } }, "hello");
    assert.equal(res.body, "HELLO");
    assert.equal(received.at(-1)!.headers["content-length"], "5");
  });

  test("a request filter that changes the length re-frames a chunked client body for the backend", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("POST /echo HTTP/1.1\r\nHost: a\r\nx-req: double\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
    await new Promise((r) => setTimeout(r, 30));
    client.write("2\r\nde\r\n0\r\n\r\n");
    const text = await client.waitFor((t) => t.includes("aabbccddee"));
    client.destroy();
    assert.match(text, /^HTTP\/1\.1 200/);
    const seen = received.at(-1)!;
    assert.equal(seen.body.toString(), "aabbccddee");
    assert.equal(seen.headers["transfer-encoding"], "chunked");
    assert.equal(seen.headers["content-length"], undefined);
  });

  test("a request filter with a Content-Length body that changes length sends it chunked", async () => {
    const payload = Buffer.alloc(300_000, "xy");
    const res = await get(`${gw.url}/echo`, { method: "PUT", headers: { "x-req": "double", "content-length": String(payload.length) } }, payload);
    assert.equal(res.status, 200);
    assert.equal(res.body.length, 600_000);
    assert.equal(sha(received.at(-1)!.body), sha(Buffer.from(res.body)));
    assert.equal(received.at(-1)!.headers["transfer-encoding"], "chunked");
  });

  test("a request filter refusing the body with a BodyFilterError answers its status", async () => {
    const res = await get(`${gw.url}/echo`, { method: "POST", headers: { "x-req": "refuse", "content-length": "3" } }, "abc");
    assert.equal(res.status, 413);
    assert.match(res.body, /this body is refused/);
  });

  test("routers without body filters relay bodies untouched", async () => {
    const payload = Buffer.alloc(200_000, "q");
    const res = await get(`${gw.url}/echo`, { method: "POST", headers: { "content-length": String(payload.length) } }, payload);
    assert.equal(res.body.length, payload.length);
    assert.equal(res.headers["content-length"], String(payload.length));
  });
});
