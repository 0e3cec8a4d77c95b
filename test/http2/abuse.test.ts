import assert from "node:assert/strict";
import http2 from "node:http2";
import { after, before, describe, test } from "node:test";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { TestCa } from "../helpers/certs.js";
import { FrameType, getHeaders, headerBlock, frame, Flag, ping, RawH2Connection, rstStream, settings } from "../helpers/h2frames.js";
import { startBackend, type TestBackend } from "../helpers/net.js";

const ENHANCE_YOUR_CALM = 0xb;
const CANCEL = 0x8;

describe("HTTP/2 abuse limits (frames written by hand over TLS and h2c; the gateway closes the abusive connection and serves the others)", () => {
  let ca: TestCa;
  let backend: TestBackend;
  let gw: Gateway;
  let tlsPort: number;
  let h2cPort: number;
  let idlePort: number;

  before(async () => {
    ca = new TestCa();
    const leaf = ca.issue(["raw.test"], "raw");
    backend = await startBackend((req, res) => {
      req.resume();
      if (req.url === "/hold") {
        // Answers late: keeps streams open.
        setTimeout(() => res.end("late"), 1500);
        return;
      }
      res.end("ok");
    });
    const http2Limits = {
      maxResetsPerSecond: 20,
      maxSettingsPerSecond: 5,
      maxPingsPerSecond: 5,
      maxConcurrentStreams: 4,
      maxHeaderListSize: 4096,
      maxInvalidFrames: 3,
    };
    gw = createGateway({
      listeners: [
        { address: "127.0.0.1:0", tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] }, http2: http2Limits },
        { address: "127.0.0.1:0", http2: { ...http2Limits, cleartext: true } },
        { address: "127.0.0.1:0", name: "idle", http2: { cleartext: true, idleTimeout: 300 } },
      ],
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
    });
    const ports = (await gw.listen()) as unknown as { port: number }[];
    [tlsPort, h2cPort, idlePort] = ports.map((p) => p.port) as [number, number, number];
  });

  after(async () => {
    await gw?.close({ gracePeriodMs: 300 });
    await backend?.close();
  });

  /** A well-behaved client on a fresh connection still gets its answer. */
  async function othersServed(): Promise<void> {
    const s = http2.connect(`https://127.0.0.1:${tlsPort}`, { ca: ca.caPem, servername: "raw.test" });
    try {
      const status = await new Promise<unknown>((resolve, reject) => {
        const req = s.request({ ":path": "/fine" });
        req.on("response", (h) => resolve(h[":status"]));
        req.on("error", reject);
        req.resume();
      });
      assert.equal(status, 200, "another client is served meanwhile");
    } finally {
      s.close();
    }
  }

  async function closedFor(reason: string): Promise<string> {
    const text = await gw.metrics();
    const m = new RegExp(`divisor_http2_sessions_closed_total\\{listener="[^"]+",reason="${reason}"\\} (\\d+)`).exec(text);
    return m === null ? "0" : m[1]!;
  }

  test("rapid reset: streams opened and reset faster than maxResetsPerSecond close the connection with ENHANCE_YOUR_CALM", async () => {
    const c = await RawH2Connection.open(tlsPort, { rejectUnauthorized: false, servername: "raw.test" });
    const burst: Buffer[] = [];
    for (let i = 0; i < 100; i++) burst.push(getHeaders(1 + 2 * i, "/hold", [], true), rstStream(1 + 2 * i, CANCEL));
    c.send(Buffer.concat(burst));
    assert.equal(await c.goawayCode(), ENHANCE_YOUR_CALM, "GOAWAY ENHANCE_YOUR_CALM");
    await c.closed;
    assert.notEqual(await closedFor("rapid-reset"), "0", "counted as rapid-reset");
    await othersServed();
  });

  test("a SETTINGS flood closes the connection with ENHANCE_YOUR_CALM", async () => {
    const c = await RawH2Connection.open(h2cPort);
    c.send(Buffer.concat(Array.from({ length: 30 }, () => settings([[0x3, 100]]))));
    assert.equal(await c.goawayCode(), ENHANCE_YOUR_CALM, "GOAWAY ENHANCE_YOUR_CALM");
    await c.closed;
    assert.notEqual(await closedFor("settings-flood"), "0", "counted as settings-flood");
    await othersServed();
  });

  test("a PING flood closes the connection with ENHANCE_YOUR_CALM", async () => {
    const c = await RawH2Connection.open(h2cPort);
    c.send(Buffer.concat(Array.from({ length: 30 }, (_, i) => ping(i))));
    assert.equal(await c.goawayCode(), ENHANCE_YOUR_CALM, "GOAWAY ENHANCE_YOUR_CALM");
    await c.closed;
    assert.notEqual(await closedFor("ping-flood"), "0", "counted as ping-flood");
    await othersServed();
  });

  test("a client that opens more streams than the maxConcurrentStreams it acknowledged loses its connection", async () => {
    const c = await RawH2Connection.open(h2cPort);
    c.send(Buffer.concat(Array.from({ length: 6 }, (_, i) => getHeaders(1 + 2 * i, "/hold"))));
    // nghttp2 treats an acknowledged limit broken as a connection error (RFC 9113 §5.1.2 allows it); node reports it as INTERNAL_ERROR.
    assert.notEqual(await c.goawayCode(), 0, "GOAWAY with an error code");
    await c.closed;
    assert.notEqual(await closedFor("protocol-error"), "0", "counted as protocol-error");
    await othersServed();
  });

  test("a header list larger than maxHeaderListSize resets its stream, and the connection serves the next one", async () => {
    const c = await RawH2Connection.open(h2cPort);
    try {
      c.send(getHeaders(1, "/", [["x-big", "v".repeat(8000)]]));
      const reset = await c.waitFor((f) => (f.type === FrameType.RST_STREAM || f.type === FrameType.HEADERS) && f.stream === 1);
      assert.equal(reset.type, FrameType.RST_STREAM, "the oversized stream is reset, never proxied");
      c.send(getHeaders(3, "/"));
      const next = await c.waitFor((f) => f.type === FrameType.HEADERS && f.stream === 3);
      assert.equal(next.stream, 3, "the next stream on the same connection is answered");
    } finally {
      c.destroy();
    }
  });

  test("invalid frames past maxInvalidFrames close the connection", async () => {
    const c = await RawH2Connection.open(h2cPort);
    // HEADERS without :path and :scheme: a malformed request (RFC 9113 §8.3.1), an invalid frame each.
    c.send(Buffer.concat(Array.from({ length: 10 }, (_, i) => frame(FrameType.HEADERS, Flag.END_HEADERS | Flag.END_STREAM, 1 + 2 * i, headerBlock([[":method", "GET"]])))));
    await c.goawayCode();
    await c.closed;
    assert.notEqual(await closedFor("invalid-frames"), "0", "counted as invalid-frames");
    await othersServed();
  });

  test("a connection idle past idleTimeout gets GOAWAY and is closed", async () => {
    const c = await RawH2Connection.open(idlePort);
    assert.equal(await c.goawayCode(3000), 0, "GOAWAY NO_ERROR");
    await c.closed;
    const text = await gw.metrics();
    assert.match(text, /divisor_http2_sessions_closed_total\{listener="idle",reason="idle"\} 1/, "counted as idle");
  });

  test("a client that closes its TCP connection without GOAWAY leaves no session behind", async () => {
    const open = async () => Number(/divisor_http2_sessions\{listener="idle"\} (\d+)/.exec(await gw.metrics())?.[1] ?? -1);
    const c = await RawH2Connection.open(idlePort);
    c.send(getHeaders(1, "/"));
    await c.waitFor((f) => f.type === FrameType.HEADERS && f.stream === 1);
    assert.equal(await open(), 1, "one session while it is connected");
    c.socket.end(); // FIN only: the listener's sockets allow half-open for HTTP/1.1
    for (let i = 0; i < 40 && (await open()) !== 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(await open(), 0, "the session ended with its connection");
  });

  test("a HEADERS frame split over CONTINUATION frames is still one request", async () => {
    const c = await RawH2Connection.open(h2cPort);
    try {
      const block = headerBlock([[":method", "GET"], [":scheme", "http"], [":path", "/cont"], [":authority", "raw.test"], ["x-a", "1"]]);
      c.send(Buffer.concat([frame(FrameType.HEADERS, Flag.END_STREAM, 1, block.subarray(0, 10)), frame(FrameType.CONTINUATION, Flag.END_HEADERS, 1, block.subarray(10))]));
      const res = await c.waitFor((f) => f.type === FrameType.HEADERS && f.stream === 1);
      assert.equal(res.stream, 1, "answered");
    } finally {
      c.destroy();
    }
  });
});
