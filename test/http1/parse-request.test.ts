import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { HttpParseError } from "../../src/errors.js";
import { parseRequestHead } from "../../src/http1/parse-request.js";
import { BodyKind, DEFAULT_HEAD_LIMITS, type HeadLimits, type RequestHead } from "../../src/http1/types.js";

const bytes = (s: string): Buffer => Buffer.from(s, "latin1");
const lines = (...l: string[]): string => `${l.join("\r\n")}\r\n\r\n`;

function parse(raw: string, limits: HeadLimits = DEFAULT_HEAD_LIMITS): { head: RequestHead; length: number } {
  const buf = bytes(raw);
  const parsed = parseRequestHead(buf, 0, buf.length, limits);
  assert.ok(parsed !== null, "head should be complete");
  return parsed;
}

function status(raw: string, limits: HeadLimits = DEFAULT_HEAD_LIMITS): number {
  const buf = bytes(raw);
  try {
    parseRequestHead(buf, 0, buf.length, limits);
  } catch (err) {
    assert.ok(err instanceof HttpParseError);
    return err.status;
  }
  assert.fail("expected an HttpParseError");
}

const browserGet = lines(
  "GET /api/items?page=2&q=a%20b HTTP/1.1",
  "Host: Shop.Example.TEST:8080",
  "Connection: keep-alive",
  "User-Agent: Mozilla/5.0 (X11; Linux x86_64)",
  "Accept: text/html,*/*;q=0.8",
  "Accept-Encoding: gzip, br",
  "Cookie: a=1; b=2",
);

describe("parseRequestHead", () => {
  it("parses every field of a typical browser GET", () => {
    const { head, length } = parse(browserGet);
    assert.equal(length, Buffer.byteLength(browserGet));
    assert.deepEqual(head, {
      method: "GET",
      target: "/api/items?page=2&q=a%20b",
      path: "/api/items",
      query: "?page=2&q=a%20b",
      versionMinor: 1,
      headers: [
        "Host", "Shop.Example.TEST:8080",
        "Connection", "keep-alive",
        "User-Agent", "Mozilla/5.0 (X11; Linux x86_64)",
        "Accept", "text/html,*/*;q=0.8",
        "Accept-Encoding", "gzip, br",
        "Cookie", "a=1; b=2",
      ],
      bodyKind: BodyKind.None,
      contentLength: -1,
      keepAlive: true,
      upgrade: false,
      expectContinue: false,
      host: "shop.example.test:8080",
      connectionTokens: ["keep-alive"],
    } satisfies RequestHead);
  });

  it("returns null for every proper prefix and the same head once complete, whatever the split", () => {
    const whole = parse(browserGet);
    const buf = bytes(`${browserGet}POST`);
    for (let end = 0; end < Buffer.byteLength(browserGet); end++) {
      assert.equal(parseRequestHead(buf, 0, end, DEFAULT_HEAD_LIMITS), null, `prefix of ${end} bytes`);
    }
    for (let end = Buffer.byteLength(browserGet); end <= buf.length; end++) {
      assert.deepEqual(parseRequestHead(buf, 0, end, DEFAULT_HEAD_LIMITS), whole, `buffer of ${end} bytes`);
    }
  });

  it("parses at an offset and leaves the next pipelined request for the next call", () => {
    const first = lines("GET /one HTTP/1.1", "Host: a.test");
    const second = lines("GET /two HTTP/1.1", "Host: b.test");
    const buf = bytes(`xx${first}${second}`);
    const one = parseRequestHead(buf, 2, buf.length, DEFAULT_HEAD_LIMITS)!;
    assert.equal(one.head.path, "/one");
    assert.equal(one.length, first.length);
    const two = parseRequestHead(buf, 2 + one.length, buf.length, DEFAULT_HEAD_LIMITS)!;
    assert.equal(two.head.path, "/two");
    assert.equal(two.head.host, "b.test");
    assert.equal(2 + one.length + two.length, buf.length);
  });

  it("skips empty lines before the request-line and counts them in length", () => {
    const raw = `\r\n\r\n${lines("GET / HTTP/1.1", "Host: a.test")}`;
    const { head, length } = parse(raw);
    assert.equal(head.method, "GET");
    assert.equal(length, raw.length);
    assert.equal(parseRequestHead(bytes("\r\n\r"), 0, 3, DEFAULT_HEAD_LIMITS), null);
  });

  it("trims OWS around values and keeps empty values and inner whitespace", () => {
    const { head } = parse(lines("GET / HTTP/1.1", "Host:a.test", "X-A: \t a  b \t ", "X-Empty:", "X-Spaces:   "));
    assert.deepEqual(head.headers, ["Host", "a.test", "X-A", "a  b", "X-Empty", "", "X-Spaces", ""]);
  });

  it("keeps obs-text bytes of a value as latin1 characters", () => {
    const { head } = parse(lines("GET / HTTP/1.1", "Host: a.test", "X-Name: caf\xe9 \xff"));
    assert.equal(head.headers[3], "caf\xe9 \xff");
  });

  it("frames a body with Content-Length, including an explicit zero", () => {
    const post = parse(lines("POST /x HTTP/1.1", "Host: a.test", "content-LENGTH: 0012"));
    assert.equal(post.head.bodyKind, BodyKind.Length);
    assert.equal(post.head.contentLength, 12);
    const empty = parse(lines("POST /x HTTP/1.1", "Host: a.test", "Content-Length: 0"));
    assert.equal(empty.head.bodyKind, BodyKind.Length);
    assert.equal(empty.head.contentLength, 0);
    const max = parse(lines("PUT /x HTTP/1.1", "Host: a.test", `Content-Length: ${Number.MAX_SAFE_INTEGER}`));
    assert.equal(max.head.contentLength, Number.MAX_SAFE_INTEGER);
  });

  it("frames a chunked body whatever the case and OWS of the coding", () => {
    for (const te of ["chunked", "Chunked", "CHUNKED", " \t chunked  "]) {
      const { head } = parse(lines("POST /x HTTP/1.1", "Host: a.test", `Transfer-Encoding:${te}`));
      assert.equal(head.bodyKind, BodyKind.Chunked, te);
      assert.equal(head.contentLength, -1);
    }
  });

  it("rejects every other transfer-coding, with 501 only for codings before a final chunked", () => {
    assert.equal(status(lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip ,chunked")), 501);
    assert.equal(status(lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked, gzip")), 400);
    assert.equal(status(lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: gzip")), 400);
  });

  it("applies the keep-alive defaults of each version and the Connection tokens", () => {
    assert.equal(parse(lines("GET / HTTP/1.1", "Host: a")).head.keepAlive, true);
    assert.equal(parse(lines("GET / HTTP/1.1", "Host: a", "Connection: Close")).head.keepAlive, false);
    assert.equal(parse(lines("GET / HTTP/1.1", "Host: a", "Connection: keep-alive, close")).head.keepAlive, false);
    assert.equal(parse(lines("GET / HTTP/1.0")).head.keepAlive, false);
    assert.equal(parse(lines("GET / HTTP/1.0", "Connection: Keep-Alive")).head.keepAlive, true);
    assert.equal(parse(lines("GET / HTTP/1.1", "Host: a")).head.connectionTokens, null);
  });

  it("collects lowercased tokens of every Connection field, skipping empty elements", () => {
    const { head } = parse(lines("GET / HTTP/1.1", "Host: a", "Connection: Keep-Alive ,, X-Foo", "connection: TE"));
    assert.deepEqual(head.connectionTokens, ["keep-alive", "x-foo", "te"]);
  });

  it("reports an upgrade only with both the Connection token and an Upgrade field", () => {
    const ws = ["GET /ws HTTP/1.1", "Host: a", "Connection: Upgrade", "Upgrade: websocket"];
    assert.equal(parse(lines(...ws)).head.upgrade, true);
    assert.equal(parse(lines("GET /ws HTTP/1.1", "Host: a", "Upgrade: websocket")).head.upgrade, false);
    assert.equal(parse(lines("GET /ws HTTP/1.1", "Host: a", "Connection: upgrade")).head.upgrade, false);
  });

  it("sees Expect: 100-continue in any case, and ignores it in HTTP/1.0 as RFC 9110 requires", () => {
    assert.equal(parse(lines("PUT / HTTP/1.1", "Host: a", "Expect: 100-Continue")).head.expectContinue, true);
    assert.equal(parse(lines("PUT / HTTP/1.1", "Host: a", "Expect: 100-continue-ish")).head.expectContinue, false);
    assert.equal(parse(lines("PUT / HTTP/1.0", "Expect: 100-continue")).head.expectContinue, false);
  });

  it("leaves host empty for an HTTP/1.0 request without Host", () => {
    const { head } = parse(lines("GET /old HTTP/1.0"));
    assert.equal(head.versionMinor, 0);
    assert.equal(head.host, "");
  });

  it("accepts the absolute-form and takes path, query and host from it", () => {
    const { head } = parse(lines("GET HTTP://A.Test:81/p/q?x=1 HTTP/1.1", "Host: a.test:81"));
    assert.equal(head.target, "HTTP://A.Test:81/p/q?x=1");
    assert.equal(head.path, "/p/q");
    assert.equal(head.query, "?x=1");
    assert.equal(head.host, "a.test:81");
    const bare = parse(lines("GET https://a.test?x HTTP/1.1", "Host: A.test")).head;
    assert.deepEqual([bare.path, bare.query, bare.host], ["/", "?x", "a.test"]);
    const old = parse(lines("GET http://a.test HTTP/1.0")).head;
    assert.deepEqual([old.path, old.query, old.host], ["/", "", "a.test"]);
  });

  it("accepts the asterisk-form with OPTIONS only", () => {
    const { head } = parse(lines("OPTIONS * HTTP/1.1", "Host: a"));
    assert.deepEqual([head.target, head.path, head.query], ["*", "", ""]);
    assert.equal(status(lines("GET * HTTP/1.1", "Host: a")), 400);
  });

  it("splits the query at the first question mark only", () => {
    const { head } = parse(lines("GET /a?b?c=/d HTTP/1.1", "Host: a"));
    assert.deepEqual([head.path, head.query], ["/a", "?b?c=/d"]);
  });

  it("accepts every method Node accepts and answers 501 to others", () => {
    for (const m of ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND", "M-SEARCH"]) {
      assert.equal(parse(lines(`${m} / HTTP/1.1`, "Host: a")).head.method, m);
    }
    assert.equal(status(lines("BREW / HTTP/1.1", "Host: a")), 501);
    assert.equal(status(lines("Get / HTTP/1.1", "Host: a")), 501);
  });

  it("accepts a head of exactly maxHeadSize bytes and answers 431 one byte over", () => {
    const limits = { ...DEFAULT_HEAD_LIMITS, maxHeadSize: 200 };
    const base = lines("GET / HTTP/1.1", "Host: a", "X-Pad: ");
    const exact = lines("GET / HTTP/1.1", "Host: a", `X-Pad: ${"p".repeat(200 - base.length)}`);
    assert.equal(exact.length, 200);
    assert.equal(parse(exact, limits).length, 200);
    assert.equal(status(lines("GET / HTTP/1.1", "Host: a", `X-Pad: ${"p".repeat(201 - base.length)}`), limits), 431);
  });

  it("answers 431 as soon as an unfinished head reaches maxHeadSize", () => {
    const limits = { ...DEFAULT_HEAD_LIMITS, maxHeadSize: 100 };
    const buf = bytes(`GET / HTTP/1.1\r\nHost: a\r\nX-Pad: ${"p".repeat(200)}`);
    assert.equal(parseRequestHead(buf, 0, 99, limits), null);
    assert.throws(() => parseRequestHead(buf, 0, 100, limits), (e: HttpParseError) => e.status === 431);
  });

  it("accepts maxHeaders fields and answers 431 to one more", () => {
    const limits = { ...DEFAULT_HEAD_LIMITS, maxHeaders: 3 };
    assert.equal(parse(lines("GET / HTTP/1.1", "Host: a", "B: 1", "C: 1"), limits).head.headers.length, 6);
    assert.equal(status(lines("GET / HTTP/1.1", "Host: a", "B: 1", "C: 1", "D: 1"), limits), 431);
  });

  it("accepts a target of maxUrlLength bytes and answers 414 to a longer one, even before the head ends", () => {
    const limits = { ...DEFAULT_HEAD_LIMITS, maxUrlLength: 10 };
    assert.equal(parse(lines("GET /123456789 HTTP/1.1", "Host: a"), limits).head.target.length, 10);
    assert.equal(status(lines("GET /1234567890 HTTP/1.1", "Host: a"), limits), 414);
    assert.equal(status("GET /1234567890", limits), 414);
  });

  it("rejects a bad head as soon as the offending byte arrives", () => {
    assert.equal(status("GET / HTTP/1.1\r\nHost: a\r\nX-Bad\x00"), 400);
    assert.equal(status("GET / HTTP/1.1\r\nHost: a\r\nX-Bad: \x00"), 400);
    assert.equal(status("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n"), 400);
    assert.equal(status("GET / HTTP/1,"), 400);
    assert.equal(status("GET / HTTP/2.0\r"), 505);
    assert.equal(status("GET ;x "), 400);
    assert.equal(status("GET http:/a.test "), 400);
    assert.equal(status("GET * "), 400);
  });

  it("rejects a trailing tab in Content-Length, Transfer-Encoding and Connection, which Node reads differently", () => {
    assert.equal(status(lines("POST / HTTP/1.1", "Host: a", "Content-Length: 5\t")), 400);
    assert.equal(status(lines("POST / HTTP/1.1", "Host: a", "Transfer-Encoding: chunked \t ")), 400);
    assert.equal(status(lines("GET / HTTP/1.1", "Host: a", "Connection: close\t")), 400);
    assert.equal(parse(lines("POST / HTTP/1.1", "Host: a", "Content-Length:\t5 ")).head.contentLength, 5);
    assert.equal(parse(lines("GET / HTTP/1.1", "Host: a", "X-Other: v\t")).head.headers[3], "v");
  });

  it("answers 505 to well-formed versions other than 1.0 and 1.1", () => {
    for (const v of ["HTTP/0.9", "HTTP/1.2", "HTTP/2.0", "HTTP/9.9"]) {
      assert.equal(status(lines(`GET / ${v}`, "Host: a")), 505, v);
    }
  });
});
