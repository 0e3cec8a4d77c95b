import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpParseError } from "../../src/errors.js";
import { parseResponseHead } from "../../src/http1/parse-response.js";
import { BodyKind, type ResponseHead } from "../../src/http1/types.js";

const MAX = 16 * 1024;
const bytes = (s: string): Buffer => Buffer.from(s, "latin1");
const lines = (...l: string[]): string => `${l.join("\r\n")}\r\n\r\n`;

function parse(raw: string, method = "GET"): ResponseHead {
  const buf = bytes(raw);
  const parsed = parseResponseHead(buf, 0, buf.length, method, MAX);
  assert.ok(parsed !== null, "head should be complete");
  assert.equal(parsed.length, buf.length);
  return parsed.head;
}

function rejects(raw: string, method = "GET"): void {
  const buf = bytes(raw);
  assert.throws(() => parseResponseHead(buf, 0, buf.length, method, MAX), HttpParseError, JSON.stringify(raw));
}

const ok = lines("HTTP/1.1 200 OK", "Content-Type: text/plain", "Content-Length: 12", "Connection: Keep-Alive");

describe("parseResponseHead", () => {
  it("parses every field of a Content-Length response", () => {
    assert.deepEqual(parse(ok), {
      statusCode: 200,
      reason: "OK",
      versionMinor: 1,
      headers: ["Content-Type", "text/plain", "Content-Length", "12", "Connection", "Keep-Alive"],
      bodyKind: BodyKind.Length,
      contentLength: 12,
      keepAlive: true,
      connectionTokens: ["keep-alive"],
    } satisfies ResponseHead);
  });

  it("returns null for every proper prefix and the same head once complete, leaving the body", () => {
    const buf = bytes(`${ok}hello world!`);
    const whole = parseResponseHead(buf, 0, buf.length, "GET", MAX);
    assert.equal(whole?.length, ok.length);
    for (let end = 0; end < ok.length; end++) {
      assert.equal(parseResponseHead(buf, 0, end, "GET", MAX), null, `prefix of ${end} bytes`);
    }
    for (let end = ok.length; end <= buf.length; end++) {
      assert.deepEqual(parseResponseHead(buf, 0, end, "GET", MAX), whole, `buffer of ${end} bytes`);
    }
  });

  it("parses at an offset", () => {
    const buf = bytes(`junk${ok}`);
    assert.equal(parseResponseHead(buf, 4, buf.length, "GET", MAX)?.length, ok.length);
  });

  it("keeps a reason phrase with spaces and obs-text, and accepts an empty one with or without its space", () => {
    assert.equal(parse(lines("HTTP/1.1 404 Not   Found \xe9", "Content-Length: 0")).reason, "Not   Found \xe9");
    assert.equal(parse(lines("HTTP/1.1 204 ")).reason, "");
    assert.equal(parse(lines("HTTP/1.1 204")).reason, "");
  });

  it("frames a chunked response, also after other codings", () => {
    assert.equal(parse(lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")).bodyKind, BodyKind.Chunked);
    const gz = parse(lines("HTTP/1.1 200 OK", "Transfer-Encoding: gzip, chunked"));
    assert.equal(gz.bodyKind, BodyKind.Chunked);
    assert.equal(gz.keepAlive, true);
  });

  it("reads until close without framing fields or with a coding that is not chunked", () => {
    const bare = parse(lines("HTTP/1.1 200 OK", "Connection: keep-alive"));
    assert.equal(bare.bodyKind, BodyKind.UntilClose);
    assert.equal(bare.keepAlive, false);
    const gz = parse(lines("HTTP/1.1 200 OK", "Transfer-Encoding: gzip"));
    assert.equal(gz.bodyKind, BodyKind.UntilClose);
    assert.equal(gz.keepAlive, false);
  });

  it("gives no body to HEAD responses, 1xx, 204 and 304 whatever their framing fields say", () => {
    assert.equal(parse(lines("HTTP/1.1 200 OK", "Content-Length: 99"), "HEAD").bodyKind, BodyKind.None);
    assert.equal(parse(lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked"), "HEAD").bodyKind, BodyKind.None);
    assert.equal(parse(lines("HTTP/1.1 100 Continue")).bodyKind, BodyKind.None);
    assert.equal(parse(lines("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket")).bodyKind, BodyKind.None);
    assert.equal(parse(lines("HTTP/1.1 204 No Content", "Content-Length: 5")).bodyKind, BodyKind.None);
    const notModified = parse(lines("HTTP/1.1 304 Not Modified", "Content-Length: 5"));
    assert.equal(notModified.bodyKind, BodyKind.None);
    assert.equal(notModified.contentLength, -1);
    assert.equal(notModified.keepAlive, true);
  });

  it("applies the keep-alive defaults of HTTP/1.0 and HTTP/1.1", () => {
    assert.equal(parse(lines("HTTP/1.0 200 OK", "Content-Length: 0")).keepAlive, false);
    assert.equal(parse(lines("HTTP/1.0 200 OK", "Content-Length: 0", "Connection: keep-alive")).keepAlive, true);
    assert.equal(parse(lines("HTTP/1.1 200 OK", "Content-Length: 0", "Connection: close")).keepAlive, false);
  });

  it("rejects ambiguous framing", () => {
    rejects(lines("HTTP/1.1 200 OK", "Content-Length: 5", "Transfer-Encoding: chunked"));
    rejects(lines("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 5"));
    rejects(lines("HTTP/1.1 200 OK", "Content-Length: 5, 5"));
    rejects(lines("HTTP/1.1 200 OK", "Content-Length: -1"));
    rejects(lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked, gzip"));
    rejects(lines("HTTP/1.1 200 OK", "Transfer-Encoding: chunked", "Transfer-Encoding: chunked"));
    rejects(lines("HTTP/1.0 200 OK", "Transfer-Encoding: chunked"));
  });

  it("rejects malformed status-lines and field lines", () => {
    rejects(lines("HTTP/1.1 99 Odd"));
    rejects(lines("HTTP/1.1 099 Odd"));
    rejects(lines("HTTP/1.1 600 Odd"));
    rejects(lines("HTTP/1.1 2000 OK"));
    rejects(lines("HTTP/2.0 200 OK"));
    rejects(lines("HTTP/1.2 200 OK"));
    rejects(lines("http/1.1 200 OK"));
    rejects(lines("HTTP/1.1  200 OK"));
    rejects(lines("HTTP/1.1 200 O\x00K"));
    rejects("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n");
    rejects(lines("HTTP/1.1 200 OK", "X-Folded: a", " b", "Content-Length: 0"));
    rejects(lines("HTTP/1.1 200 OK", "X-Space : a", "Content-Length: 0"));
    rejects(lines("HTTP/1.1 200 OK", "X-Nul: a\x00", "Content-Length: 0"));
  });

  it("rejects a head over maxHeadSize, even unfinished", () => {
    const buf = bytes(`HTTP/1.1 200 OK\r\nX-Pad: ${"p".repeat(200)}`);
    assert.equal(parseResponseHead(buf, 0, 99, "GET", 100), null);
    assert.throws(() => parseResponseHead(buf, 0, 100, "GET", 100), HttpParseError);
    const whole = bytes(lines("HTTP/1.1 200 OK", `X-Pad: ${"p".repeat(200)}`));
    assert.throws(() => parseResponseHead(whole, 0, whole.length, "GET", 100), HttpParseError);
  });
});
