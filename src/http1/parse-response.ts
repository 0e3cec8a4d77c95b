// Hot path: response head parser for what backends send (RFC 9112 §4, §6.3); see docs/http1-conformance.md.
import { HttpParseError } from "../errors.js";
import { FIELD_VALUE } from "./chars.js";
import { Coding, FieldScan, headText, persistent, scanFields } from "./fields.js";
import { BodyKind, type ResponseHead } from "./types.js";

// Module-local aliases and byte values: see chars.ts for why.
const VALUE_T = FIELD_VALUE;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;

/** Responses have no field-count limit of their own; maxHeadSize bounds them. */
const NO_FIELD_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * Parse one response head at the start of buf[start..end), sent in answer to a `requestMethod` request.
 *
 * Returns null when the head is not complete yet (call again with the same start once more bytes arrived); `length`
 * is the number of bytes of the head, final CRLFCRLF included. Framing follows RFC 9112 §6.3: HEAD responses, 1xx, 204
 * and 304 have no body; a final `chunked` coding means chunked; Transfer-Encoding without `chunked` or no
 * framing field at all means the body runs until the backend closes. Throws HttpParseError on malformed or ambiguous
 * input (the engine answers the client 502): both Content-Length and Transfer-Encoding, repeated or invalid
 * Content-Length, `chunked` not last or repeated, Transfer-Encoding on HTTP/1.0, a status outside 100-599, a version
 * other than 1.0/1.1, and everything the request parser rejects in field lines.
 *
 * @example
 * const parsed = parseResponseHead(buf, 0, buf.length, "GET", 16 * 1024);
 * if (parsed !== null && parsed.head.bodyKind === BodyKind.Length) remaining = parsed.head.contentLength;
 */
export function parseResponseHead(
  buf: Buffer,
  start: number,
  end: number,
  requestMethod: string,
  maxHeadSize: number,
): { head: ResponseHead; length: number } | null {
  const s = headText(buf, start, end, start + maxHeadSize);
  const n = start + s.length;

  // HTTP-version SP 3DIGIT
  const have = Math.min(n - start, 12);
  for (let k = 0; k < have; k++) {
    const c = buf[start + k]!;
    const ok = k === 5 || k === 7 || k >= 9 ? c >= 0x30 && c <= 0x39 : c === STATUS_PREFIX.charCodeAt(k);
    if (!ok) throw new HttpParseError("invalid status-line");
  }
  if (have < 12) return incomplete(start, end, maxHeadSize);
  if (buf[start + 5] !== 0x31 || buf[start + 7]! > 0x31) throw new HttpParseError("unsupported HTTP version in response");
  const versionMinor = buf[start + 7]! - 0x30;
  const statusCode = (buf[start + 9]! - 0x30) * 100 + (buf[start + 10]! - 0x30) * 10 + (buf[start + 11]! - 0x30);
  if (statusCode < 100 || statusCode > 599) throw new HttpParseError("status code out of range");

  // [ SP reason-phrase ] CRLF; a missing SP before an empty reason is tolerated, as every client does.
  let i = start + 12;
  if (i >= n) return incomplete(start, end, maxHeadSize);
  let c = buf[i]!;
  let reasonStart = i;
  if (c === SP) {
    reasonStart = ++i;
    while (i < n && VALUE_T[buf[i]!]! === 1) i++;
    if (i >= n) return incomplete(start, end, maxHeadSize);
    c = buf[i]!;
  }
  if (c !== CR) throw new HttpParseError("invalid character in status-line");
  if (i + 1 >= n) return incomplete(start, end, maxHeadSize);
  if (buf[i + 1] !== LF) throw new HttpParseError("bare CR in status-line");
  const reason = s.slice(reasonStart - start, i - start);

  const scan = new FieldScan();
  const headEnd = scanFields(buf, i + 2, n, s, start, NO_FIELD_LIMIT, false, scan);
  if (headEnd === -1) return incomplete(start, end, maxHeadSize);

  const tokens = scan.connectionTokens;
  let keepAlive = persistent(versionMinor, tokens);
  let bodyKind = BodyKind.None;
  let contentLength = -1;
  if (scan.coding !== Coding.None && versionMinor === 0) {
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means faulty framing.
    throw new HttpParseError("Transfer-Encoding in an HTTP/1.0 response");
  }
  const noBody =
    statusCode < 200 ||
    statusCode === 204 ||
    statusCode === 304 ||
    requestMethod === "HEAD" ||
    (requestMethod === "CONNECT" && statusCode < 300);
  if (noBody) {
    // framing fields describe the representation, not this message
  } else if (scan.coding !== Coding.None) {
    if (scan.coding === Coding.NotChunked) {
      bodyKind = BodyKind.UntilClose;
      keepAlive = false;
    } else {
      bodyKind = BodyKind.Chunked;
    }
  } else if (scan.contentLength !== -1) {
    bodyKind = BodyKind.Length;
    contentLength = scan.contentLength;
  } else {
    bodyKind = BodyKind.UntilClose;
    keepAlive = false;
  }

  const head: ResponseHead = {
    statusCode,
    reason,
    versionMinor,
    headers: scan.headers,
    bodyKind,
    contentLength,
    keepAlive,
    connectionTokens: tokens,
  };
  return { head, length: headEnd - start };
}

const STATUS_PREFIX = "HTTP/1.1 ";

function incomplete(start: number, end: number, maxHeadSize: number): null {
  if (end - start >= maxHeadSize) throw new HttpParseError("response head too large");
  return null;
}
