import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import zlib from "node:zlib";
import { get, parseHeadBlock, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

const run = promisify(execFile);

/** A JSON body that compresses like real API output: repeated keys, varying values. */
function jsonBody(bytes: number): Buffer {
  const items: string[] = [];
  let size = 2;
  for (let i = 0; size < bytes; i++) {
    const item = JSON.stringify({ id: i, name: `item number ${i}`, tags: ["alpha", "beta", i % 7 === 0 ? "gamma" : "delta"], price: (i * 37) % 1000, ok: i % 3 === 0 });
    items.push(item);
    size += item.length + 1;
  }
  return Buffer.from(`[${items.join(",")}]`);
}

const SMALL = Buffer.from('{"ok":true}');
const PAGE = jsonBody(20_000);
const BIG = jsonBody(3 * 1024 * 1024);

let curlRuns = 0;
let tmp = "";

/** curl's response: status, lowercased headers (repeats joined by ", "), body bytes. */
async function curl(url: string, args: string[]): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const out = join(tmp, `body-${curlRuns++}`);
  const { stdout } = await run("curl", ["-s", "-D", "-", "-o", out, ...args, url], { encoding: "utf8" });
  return { ...parseHeadBlock(stdout), body: readFileSync(out) };
}

/** A request through node's http client, the body kept raw (no decoding). */
function fetchRaw(
  url: string,
  headers: Record<string, string>,
  options: { method?: string; body?: Buffer } = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: options.method ?? "GET", headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(options.body);
  });
}

function decode(encoding: string | undefined, body: Buffer): Buffer {
  if (encoding === "gzip") return zlib.gunzipSync(body);
  if (encoding === "br") return zlib.brotliDecompressSync(body);
  assert.equal(encoding, undefined);
  return body;
}

describe("compress", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  /** Resolves the streamed response's second half when the test says so. */
  let releaseStream: (() => void) | null = null;
  const received: { path: string; headers: http.IncomingHttpHeaders; body: Buffer }[] = [];

  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), "divisor-compress-"));
    backend = await startBackend((req, res) => {
      const url = req.url ?? "/";
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        received.push({ path: url, headers: req.headers, body: Buffer.concat(chunks) });
        const json = { "content-type": "application/json; charset=utf-8" };
        switch (url) {
          case "/page":
            res.writeHead(200, { ...json, etag: '"v1"', "accept-ranges": "bytes", vary: "Origin", "content-length": PAGE.length });
            res.end(PAGE);
            return;
          case "/big":
            res.writeHead(200, { ...json, "content-length": BIG.length });
            res.end(BIG);
            return;
          case "/chunked": {
            res.writeHead(200, json);
            // Many small writes: chunked, no Content-Length.
            for (let i = 0; i < PAGE.length; i += 500) res.write(PAGE.subarray(i, i + 500));
            res.end();
            return;
          }
          case "/stream":
            res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
            res.write("data: first\n\n");
            releaseStream = () => res.end("data: last\n\n");
            return;
          case "/small":
            res.writeHead(200, { ...json, "content-length": SMALL.length });
            res.end(SMALL);
            return;
          case "/png":
            res.writeHead(200, { "content-type": "image/png" });
            res.end(randomBytes(4096));
            return;
          case "/encoded":
            res.writeHead(200, { ...json, "content-encoding": "gzip" });
            res.end(zlib.gzipSync(PAGE));
            return;
          case "/no-transform":
            res.writeHead(200, { ...json, "cache-control": "public, no-transform" });
            res.end(PAGE);
            return;
          case "/range":
            res.writeHead(206, { ...json, "content-range": `bytes 0-99/${PAGE.length}` });
            res.end(PAGE.subarray(0, 100));
            return;
          case "/vary-star":
            res.writeHead(200, { ...json, vary: "*" });
            res.end(PAGE);
            return;
          default:
            res.writeHead(200, { "content-type": "text/plain" });
            res.end(`got ${chunks.reduce((n, c) => n + c.length, 0)} bytes`);
        }
      });
    });
    gw = await startGateway({
      admin: { address: "127.0.0.1:0" },
      services: { app: { backends: [backend.address] } },
      middlewares: {
        squeeze: { type: "compress", encodings: ["br", "gzip"], request: { decompress: true, maxSize: "4MiB", maxRatio: 50 } },
      },
      routers: { all: { service: "app", middlewares: ["squeeze"] } },
    });
  });
  after(async () => {
    releaseStream?.();
    await gw?.close();
    await backend?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test("curl --compressed gets brotli (the server's first choice) and the body it decodes is the backend's", async () => {
    const res = await curl(`${gw.url}/page`, ["--compressed"]);
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-encoding"], "br");
    assert.deepEqual(res.body, PAGE);
  });

  test("curl --raw with Accept-Encoding: br receives brotli bytes on the wire, chunked, without Content-Length", async () => {
    const res = await curl(`${gw.url}/page`, ["--raw", "-H", "Accept-Encoding: br"]);
    assert.equal(res.headers["content-encoding"], "br");
    assert.equal(res.headers["content-length"], undefined);
    assert.equal(res.headers["transfer-encoding"], "chunked");
    // --raw keeps the chunked framing: decode the chunks, then brotli.
    const text = res.body;
    const parts: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const eol = text.indexOf("\r\n", pos);
      const size = Number.parseInt(text.subarray(pos, eol).toString("latin1"), 16);
      if (size === 0) break;
      parts.push(text.subarray(eol + 2, eol + 2 + size));
      pos = eol + 2 + size + 2;
    }
    const wire = Buffer.concat(parts);
    assert.ok(wire.length < PAGE.length / 4, `compressed to ${wire.length} of ${PAGE.length}`);
    assert.deepEqual(zlib.brotliDecompressSync(wire), PAGE);
  });

  test("q-values decide: gzip when the client weighs br lower, identity when it refuses both", async () => {
    const gz = await curl(`${gw.url}/page`, ["--raw", "-H", "Accept-Encoding: br;q=0.1, gzip;q=0.8"]);
    assert.equal(gz.headers["content-encoding"], "gzip");
    const none = await curl(`${gw.url}/page`, ["-H", "Accept-Encoding: br;q=0, gzip;q=0, identity"]);
    assert.equal(none.headers["content-encoding"], undefined);
    assert.equal(none.headers["content-length"], String(PAGE.length));
    assert.deepEqual(none.body, PAGE);
    assert.equal(none.headers.vary, "Origin, Accept-Encoding");
    assert.equal(none.headers.etag, '"v1"');
  });

  test("a client that sends no Accept-Encoding gets the body as it is, with Vary so caches keep both", async () => {
    const res = await fetchRaw(`${gw.url}/page`, {});
    assert.equal(res.headers["content-encoding"], undefined);
    assert.equal(res.headers.vary, "Origin, Accept-Encoding");
    assert.deepEqual(res.body, PAGE);
  });

  test("a compressed response gets a weak ETag, a merged Vary and no Accept-Ranges", async () => {
    const res = await fetchRaw(`${gw.url}/page`, { "accept-encoding": "gzip" });
    assert.equal(res.headers["content-encoding"], "gzip");
    assert.equal(res.headers.etag, 'W/"v1"');
    assert.equal(res.headers.vary, "Origin, Accept-Encoding");
    assert.equal(res.headers["accept-ranges"], undefined);
    assert.deepEqual(decode("gzip", res.body), PAGE);
  });

  test("a 3 MiB body and a chunked one decompress byte-exact, in gzip and in brotli", async () => {
    for (const encoding of ["gzip", "br"]) {
      for (const [path, expected] of [
        ["/big", BIG],
        ["/chunked", PAGE],
      ] as const) {
        const res = await fetchRaw(`${gw.url}${path}`, { "accept-encoding": encoding });
        assert.equal(res.headers["content-encoding"], encoding, path);
        assert.ok(res.body.length < expected.length / 4, `${path} ${encoding}: ${res.body.length} of ${expected.length}`);
        assert.deepEqual(decode(encoding, res.body), expected, `${path} ${encoding}`);
      }
    }
  });

  test("a streamed response's first event reaches the client, decodable, before the backend ends it", async () => {
    const events: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const req = http.get(`${gw.url}/stream`, { headers: { "accept-encoding": "gzip" }, agent: false }, (res) => {
        assert.equal(res.headers["content-encoding"], "gzip");
        const gunzip = zlib.createGunzip();
        res.pipe(gunzip);
        gunzip.on("data", (d: Buffer) => {
          events.push(d.toString());
          if (events.join("").includes("data: first") && releaseStream !== null) {
            const release = releaseStream;
            releaseStream = null;
            release();
          }
        });
        gunzip.on("end", () => resolve());
        gunzip.on("error", reject);
      });
      req.on("error", reject);
    });
    await done;
    assert.equal(events.join(""), "data: first\n\ndata: last\n\n");
    assert.ok(events.length >= 2, "the first event came on its own, before the last was sent");
  });

  test("leaves alone: already-encoded, 206, no-transform, small, and non-text responses", async () => {
    const enc = await fetchRaw(`${gw.url}/encoded`, { "accept-encoding": "br, gzip" });
    assert.equal(enc.headers["content-encoding"], "gzip");
    assert.deepEqual(zlib.gunzipSync(enc.body), PAGE);

    const range = await fetchRaw(`${gw.url}/range`, { "accept-encoding": "gzip", range: "bytes=0-99" });
    assert.equal(range.status, 206);
    assert.equal(range.headers["content-encoding"], undefined);
    assert.deepEqual(range.body, PAGE.subarray(0, 100));

    const nt = await fetchRaw(`${gw.url}/no-transform`, { "accept-encoding": "gzip" });
    assert.equal(nt.headers["content-encoding"], undefined);
    assert.equal(nt.headers.vary, undefined);
    assert.deepEqual(nt.body, PAGE);

    const small = await fetchRaw(`${gw.url}/small`, { "accept-encoding": "gzip" });
    assert.equal(small.headers["content-encoding"], undefined);
    assert.equal(small.headers["content-length"], String(SMALL.length));
    assert.equal(small.headers.vary, "Accept-Encoding");

    const png = await fetchRaw(`${gw.url}/png`, { "accept-encoding": "gzip" });
    assert.equal(png.headers["content-encoding"], undefined);
    assert.equal(png.headers.vary, undefined);
    assert.equal(png.body.length, 4096);

    const star = await fetchRaw(`${gw.url}/vary-star`, { "accept-encoding": "gzip" });
    assert.equal(star.headers.vary, "*");
    assert.equal(star.headers["content-encoding"], "gzip");
  });

  test("HEAD gets the head untouched", async () => {
    const res = await fetchRaw(`${gw.url}/page`, { "accept-encoding": "gzip" }, { method: "HEAD" });
    assert.equal(res.status, 200);
    assert.equal(res.headers["content-encoding"], undefined);
  });

  test("request bodies in gzip, br and deflate reach the backend decompressed, without Content-Encoding", async () => {
    const body = jsonBody(200_000);
    for (const [encoding, packed] of [
      ["gzip", zlib.gzipSync(body)],
      ["br", zlib.brotliCompressSync(body)],
      ["deflate", zlib.deflateSync(body)],
    ] as const) {
      const before = received.length;
      const file = join(tmp, `upload.${encoding}`);
      writeFileSync(file, packed);
      const up = await curl(`${gw.url}/upload`, ["-H", `Content-Encoding: ${encoding}`, "-H", "Content-Type: application/json", "--data-binary", `@${file}`]);
      assert.equal(up.status, 200, encoding);
      assert.equal(up.body.toString(), `got ${body.length} bytes`);
      const seen = received.at(-1)!;
      assert.ok(received.length > before, "the backend got the request");
      assert.equal(seen.headers["content-encoding"], undefined);
      assert.equal(seen.headers["content-length"], undefined);
      assert.deepEqual(seen.body, body);
    }
  });

  test("a zip bomb is refused with 413 and the gateway goes on serving", async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(200 * 1024 * 1024));
    const seenBefore = received.length;
    const res = await fetchRaw(`${gw.url}/upload`, { "content-encoding": "gzip" }, { method: "POST", body: bomb });
    assert.equal(res.status, 413);
    const tooBig = await fetchRaw(`${gw.url}/upload`, { "content-encoding": "gzip" }, { method: "POST", body: zlib.gzipSync(randomBytes(5 * 1024 * 1024)) });
    assert.equal(tooBig.status, 413);
    const corrupt = await fetchRaw(`${gw.url}/upload`, { "content-encoding": "gzip" }, { method: "POST", body: Buffer.from("not gzip at all, not even close") });
    assert.equal(corrupt.status, 400);
    const unknown = await fetchRaw(`${gw.url}/upload`, { "content-encoding": "compress" }, { method: "POST", body: Buffer.from("xyz") });
    assert.equal(unknown.status, 415);
    const ok = await curl(`${gw.url}/page`, ["--compressed"]);
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, PAGE);
    // The bomb never reached the backend whole (the refusal came before its body ended).
    for (const r of received.slice(seenBefore)) assert.ok(r.body.length < 200 * 1024 * 1024, "no body inflated whole");
  });

  test("metrics show what was compressed, the bytes before and after, and the refusals", async () => {
    const text = (await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`, { timeout: 5000 })).body;
    const families = parseExposition(text, "text");
    const m = { middleware: "squeeze" };
    const counted = (name: string, labels: Record<string, string>): void => {
      assert.ok((sampleValue(families, name, labels) ?? 0) >= 1, `${name} ${JSON.stringify(labels)} counted`);
    };
    counted("divisor_compression_responses_total", { ...m, encoding: "br" });
    counted("divisor_compression_responses_total", { ...m, encoding: "gzip" });
    const input = sampleValue(families, "divisor_compression_input_bytes_total", { ...m, encoding: "gzip" })!;
    const output = sampleValue(families, "divisor_compression_output_bytes_total", { ...m, encoding: "gzip" })!;
    assert.ok(input > BIG.length && output < input / 4, `${output} of ${input}`);
    counted("divisor_compression_skipped_total", { ...m, reason: "content_type" });
    counted("divisor_compression_skipped_total", { ...m, reason: "small" });
    counted("divisor_compression_skipped_total", { ...m, reason: "range" });
    counted("divisor_decompression_requests_total", { ...m, encoding: "br" });
    assert.equal(sampleValue(families, "divisor_decompression_refused_total", { ...m, reason: "ratio" }), 1);
    assert.equal(sampleValue(families, "divisor_decompression_refused_total", { ...m, reason: "too_large" }), 1);
    assert.equal(sampleValue(families, "divisor_decompression_refused_total", { ...m, reason: "corrupt" }), 1);
    assert.equal(sampleValue(families, "divisor_decompression_refused_total", { ...m, reason: "unsupported" }), 1);
    // The three bodies that went through whole, at least (the refused ones count what was inflated before the refusal).
    assert.ok(sampleValue(families, "divisor_decompression_output_bytes_total", m)! >= 600_000, "decompressed bytes counted");
    assert.ok(sampleValue(families, "divisor_decompression_input_bytes_total", m)! > 0, "compressed bytes counted");
  });
});
