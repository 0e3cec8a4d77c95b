// Malformed and ambiguous HTTP/1.1 requests that must be rejected, with the status the gateway answers.
// Shared by the codec's corpus test and the end-to-end test that sends each case through a real gateway.
// Sizes are relative to DEFAULT_HEAD_LIMITS (16 KiB head, 100 fields, 8 KiB target).

export interface CorpusCase {
  name: string;
  /** The bytes a client sends, as a latin1 string (one char per byte). */
  raw: string;
  /** Status of the HttpParseError, and so of the response the client gets before the connection is closed. */
  expectStatus: 400 | 414 | 431 | 501 | 505;
  /**
   * Where the fault is: in the head, or in a chunked body after a valid head (the gateway may already have passed
   * that head on to a backend when it finds the fault).
   */
  part: "head" | "body";
}

/** A request head from its lines, CRLF line endings, ending with the empty line. */
export function head(...lines: string[]): string {
  return `${lines.join("\r\n")}\r\n\r\n`;
}

const host = "Host: example.test";
const get = (...fields: string[]): string => head("GET / HTTP/1.1", host, ...fields);
const post = (...fields: string[]): string => head("POST /upload HTTP/1.1", host, ...fields);
const chunked = (body: string): string => head("POST /upload HTTP/1.1", host, "Transfer-Encoding: chunked") + body;

const headCases: [name: string, raw: string, status: CorpusCase["expectStatus"]][] = [
  // Framing: Content-Length and Transfer-Encoding ambiguities (RFC 9112 §6).
  ["Content-Length and Transfer-Encoding together", post("Content-Length: 5", "Transfer-Encoding: chunked"), 400],
  ["Transfer-Encoding and Content-Length together", post("Transfer-Encoding: chunked", "Content-Length: 5"), 400],
  ["two different Content-Length fields", post("Content-Length: 5", "Content-Length: 6"), 400],
  ["two equal Content-Length fields", post("Content-Length: 5", "Content-Length: 5"), 400],
  ["a Content-Length list", post("Content-Length: 5, 5"), 400],
  ["a negative Content-Length", post("Content-Length: -5"), 400],
  ["a Content-Length with a plus sign", post("Content-Length: +5"), 400],
  ["a hexadecimal Content-Length", post("Content-Length: 0x5"), 400],
  ["a Content-Length with inner whitespace", post("Content-Length: 5 5"), 400],
  ["an empty Content-Length", post("Content-Length:"), 400],
  ["a Content-Length beyond 2^53", post("Content-Length: 99999999999999999999"), 400],
  ["a decimal Content-Length", post("Content-Length: 5.0"), 400],
  ["a Content-Length with a vertical tab", post("Content-Length: \x0b5"), 400],
  ["chunked not the final transfer-coding", post("Transfer-Encoding: chunked, gzip"), 400],
  ["a transfer-coding without chunked", post("Transfer-Encoding: gzip"), 400],
  ["Transfer-Encoding: identity", post("Transfer-Encoding: identity"), 400],
  ["Transfer-Encoding: xchunked", post("Transfer-Encoding: xchunked"), 400],
  ["Transfer-Encoding: chunkedx", post("Transfer-Encoding: chunkedx"), 400],
  ["chunked applied twice in one field", post("Transfer-Encoding: chunked, chunked"), 400],
  ["two Transfer-Encoding fields", post("Transfer-Encoding: chunked", "Transfer-Encoding: chunked"), 400],
  ["a transfer-coding before chunked (unsupported)", post("Transfer-Encoding: gzip, chunked"), 501],
  ["chunked with a parameter", post("Transfer-Encoding: chunked;q=1"), 400],
  ["an empty Transfer-Encoding", post("Transfer-Encoding:"), 400],
  ["an empty element before chunked", post("Transfer-Encoding: , chunked"), 400],
  ["a vertical tab before chunked", post("Transfer-Encoding: \x0bchunked"), 400],
  ["a NUL after chunked", post("Transfer-Encoding: chunked\x00"), 400],
  ["a quoted chunked", post('Transfer-Encoding: "chunked"'), 400],
  ["whitespace between Transfer-Encoding and the colon", post("Transfer-Encoding : chunked"), 400],
  ["Transfer-Encoding folded onto a continuation line", post("Transfer-Encoding:", " chunked"), 400],
  ["Transfer-Encoding in an HTTP/1.0 request", head("POST / HTTP/1.0", "Transfer-Encoding: chunked"), 400],

  // Field-line syntax (RFC 9112 §5).
  ["obsolete line folding", get("X-Long: a", " b"), 400],
  ["obsolete line folding with a tab", get("X-Long: a", "\tb"), 400],
  ["whitespace before the first field line", head("GET / HTTP/1.1", " Host: example.test"), 400],
  ["a space between field name and colon", get("X-Test : a"), 400],
  ["a tab between field name and colon", get("X-Test\t: a"), 400],
  ["an empty field name", get(": a"), 400],
  ["a field line without a colon", get("X-Test a"), 400],
  ["a separator in a field name", get("X(Test): a"), 400],
  ["a slash in a field name", get("X/Test: a"), 400],
  ["a non-ASCII byte in a field name", get("X-T\xe9st: a"), 400],
  ["a NUL in a field value", get("X-Test: a\x00b"), 400],
  ["a DEL in a field value", get("X-Test: a\x7fb"), 400],
  ["a control character in a field value", get("X-Test: a\x01b"), 400],
  ["an escape character in a field value", get("X-Test: a\x1bb"), 400],
  ["bare LF line endings", "GET / HTTP/1.1\nHost: example.test\n\n", 400],
  ["a bare LF ending one field line", `GET / HTTP/1.1\r\n${host}\nX-Test: a\r\n\r\n`, 400],
  ["a bare LF ending the head", `GET / HTTP/1.1\r\n${host}\r\n\n`, 400],
  ["a bare CR inside a field value", get("X-Test: a\rb"), 400],
  ["a bare CR ending a field line", `GET / HTTP/1.1\r\n${host}\rX-Test: a\r\n\r\n`, 400],
  ["a bare CR ending the request-line", `GET / HTTP/1.1\r${host}\r\n\r\n`, 400],
  ["a bare LF before the request-line", `\nGET / HTTP/1.1\r\n${host}\r\n\r\n`, 400],

  // Request-line (RFC 9112 §3).
  ["HTTP/1.2", head("GET / HTTP/1.2", host), 505],
  ["HTTP/2.0 in an HTTP/1 request-line", head("GET / HTTP/2.0", host), 505],
  ["HTTP/0.9 with a version", head("GET / HTTP/0.9", host), 505],
  ["a lowercase protocol name", head("GET / http/1.1", host), 400],
  ["a two-digit minor version", head("GET / HTTP/1.10", host), 400],
  ["a version without minor", head("GET / HTTP/1", host), 400],
  ["a request-line without version", head("GET /", host), 400],
  ["trailing whitespace after the version", head("GET / HTTP/1.1 ", host), 400],
  ["a lowercase method", head("get / HTTP/1.1", host), 501],
  ["an unknown method", head("FOO / HTTP/1.1", host), 501],
  ["a separator in the method", head("GE(T / HTTP/1.1", host), 400],
  ["a NUL in the method", head("G\x00ET / HTTP/1.1", host), 400],
  ["a non-ASCII byte in the method", head("G\xc9T / HTTP/1.1", host), 400],
  ["two spaces after the method", head("GET  / HTTP/1.1", host), 400],
  ["a tab after the method", head("GET\t/ HTTP/1.1", host), 400],
  ["a leading space before the method", head(" GET / HTTP/1.1", host), 400],
  ["a space inside the target", head("GET /a b HTTP/1.1", host), 400],
  ["two spaces before the version", head("GET /  HTTP/1.1", host), 400],
  ["a control character in the target", head("GET /a\x01b HTTP/1.1", host), 400],
  ["a DEL in the target", head("GET /a\x7fb HTTP/1.1", host), 400],
  ["a non-ASCII byte in the target", head("GET /caf\xe9 HTTP/1.1", host), 400],
  ["a NUL in the target", head("GET /a\x00 HTTP/1.1", host), 400],
  ["a fragment in the target", head("GET /a#b HTTP/1.1", host), 400],
  ["a target not starting with a slash", head("GET index.html HTTP/1.1", host), 400],
  ["asterisk-form with GET", head("GET * HTTP/1.1", host), 400],
  ["CONNECT (not proxied)", head("CONNECT example.test:443 HTTP/1.1", "Host: example.test:443"), 501],
  ["absolute-form with userinfo", head("GET http://user@example.test/ HTTP/1.1", host), 400],
  ["absolute-form with another scheme", head("GET ftp://example.test/ HTTP/1.1", host), 400],
  ["absolute-form with an empty authority", head("GET http:///a HTTP/1.1", host), 400],
  ["absolute-form whose Host differs", head("GET http://other.test/ HTTP/1.1", host), 400],
  ["absolute-form without Host", head("GET http://example.test/ HTTP/1.1"), 400],

  // Host (RFC 9112 §3.2).
  ["no Host in HTTP/1.1", head("GET / HTTP/1.1", "Accept: */*"), 400],
  ["two Host fields", get("Host: other.test"), 400],
  ["two Host fields with the same value", get(host), 400],
  ["a space inside Host", head("GET / HTTP/1.1", "Host: exa mple.test"), 400],
  ["a slash in Host", head("GET / HTTP/1.1", "Host: example.test/admin"), 400],
  ["userinfo in Host", head("GET / HTTP/1.1", "Host: user@example.test"), 400],
  ["a comma-separated Host", head("GET / HTTP/1.1", "Host: example.test, other.test"), 400],

  // Limits (DEFAULT_HEAD_LIMITS).
  ["a head over 16 KiB", get(`X-Big: ${"a".repeat(16 * 1024)}`), 431],
  ["an unterminated head over 16 KiB", `GET / HTTP/1.1\r\n${host}\r\nX-Big: ${"a".repeat(16 * 1024)}`, 431],
  ["101 header fields", get(...Array.from({ length: 100 }, (_, i) => `X-F${i}: ${i}`)), 431],
  ["a target over 8 KiB", head(`GET /${"a".repeat(8 * 1024)} HTTP/1.1`, host), 414],
];

const bodyCases: [name: string, body: string][] = [
  ["a 0x prefix on a chunk size", "0x5\r\nhello\r\n0\r\n\r\n"],
  ["a negative chunk size", "-1\r\nhello\r\n0\r\n\r\n"],
  ["a plus sign on a chunk size", "+5\r\nhello\r\n0\r\n\r\n"],
  ["trailing whitespace after a chunk size", "5 \r\nhello\r\n0\r\n\r\n"],
  ["leading whitespace before a chunk size", " 5\r\nhello\r\n0\r\n\r\n"],
  ["a chunk size beyond 2^53", "fffffffffffffffff\r\nhello\r\n0\r\n\r\n"],
  ["a chunk size wrapping to zero in 64 bits", "10000000000000000\r\nhello\r\n0\r\n\r\n"],
  ["an empty chunk-size line", "\r\nhello\r\n0\r\n\r\n"],
  ["a non-hex chunk size", "g\r\nhello\r\n0\r\n\r\n"],
  ["an underscore in a chunk size", "5_0\r\nhello\r\n0\r\n\r\n"],
  ["a control character in a chunk extension", "5;\x01\r\nhello\r\n0\r\n\r\n"],
  ["a chunk extension without a name", "5;=a\r\nhello\r\n0\r\n\r\n"],
  ["a NUL in a quoted chunk extension value", '5;a="b\x00"\r\nhello\r\n0\r\n\r\n'],
  ["an unterminated quoted chunk extension value", '5;a="b\r\nhello\r\n0\r\n\r\n'],
  ["trailing whitespace after a chunk extension", "5;a=b \r\nhello\r\n0\r\n\r\n"],
  ["whitespace before a chunk extension", "5 ;a=b\r\nhello\r\n0\r\n\r\n"],
  ["whitespace around the = of a chunk extension", "5;a = b\r\nhello\r\n0\r\n\r\n"],
  ["a chunk extension with a bare CR", "5;a\rb\r\nhello\r\n0\r\n\r\n"],
  ["a chunk-size line over the length limit", `5;${"a".repeat(5000)}\r\nhello\r\n0\r\n\r\n`],
  ["chunk data without its CRLF", "5\r\nhelloX0\r\n\r\n"],
  ["chunk data longer than its size", "3\r\nhello\r\n0\r\n\r\n"],
  ["chunk data followed by a bare LF", "5\r\nhello\n0\r\n\r\n"],
  ["a chunk-size line ending in a bare LF", "5\nhello\r\n0\r\n\r\n"],
  ["a chunk-size line ending in a bare CR", "5\rhello\r\n0\r\n\r\n"],
  ["a last chunk ending in a bare LF", "0\n\r\n"],
  ["a body ending in a bare LF", "0\r\n\n"],
  ["obsolete line folding in a trailer", "0\r\nX-T: a\r\n b\r\n\r\n"],
  ["whitespace before the colon of a trailer", "0\r\nX-T : a\r\n\r\n"],
  ["Content-Length in a trailer", "0\r\nContent-Length: 5\r\n\r\n"],
  ["Transfer-Encoding in a trailer", "0\r\nTransfer-Encoding: chunked\r\n\r\n"],
  ["a NUL in a trailer value", "0\r\nX-T: a\x00\r\n\r\n"],
  ["a trailer line without a colon", "0\r\nX-T a\r\n\r\n"],
];

export const corpus: CorpusCase[] = [
  ...headCases.map(([name, raw, expectStatus]): CorpusCase => ({ name, raw, expectStatus, part: "head" })),
  ...bodyCases.map(([name, body]): CorpusCase => ({ name, raw: chunked(body), expectStatus: 400, part: "body" })),
  {
    name: "a trailer section over 16 KiB",
    raw: chunked(`0\r\nX-Big: ${"a".repeat(16 * 1024)}\r\n\r\n`),
    expectStatus: 431,
    part: "body",
  },
];
