import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import type http from "node:http";
import http2 from "node:http2";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { gunzipSync } from "node:zlib";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { TestCa } from "../helpers/certs.js";
import { startBackend, type TestBackend } from "../helpers/net.js";

const run = promisify(execFile);
const BIG = 5 * 1024 * 1024;
const JSON_DOC = JSON.stringify(Array.from({ length: 300 }, (_, i) => ({ id: i, name: `item ${i}`, tags: ["a", "b"] })));

/** Resolves with the response of one request on an HTTP/2 session, body collected. */
function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = session.request(headers, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    req.on("response", (h) => {
      head = h;
    });
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve({ headers: head, body: Buffer.concat(chunks) }));
    req.on("error", reject);
    if (body !== undefined) req.end(body);
  });
}

function sha256(buf: Buffer): string {
  return createHash("sha256").update(buf).digest("hex");
}

describe("HTTP/2 clients through the gateway (curl, nghttp, h2load and node:http2; HTTP/1.1 backends)", () => {
  let ca: TestCa;
  let backend: TestBackend;
  let gw: Gateway;
  let tlsPort: number;
  let h2cPort: number;
  let dir: string;
  let accessLog: string;
  /** Slow responses the backend saw end early (the client went away). */
  const aborted: string[] = [];
  const big = Buffer.alloc(BIG, "divisor-");

  before(async () => {
    ca = new TestCa();
    const leaf = ca.issue(["h2.example.test"], "h2");
    dir = mkdtempSync(join(tmpdir(), "divisor-h2-"));
    accessLog = join(dir, "access.log");
    backend = await startBackend((req: http.IncomingMessage, res: http.ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        if (req.url === "/big") {
          res.setHeader("x-request-sha256", sha256(body));
          res.end(big);
          return;
        }
        if (req.url === "/json" || req.url === "/cached") {
          res.setHeader("content-type", "application/json");
          res.end(JSON_DOC);
          return;
        }
        if (req.url === "/slow") {
          res.writeHead(200, { "content-type": "text/plain" });
          res.write("first\n");
          const timer = setInterval(() => res.write("more\n"), 50);
          res.on("close", () => {
            clearInterval(timer);
            if (!res.writableFinished) aborted.push("slow");
          });
          return;
        }
        res.setHeader("content-type", "application/json");
        res.setHeader("set-cookie", ["a=1", "b=2"]);
        res.end(JSON.stringify({ method: req.method, url: req.url, host: req.headers.host, proto: req.headers["x-forwarded-proto"], cookie: req.headers.cookie ?? null, length: body.length, te: req.headers["transfer-encoding"] ?? null }));
      });
    });
    backend.server.on("upgrade", (req: http.IncomingMessage, socket, head: Buffer) => {
      const accept = createHash("sha1").update(`${req.headers["sec-websocket-key"]}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      if (head.length > 0) socket.write(head);
      socket.on("data", (d: Buffer) => socket.write(Buffer.concat([Buffer.from("echo:"), d])));
      socket.on("end", () => socket.end());
    });
    gw = createGateway({
      listeners: [
        { address: "127.0.0.1:0", tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] }, http2: { maxConcurrentStreams: 100 } },
        { address: "127.0.0.1:0", http2: { cleartext: true } },
      ],
      services: { app: { backends: [backend.address] } },
      middlewares: {
        tag: { type: "headers", response: { set: { "x-gateway": "divisor" } } },
        limited: { type: "rate-limit", rate: 2, period: "1m", key: ["router"] },
        squeeze: { type: "compress", encodings: ["gzip"] },
        cache: { type: "cache", defaultTtl: "1h" },
      },
      routers: {
        limited: { match: { path: { prefix: "/limited" } }, middlewares: ["limited"], service: "app" },
        json: { match: { path: { exact: "/json" } }, middlewares: ["squeeze"], service: "app" },
        cached: { match: { path: { exact: "/cached" } }, middlewares: ["cache"], service: "app" },
        all: { middlewares: ["tag"], service: "app" },
      },
      logging: { access: { destination: accessLog, fields: ["protocol", "method", "path", "status", "router"] } },
    });
    const ports = (await gw.listen()) as unknown as { port: number }[];
    tlsPort = ports[0]!.port;
    h2cPort = ports[1]!.port;
  });

  after(async () => {
    await gw?.close({ gracePeriodMs: 300 });
    await backend?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function curl(args: string[]): Promise<string> {
    return run("curl", ["-sS", "-i", "--cacert", ca.caFile, "--resolve", `h2.example.test:${tlsPort}:127.0.0.1`, ...args]).then((r) => r.stdout);
  }

  function session(): http2.ClientHttp2Session {
    return http2.connect(`https://127.0.0.1:${tlsPort}`, { ca: ca.caPem, servername: "h2.example.test" });
  }

  test("curl --http2 gets the backend's answer over HTTP/2, with middlewares applied and repeated headers kept", async () => {
    const out = await curl(["--http2", "-H", "cookie: x=1", "-H", "cookie: y=2", `https://h2.example.test:${tlsPort}/hello?q=1`]);
    assert.match(out, /^HTTP\/2 200/, `an HTTP/2 response: ${out}`);
    assert.match(out, /x-gateway: divisor/, "the headers middleware ran");
    assert.match(out, /set-cookie: a=1\r\nset-cookie: b=2/, "both Set-Cookie fields");
    const body = JSON.parse(out.slice(out.indexOf("\r\n\r\n") + 4));
    assert.deepEqual(body, { method: "GET", url: "/hello?q=1", host: `h2.example.test:${tlsPort}`, proto: "https", cookie: "x=1; y=2", length: 0, te: null }, "the backend saw the request as an HTTP/1.1 one");
  });

  test("curl --http1.1 on the same listener still speaks HTTP/1.1", async () => {
    const out = await curl(["--http1.1", `https://h2.example.test:${tlsPort}/one`]);
    assert.match(out, /^HTTP\/1\.1 200 OK/, "an HTTP/1.1 response");
    assert.match(out, /"url":"\/one"/, "from the backend");
  });

  test("curl --http2-prior-knowledge speaks h2c to a cleartext listener, which keeps serving HTTP/1.1", async () => {
    const h2 = await run("curl", ["-sS", "-i", "--http2-prior-knowledge", `http://127.0.0.1:${h2cPort}/clear`]);
    assert.match(h2.stdout, /^HTTP\/2 200/, "HTTP/2 without TLS");
    assert.match(h2.stdout, /"proto":"http"/, "the backend sees a plain request");
    const h1 = await run("curl", ["-sS", "-i", "--http1.1", `http://127.0.0.1:${h2cPort}/clear`]);
    assert.match(h1.stdout, /^HTTP\/1\.1 200 OK/, "HTTP/1.1 on the same port");
  });

  test("a POST body over HTTP/2 reaches the backend chunked, or with its content-length when the client sent one", async () => {
    const s = session();
    try {
      const chunked = await request(s, { ":method": "POST", ":path": "/post" }, Buffer.from("hello body"));
      assert.deepEqual(JSON.parse(chunked.body.toString()).length, 10, "10 bytes arrived");
      assert.equal(JSON.parse(chunked.body.toString()).te, "chunked", "no content-length: chunked to the backend");
      const sized = await request(s, { ":method": "POST", ":path": "/post", "content-length": "5" }, Buffer.from("12345"));
      assert.equal(JSON.parse(sized.body.toString()).te, null, "content-length kept");
      assert.equal(JSON.parse(sized.body.toString()).length, 5, "5 bytes arrived");
    } finally {
      s.close();
    }
  });

  test("nghttp -nv gets a 200 with its DATA frames", async () => {
    const { stdout } = await run("nghttp", ["-nv", `http://127.0.0.1:${h2cPort}/nghttp`]);
    assert.match(stdout, /recv \(stream_id=\d+\) :status: 200/, "a 200 status");
    assert.match(stdout, /recv DATA frame <length=\d+, flags=0x01/, "the body ends its stream");
  });

  test("h2load's short run over TLS gets every request answered 200", async () => {
    const { stdout } = await run("h2load", ["-n", "1000", "-c", "4", "-m", "10", `https://127.0.0.1:${tlsPort}/load`]);
    assert.match(stdout, /requests: 1000 total, 1000 started, 1000 done, 1000 succeeded, 0 failed/, `every request succeeded: ${stdout}`);
    assert.match(stdout, /status codes: 1000 2xx, 0 3xx, 0 4xx, 0 5xx/, "all 2xx");
  });

  test("100 concurrent streams on one connection each get their own response", async () => {
    const s = session();
    try {
      const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => request(s, { ":path": `/c/${i}` })));
      for (let i = 0; i < 100; i++) assert.equal(JSON.parse(answers[i]!.body.toString()).url, `/c/${i}`, `stream ${i} got its own answer`);
    } finally {
      s.close();
    }
  });

  test("5 MB bodies go both ways through flow control intact", async () => {
    const s = session();
    try {
      const upload = Buffer.alloc(BIG);
      for (let i = 0; i < upload.length; i++) upload[i] = (i * 31) & 0xff;
      const res = await request(s, { ":method": "POST", ":path": "/big" }, upload);
      assert.equal(res.headers[":status"], 200, "200");
      assert.equal(res.headers["x-request-sha256"], sha256(upload), "the backend got the upload byte for byte");
      assert.equal(res.body.length, BIG, "the whole download arrived");
      assert.equal(sha256(res.body), sha256(big), "byte for byte");
    } finally {
      s.close();
    }
  });

  test("a client that resets its stream mid-response frees the backend's exchange", async () => {
    const s = session();
    try {
      await new Promise<void>((resolve, reject) => {
        const req = s.request({ ":path": "/slow" });
        req.once("data", () => {
          req.close(http2.constants.NGHTTP2_CANCEL);
          resolve();
        });
        req.on("error", reject);
      });
      for (let i = 0; i < 60 && aborted.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(aborted, ["slow"], "the backend's response was cut when the client reset");
      const text = await gw.metrics();
      assert.match(text, /divisor_http2_client_resets_total\{listener="[^"]+"\} [1-9]/, "the reset is counted");
      assert.match(text, /divisor_backend_requests_in_flight\{service="app",backend="[^"]+"\} 0/, "nothing in flight to the backend");
      // The same session keeps serving.
      const after = await request(s, { ":path": "/after" });
      assert.equal(after.headers[":status"], 200, "the connection still works");
    } finally {
      s.close();
    }
  });

  test("rate-limit answers 429 over HTTP/2 once the router's quota is spent", async () => {
    const s = session();
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) statuses.push(Number((await request(s, { ":path": "/limited" })).headers[":status"]));
      assert.deepEqual(statuses, [200, 200, 429], "two allowed, the third limited");
    } finally {
      s.close();
    }
  });

  test("compress re-frames a response body for an HTTP/2 client, and cache answers repeats itself", async () => {
    const s = session();
    try {
      const zipped = await request(s, { ":path": "/json", "accept-encoding": "gzip" });
      assert.equal(zipped.headers["content-encoding"], "gzip", "gzip chosen");
      assert.equal(gunzipSync(zipped.body).toString(), JSON_DOC, "the document, whole once gunzipped");
      const first = await request(s, { ":path": "/cached" });
      const second = await request(s, { ":path": "/cached" });
      assert.equal(first.body.toString(), JSON_DOC, "the first from the backend");
      assert.equal(second.body.toString(), JSON_DOC, "the second the same");
      assert.match(String(second.headers["cache-status"]), /hit/, `the second is a cache hit: ${second.headers["cache-status"]}`);
    } finally {
      s.close();
    }
  });

  test("WebSocket over HTTP/2 (RFC 8441 extended CONNECT) reaches an HTTP/1.1 backend as an Upgrade and carries bytes both ways", async () => {
    const s = session();
    try {
      await new Promise<void>((resolve) => s.once("remoteSettings", () => resolve()));
      assert.equal(s.remoteSettings.enableConnectProtocol, true, "the gateway offers extended CONNECT");
      const echoed = await new Promise<{ status: unknown; data: string }>((resolve, reject) => {
        const req = s.request({ ":method": "CONNECT", ":protocol": "websocket", ":scheme": "https", ":path": "/ws", ":authority": "h2.example.test", "sec-websocket-version": "13" }, { endStream: false });
        let status: unknown;
        req.on("response", (h) => {
          status = h[":status"];
          req.write("ping-1");
        });
        req.on("data", (d: Buffer) => {
          resolve({ status, data: d.toString() });
          req.close();
        });
        req.on("error", reject);
      });
      assert.equal(echoed.status, 200, "200 opens the tunnel (RFC 8441 §5)");
      assert.equal(echoed.data, "echo:ping-1", "bytes went to the backend and back");
    } finally {
      s.close();
    }
  });

  test("the access log and metrics say HTTP/2", async () => {
    await new Promise((r) => setTimeout(r, 300));
    const lines = readFileSync(accessLog, "utf8").trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.some((l) => l.protocol === "HTTP/2" && l.path === "/hello"), "the curl --http2 request is logged as HTTP/2");
    assert.ok(lines.some((l) => l.protocol === "HTTP/1.1" && l.path === "/one"), "the curl --http1.1 one as HTTP/1.1");
    const text = await gw.metrics();
    assert.match(text, /divisor_http2_streams_total\{listener="[^"]+"\} \d{4,}/, "streams counted (h2load alone sent 1000)");
    assert.match(text, /divisor_http2_sessions_opened_total\{listener="[^"]+"\} [1-9]/, "sessions counted");
  });
});
