import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpParseError } from "../../src/errors.js";
import { ChunkedDecoder } from "../../src/http1/chunked.js";
import { parseRequestHead } from "../../src/http1/parse-request.js";
import { BodyKind, DEFAULT_HEAD_LIMITS } from "../../src/http1/types.js";
import { type CorpusCase, corpus } from "./corpus.js";

/** Feed the case in pieces of `step` bytes, as a socket would; returns the error the codec throws, if any. */
function run(c: CorpusCase, step: number): unknown {
  const buf = Buffer.from(c.raw, "latin1");
  try {
    let end = Math.min(step, buf.length);
    let parsed = parseRequestHead(buf, 0, end, DEFAULT_HEAD_LIMITS);
    while (parsed === null && end < buf.length) {
      end = Math.min(end + step, buf.length);
      parsed = parseRequestHead(buf, 0, end, DEFAULT_HEAD_LIMITS);
    }
    if (parsed === null) return "the head never completed";
    if (c.part === "head") return "the head was accepted";
    assert.equal(parsed.head.bodyKind, BodyKind.Chunked, "body cases send a valid chunked head");
    const decoder = new ChunkedDecoder();
    for (let at = parsed.length; at < buf.length && !decoder.done; at += step) {
      decoder.push(buf, at, Math.min(at + step, buf.length));
    }
    return decoder.done ? "the body was accepted" : "the body never completed";
  } catch (err) {
    return err;
  }
}

function assertRejected(c: CorpusCase, step: number): void {
  const err = run(c, step);
  assert.ok(err instanceof HttpParseError, `expected HttpParseError, got: ${String(err)}`);
  assert.equal(err.status, c.expectStatus, `status for "${err.message}"`);
}

describe("smuggling and malformed-input corpus", () => {
  it("holds at least 60 cases with unique names", () => {
    assert.ok(corpus.length >= 60, `only ${corpus.length} cases`);
    assert.equal(new Set(corpus.map((c) => c.name)).size, corpus.length);
  });

  for (const c of corpus) {
    it(`rejects ${c.name} with ${c.expectStatus}, whole or byte by byte`, () => {
      assertRejected(c, c.raw.length);
      // Byte by byte: a prefix is never accepted, and the same status comes out (long cases in bigger pieces).
      assertRejected(c, c.raw.length > 2000 ? 1000 : 1);
    });
  }
});
