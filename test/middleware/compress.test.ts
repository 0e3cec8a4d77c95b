import assert from "node:assert/strict";
import { describe, test } from "node:test";
import zlib from "node:zlib";
import { BodyFilterError } from "../../src/errors.js";
import { HeaderList } from "../../src/http1/headers.js";
import { MediaTypes } from "../../src/middleware/compress/content-type.js";
import { encoderSpec, CompressFilter, DecompressFilter } from "../../src/middleware/compress/filters.js";
import { addVaryAcceptEncoding } from "../../src/middleware/compress/index.js";
import { IDENTITY, negotiate, parseQvalue } from "../../src/middleware/compress/negotiate.js";
import { compressSchema } from "../../src/middleware/compress/schema.js";
import type { BodySink } from "../../src/middleware/plugin.js";
import { createMiddleware } from "../../src/middleware/registry.js";

const BR_GZIP = ["br", "gzip"];

describe("compress: Accept-Encoding negotiation (RFC 9110 §12.5.3)", () => {
  test("no header, or an empty one, means identity", () => {
    assert.equal(negotiate(undefined, BR_GZIP), IDENTITY);
    assert.equal(negotiate("", BR_GZIP), IDENTITY);
  });
  test("ties go to the server's order", () => {
    assert.equal(negotiate("gzip, deflate, br", BR_GZIP), 0);
    assert.equal(negotiate("gzip, deflate, br", ["gzip", "br"]), 0);
    assert.equal(negotiate("br, gzip", ["gzip", "br"]), 0);
  });
  test("the highest q-value wins over the server's order", () => {
    assert.equal(negotiate("br;q=0.5, gzip;q=0.9", BR_GZIP), 1);
    assert.equal(negotiate("gzip;q=1.0, br;q=0.999", BR_GZIP), 1);
    assert.equal(negotiate("br;q=0.001, gzip;q=0", BR_GZIP), 0);
  });
  test("q=0 refuses a coding", () => {
    assert.equal(negotiate("br;q=0, gzip;q=0", BR_GZIP), IDENTITY);
    assert.equal(negotiate("br;q=0", BR_GZIP), IDENTITY);
    assert.equal(negotiate("gzip;q=0.000", ["gzip"]), IDENTITY);
  });
  test("tokens, the q name and whitespace are case- and space-insensitive", () => {
    assert.equal(negotiate("GZIP", BR_GZIP), 1);
    assert.equal(negotiate("  Br ;  Q=0.7 ,gzip;q=0.6", BR_GZIP), 0);
    assert.equal(negotiate("\tgzip\t;\tq=1", BR_GZIP), 1);
  });
  test("* stands for every coding not named", () => {
    assert.equal(negotiate("*", BR_GZIP), 0);
    assert.equal(negotiate("br;q=0, *", BR_GZIP), 1);
    assert.equal(negotiate("*;q=0", BR_GZIP), IDENTITY);
    assert.equal(negotiate("gzip;q=0.5, *;q=0.1", BR_GZIP), 1);
  });
  test("identity preferred explicitly, or through *, beats a lower-weighted coding", () => {
    assert.equal(negotiate("identity, gzip;q=0.5", BR_GZIP), IDENTITY);
    assert.equal(negotiate("identity;q=0.5, gzip", BR_GZIP), 1);
    assert.equal(negotiate("identity;q=0, gzip", BR_GZIP), 1);
    assert.equal(negotiate("identity", BR_GZIP), IDENTITY);
    assert.equal(negotiate("gzip, identity", BR_GZIP), 1);
  });
  test("x-gzip is gzip; unknown codings are ignored", () => {
    assert.equal(negotiate("x-gzip", BR_GZIP), 1);
    assert.equal(negotiate("compress, deflate", BR_GZIP), IDENTITY);
    assert.equal(negotiate("zstd, gzip", ["zstd", "gzip"]), 0);
  });
  test("a bad token or a bad q-value drops only its own element", () => {
    assert.equal(negotiate("gz ip, br", BR_GZIP), 0);
    assert.equal(negotiate("br;q=2, gzip", BR_GZIP), 1);
    assert.equal(negotiate("br;q=0.5000, gzip;q=0.1", BR_GZIP), 1);
    assert.equal(negotiate("br;q=, gzip;q=0.1", BR_GZIP), 1);
    assert.equal(negotiate("br;q=1.5, gzip;q=0.1", BR_GZIP), 1);
    assert.equal(negotiate("br;q, gzip;q=0.1", BR_GZIP), 1);
    assert.equal(negotiate("b\u00e9r, gzip", BR_GZIP), 1);
    assert.equal(negotiate(",,, ,gzip,,", BR_GZIP), 1);
    assert.equal(negotiate(";q=1, br;q=0.2", BR_GZIP), 0);
  });
  test("the first mention of a coding counts", () => {
    assert.equal(negotiate("br;q=0, br, gzip;q=0.5", BR_GZIP), 1);
  });
  test("other parameters are ignored", () => {
    assert.equal(negotiate("br;level=5;q=0.2, gzip;q=0.1", BR_GZIP), 0);
  });
  test("qvalue grammar", () => {
    assert.equal(parseQvalue("0", 0, 1), 0);
    assert.equal(parseQvalue("1", 0, 1), 1);
    assert.equal(parseQvalue("0.5", 0, 3), 0.5);
    assert.equal(parseQvalue("0.125", 0, 5), 0.125);
    assert.equal(parseQvalue("1.000", 0, 5), 1);
    assert.equal(parseQvalue("1.001", 0, 5), -1);
    assert.equal(parseQvalue("0.1234", 0, 6), -1);
    assert.equal(parseQvalue(".5", 0, 2), -1);
    assert.equal(parseQvalue("0.", 0, 2), 0);
  });
});

describe("compress: content types", () => {
  const types = new MediaTypes(["text/*", "application/json", "application/*+json", "image/svg+xml"]);
  test("exact types, with parameters and any case", () => {
    assert.equal(types.matches("application/json"), true);
    assert.equal(types.matches("Application/JSON; charset=utf-8"), true);
    assert.equal(types.matches("image/svg+xml"), true);
    assert.equal(types.matches("image/png"), false);
  });
  test("whole types and suffixes", () => {
    assert.equal(types.matches("text/html"), true);
    assert.equal(types.matches("text/event-stream"), true);
    assert.equal(types.matches("text/"), false);
    assert.equal(types.matches("application/problem+json"), true);
    assert.equal(types.matches("application/+json"), false);
    assert.equal(types.matches("application/octet-stream"), false);
  });
  test("no Content-Type is not compressible", () => {
    assert.equal(types.matches(undefined), false);
  });
});

describe("compress: Vary", () => {
  const vary = (...values: string[]): string[] => {
    const h = new HeaderList();
    for (const v of values) h.add("Vary", v);
    addVaryAcceptEncoding(h);
    return h.getAll("vary");
  };
  test("adds Accept-Encoding, merges with what is there, never twice", () => {
    assert.deepEqual(vary(), ["Accept-Encoding"]);
    assert.deepEqual(vary("Origin"), ["Origin, Accept-Encoding"]);
    assert.deepEqual(vary("Origin", "Cookie"), ["Origin, Cookie, Accept-Encoding"]);
    assert.deepEqual(vary("accept-encoding"), ["accept-encoding"]);
    assert.deepEqual(vary("Origin, Accept-Encoding"), ["Origin, Accept-Encoding"]);
  });
  test("leaves Vary: * alone", () => {
    assert.deepEqual(vary("*"), ["*"]);
  });
});

describe("compress: config", () => {
  test("defaults are streaming-sane", () => {
    const c = compressSchema.parse({ type: "compress" });
    assert.deepEqual(c.encodings, ["br", "gzip"]);
    assert.equal(c.gzip.level, 5);
    assert.equal(c.br.quality, 4);
    assert.equal(c.minSize, 1024);
    assert.equal(c.request.decompress, false);
  });
  test("zstd on a Node without it is refused with the version it needs", { skip: typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === "function" }, () => {
    const r = compressSchema.safeParse({ type: "compress", encodings: ["zstd", "gzip"] });
    assert.equal(r.success, false);
    assert.match(r.error!.issues[0]!.message, /zstd needs Node 22\.15 or newer/);
  });
  test("bad values are refused", () => {
    assert.equal(compressSchema.safeParse({ type: "compress", encodings: ["gzip", "gzip"] }).success, false);
    assert.equal(compressSchema.safeParse({ type: "compress", encodings: ["deflate"] }).success, false);
    assert.equal(compressSchema.safeParse({ type: "compress", gzip: { level: 0 } }).success, false);
    assert.equal(compressSchema.safeParse({ type: "compress", br: { quality: 12 } }).success, false);
    assert.equal(compressSchema.safeParse({ type: "compress", contentTypes: ["json"] }).success, false);
    assert.equal(compressSchema.safeParse({ type: "compress", contentTypes: ["text/ht*ml"] }).success, false);
    assert.equal(compressSchema.safeParse({ type: "compress", minSize: "1KiB" }).success, true);
  });
  test("the registry builds it", () => {
    const mw = createMiddleware("c", compressSchema.parse({ type: "compress" }), new Map());
    assert.equal(typeof mw.onResponseBody, "function");
    assert.equal(mw.onRequestBody, undefined);
  });
});

/** A sink that collects a filter's output. */
function collector(): BodySink & { chunks: Buffer[]; ended: Promise<void>; failed: Promise<Error> } {
  let endIt!: () => void;
  let failIt!: (e: Error) => void;
  const ended = new Promise<void>((r) => {
    endIt = r;
  });
  const failed = new Promise<Error>((r) => {
    failIt = r;
  });
  const chunks: Buffer[] = [];
  return { chunks, ended, failed, write: (c) => chunks.push(c), end: () => endIt(), error: (e) => failIt(e) };
}

const cell = () => {
  const c = { value: 0, inc: (by = 1) => void (c.value += by), set: () => {} };
  return c;
};

describe("compress: filters", () => {
  for (const encoding of ["gzip", "br"] as const) {
    test(`${encoding}: the body streams out compressed, each turn's bytes flushed, and decompresses byte-exact`, async () => {
      const spec = encoderSpec(encoding, encoding === "gzip" ? 5 : 4, 18);
      const bytes = { input: cell(), output: cell() };
      const filter = new CompressFilter(spec, bytes);
      const sink = collector();
      const part = Buffer.from(`{"id":1,"name":"a name that repeats"},`.repeat(200));
      filter.write(part, sink);
      // The flush at the end of the turn makes the first part decodable before the body ends.
      const decodeSoFar = (): Buffer => {
        const partial = Buffer.concat(sink.chunks);
        return encoding === "gzip"
          ? zlib.gunzipSync(partial, { finishFlush: zlib.constants.Z_SYNC_FLUSH })
          : zlib.brotliDecompressSync(partial, { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH });
      };
      for (let i = 0; i < 200 && (sink.chunks.length === 0 || decodeSoFar().length < part.length); i++) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(decodeSoFar(), part);
      filter.write(part, sink);
      filter.end(sink);
      await sink.ended;
      const all = Buffer.concat(sink.chunks);
      const decoded = encoding === "gzip" ? zlib.gunzipSync(all) : zlib.brotliDecompressSync(all);
      assert.deepEqual(decoded, Buffer.concat([part, part]));
      assert.equal(bytes.input.value, part.length * 2);
      assert.equal(bytes.output.value, all.length);
      assert.ok(all.length < part.length / 5, `${all.length} of ${part.length * 2}`);
    });
  }
  test("a body that ends within its first turn is compressed in one go", () => {
    const spec = encoderSpec("gzip", 5, 18);
    const filter = new CompressFilter({ ...spec, open: () => assert.fail("no stream for a one-turn body") }, { input: cell(), output: cell() });
    const sink = collector();
    filter.write(Buffer.from("abc".repeat(1000)), sink);
    filter.write(Buffer.from("def".repeat(1000)), sink);
    filter.end(sink);
    assert.equal(zlib.gunzipSync(Buffer.concat(sink.chunks)).toString(), "abc".repeat(1000) + "def".repeat(1000));
  });
  test("an empty body still gets a valid (empty) gzip stream", async () => {
    const spec = encoderSpec("gzip", 5, 18);
    const filter = new CompressFilter(spec, { input: cell(), output: cell() });
    const sink = collector();
    filter.end(sink);
    await sink.ended;
    assert.equal(zlib.gunzipSync(Buffer.concat(sink.chunks)).length, 0);
  });
  test("destroy releases the zlib stream mid-body", async () => {
    const spec = encoderSpec("gzip", 5, 18);
    let stream: ReturnType<typeof spec.open> | undefined;
    const filter = new CompressFilter({ ...spec, open: () => (stream = spec.open()) }, { input: cell(), output: cell() });
    filter.write(Buffer.alloc(1000, 1), collector());
    await new Promise((r) => setImmediate(r));
    assert.ok(stream !== undefined, "a body that goes on past its first turn gets a stream");
    filter.destroy();
    assert.equal(stream.destroyed, true);
  });

  const refusals = () => ({ tooLarge: cell(), ratio: cell(), corrupt: cell() });
  test("decompression stops at maxSize with a 413", async () => {
    const r = refusals();
    const filter = new DecompressFilter(zlib.createGunzip(), { maxSize: 100_000, maxRatio: 1_000_000 }, { input: cell(), output: cell() }, r);
    const sink = collector();
    filter.write(zlib.gzipSync(Buffer.alloc(1_000_000)), sink);
    filter.end(sink);
    const err = await sink.failed;
    assert.ok(err instanceof BodyFilterError, "a BodyFilterError");
    assert.equal(err.status, 413);
    assert.equal(err.code, "ERR_DECOMPRESSED_BODY_TOO_LARGE");
    assert.equal(r.tooLarge.value, 1);
    assert.ok(Buffer.concat(sink.chunks).length <= 100_000, "nothing past maxSize went on");
  });
  test("a zip bomb is stopped by the ratio limit", async () => {
    const r = refusals();
    const filter = new DecompressFilter(zlib.createGunzip(), { maxSize: 1e12, maxRatio: 100 }, { input: cell(), output: cell() }, r);
    const sink = collector();
    filter.write(zlib.gzipSync(Buffer.alloc(50 * 1024 * 1024)), sink);
    filter.end(sink);
    const err = (await sink.failed) as BodyFilterError;
    assert.equal(err.code, "ERR_DECOMPRESSION_RATIO");
    assert.equal(err.status, 413);
    assert.equal(r.ratio.value, 1);
  });
  test("a corrupt body is a 400", async () => {
    const r = refusals();
    const filter = new DecompressFilter(zlib.createGunzip(), { maxSize: 1e9, maxRatio: 100 }, { input: cell(), output: cell() }, r);
    const sink = collector();
    filter.write(Buffer.from("this is not gzip at all"), sink);
    filter.end(sink);
    const err = (await sink.failed) as BodyFilterError;
    assert.equal(err.status, 400);
    assert.equal(r.corrupt.value, 1);
  });
});
