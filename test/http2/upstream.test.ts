import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import https from "node:https";
import http2 from "node:http2";
import type net from "node:net";
import { after, before, describe, test } from "node:test";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { TestCa } from "../helpers/certs.js";
import { startBackend, type TestBackend } from "../helpers/net.js";

/** One request through the gateway's plain HTTP/1.1 listener, body collected. */
async function fetchText(port: number, path: string, init: RequestInit = {}): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: res.status, headers: res.headers, body: await res.text() };
}

interface H2Backend {
  server: http2.Http2Server | http2.Http2SecureServer;
  port: number;
  /** HTTP/2 sessions the backend accepted. */
  sessions: http2.ServerHttp2Session[];
  close(): Promise<void>;
}

async function startH2Backend(secure: { cert: string; key: string } | null, handler: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => void): Promise<H2Backend> {
  const server = secure === null ? http2.createServer() : http2.createSecureServer({ cert: readFileSync(secure.cert), key: readFileSync(secure.key) });
  const sessions: http2.ServerHttp2Session[] = [];
  server.on("session", (s: http2.ServerHttp2Session) => sessions.push(s));
  server.on("stream", handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    server,
    port: (server.address() as net.AddressInfo).port,
    sessions,
    close: () =>
      new Promise((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** What the backends' /health answers (a test flips it). */
let healthStatus = 200;

function echo(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  if (headers[":path"] === "/health") {
    stream.respond({ ":status": healthStatus });
    stream.end(headers["x-check"] === "yes" ? "healthy" : "no header");
    return;
  }
  const chunks: Buffer[] = [];
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("end", () => {
    const body = Buffer.concat(chunks);
    if (headers[":path"] === "/trailers") {
      stream.respond({ ":status": 200, "content-type": "text/plain" }, { waitForTrailers: true });
      stream.on("wantTrailers", () => stream.sendTrailers({ "x-checksum": "abc" }));
      stream.end("with trailers");
      return;
    }
    if (headers[":path"] === "/sized") {
      stream.respond({ ":status": 201, "content-length": "5", "x-kind": "sized" });
      stream.end("sized");
      return;
    }
    stream.respond({ ":status": 200, "content-type": "application/json" });
    stream.end(
      JSON.stringify({
        method: headers[":method"],
        path: headers[":path"],
        authority: headers[":authority"],
        scheme: headers[":scheme"],
        xff: headers["x-forwarded-for"] ?? null,
        sha: createHash("sha256").update(body).digest("hex"),
        length: body.length,
      }),
    );
  });
}

describe("HTTP/2 to backends (services.<name>.protocol: http2; node:http2 backends, h2 over TLS and h2c)", () => {
  let ca: TestCa;
  let tlsBackend: H2Backend;
  let clearBackend: H2Backend;
  let h1Backend: TestBackend;
  let h1TlsBackend: https.Server;
  let gw: Gateway;
  let port: number;

  before(async () => {
    ca = new TestCa();
    const leaf = ca.issue(["backend.test"], "backend");
    tlsBackend = await startH2Backend(leaf, echo);
    clearBackend = await startH2Backend(null, echo);
    h1Backend = await startBackend();
    h1TlsBackend = https.createServer({ cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) }, (_req, res) => res.end("http/1.1 only"));
    await new Promise<void>((resolve) => h1TlsBackend.listen(0, "127.0.0.1", () => resolve()));
    gw = createGateway({
      listeners: [{ address: "127.0.0.1:0" }],
      services: {
        secure: { backends: [`127.0.0.1:${tlsBackend.port}`], protocol: "http2", tls: { ca: ca.caFile, servername: "backend.test" } },
        clear: { backends: [`127.0.0.1:${clearBackend.port}`], protocol: "http2" },
        checked: {
          backends: [`127.0.0.1:${tlsBackend.port}`],
          protocol: "http2",
          tls: { ca: ca.caFile, servername: "backend.test" },
          healthCheck: { path: "/health", headers: { "X-Check": "yes" }, bodyContains: "healthy", interval: 100, fall: 1, rise: 1 },
        },
        // An HTTP/1.1-only backend configured as HTTP/2 by mistake.
        wrong: { backends: [h1Backend.address], protocol: "http2", timeouts: { connect: 1000 }, retries: { attempts: 0 } },
        // An HTTPS backend that offers no h2 by ALPN.
        noh2: {
          backends: [`127.0.0.1:${(h1TlsBackend.address() as net.AddressInfo).port}`],
          protocol: "http2",
          tls: { ca: ca.caFile, servername: "backend.test" },
          retries: { attempts: 0 },
        },
      },
      routers: {
        secure: { match: { path: { prefix: "/s" } }, middlewares: [], service: "secure" },
        wrong: { match: { path: { prefix: "/wrong" } }, service: "wrong" },
        noh2: { match: { path: { prefix: "/noh2" } }, service: "noh2" },
        clear: { service: "clear" },
      },
    });
    [{ port }] = (await gw.listen()) as unknown as [{ port: number }];
  });

  after(async () => {
    await gw?.close({ gracePeriodMs: 300 });
    await tlsBackend?.close();
    await clearBackend?.close();
    await h1Backend?.close();
    h1TlsBackend?.closeAllConnections();
    await new Promise((resolve) => h1TlsBackend?.close(resolve));
  });

  test("an HTTP/1.1 client's GET reaches an h2 backend over TLS with the pseudo-headers made from its request", async () => {
    const res = await fetchText(port, "/s/one?x=1");
    assert.equal(res.status, 200, "200");
    const body = JSON.parse(res.body);
    assert.equal(body.method, "GET", ":method");
    assert.equal(body.path, "/s/one?x=1", ":path keeps the query");
    assert.equal(body.authority, `127.0.0.1:${port}`, ":authority is the client's Host");
    assert.equal(body.scheme, "https", ":scheme names TLS");
    assert.equal(body.xff, "127.0.0.1", "forwarding headers are added as for HTTP/1.1 backends");
  });

  test("request bodies, chunked or sized, arrive whole at an h2c backend", async () => {
    const payload = Buffer.alloc(3 * 1024 * 1024, 7);
    const sized = await fetchText(port, "/up", { method: "POST", body: payload });
    assert.equal(JSON.parse(sized.body).sha, createHash("sha256").update(payload).digest("hex"), "a 3 MB body, byte for byte");
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode("part1-"));
        c.enqueue(new TextEncoder().encode("part2"));
        c.close();
      },
    });
    const chunked = await fetchText(port, "/up", { method: "POST", body: stream, duplex: "half" } as RequestInit);
    assert.equal(JSON.parse(chunked.body).length, 11, "a chunked body's bytes");
    // The same keep-alive connection carries the next request: backpressure from the upload left nothing paused.
    const next = await fetchText(port, "/sized");
    assert.equal(next.body, "sized", "the next request on the connection is served");
  });

  test("a backend's trailers reach an HTTP/1.1 client as chunked trailers, and sized bodies keep their Content-Length", async () => {
    const s = await fetchText(port, "/sized");
    assert.equal(s.status, 201, "status kept");
    assert.equal(s.headers.get("content-length"), "5", "Content-Length kept");
    assert.equal(s.body, "sized", "body");
    // fetch hides trailers: read the raw bytes.
    const net = await import("node:net");
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(port, "127.0.0.1", () => sock.write("GET /trailers HTTP/1.1\r\nHost: t\r\nTE: trailers\r\nConnection: close\r\n\r\n"));
      let text = "";
      sock.on("data", (d: Buffer) => (text += d.toString()));
      sock.on("end", () => resolve(text));
      sock.on("error", reject);
    });
    assert.match(raw, /transfer-encoding: chunked/i, "chunked to the client");
    assert.match(raw, /\r\n0\r\nx-checksum: abc\r\n\r\n$/, "the trailer follows the last chunk");
  });

  test("many requests share one HTTP/2 connection to the backend", async () => {
    const before = clearBackend.sessions.length;
    await Promise.all(Array.from({ length: 40 }, (_, i) => fetchText(port, `/many/${i}`)));
    assert.ok(clearBackend.sessions.length - before <= 1, `at most one new session (got ${clearBackend.sessions.length - before})`);
  });

  test("after the backend sends GOAWAY the next request opens a new session", async () => {
    await fetchText(port, "/warm");
    const count = clearBackend.sessions.length;
    for (const s of clearBackend.sessions) if (!s.closed) s.close();
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetchText(port, "/after-goaway");
    assert.equal(res.status, 200, "served");
    assert.equal(clearBackend.sessions.length, count + 1, "on a fresh session");
  });

  test("HTTP health checks of an http2 service speak HTTP/2 to the backend", async () => {
    const healthy = async () => /divisor_backend_healthy\{service="checked",backend="[^"]+"\} 1/.test(await gw.metrics());
    for (let i = 0; i < 40 && !(await healthy()); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(await healthy(), "healthy while /health answers 200 with the expected body over h2");
    healthStatus = 503;
    try {
      for (let i = 0; i < 40 && (await healthy()); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(await healthy(), false, "down once /health answers 503");
    } finally {
      healthStatus = 200;
    }
  });

  test("a WebSocket upgrade to an http2 service is refused with 502, not sent half-translated", async () => {
    const net = await import("node:net");
    const raw = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(port, "127.0.0.1", () =>
        sock.write("GET /ws HTTP/1.1\r\nHost: t\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
      );
      let text = "";
      sock.on("data", (d: Buffer) => {
        text += d.toString();
        if (text.includes("\r\n\r\n")) sock.destroy();
      });
      sock.on("close", () => resolve(text));
      sock.on("error", reject);
    });
    assert.match(raw, /^HTTP\/1\.1 502 /, `502: ${raw}`);
  });

  test("an HTTPS backend that does not choose h2 by ALPN fails with 502, counted as tls-error", async () => {
    const res = await fetchText(port, "/noh2");
    assert.equal(res.status, 502, `502: ${res.body}`);
    assert.match(await gw.metrics(), /divisor_upstream_errors_total\{service="noh2",backend="[^"]+",kind="tls-error"\} 1/, "counted as tls-error");
  });

  test("an HTTP/1.1-only backend configured as http2 fails clearly with 502", async () => {
    const res = await fetchText(port, "/wrong");
    assert.ok(res.status === 502 || res.status === 504, `a gateway error (${res.status}): ${res.body}`);
  });
});
