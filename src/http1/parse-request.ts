// Hot path: request head parser (RFC 9112 §2-§3, §6), strict against request smuggling; see docs/http1-conformance.md.
import { HttpParseError } from "../errors.js";
import { equalsLower, HOST, TARGET, TOKEN } from "./chars.js";
import { Coding, FieldScan, headText, persistent, scanFields } from "./fields.js";
import { BodyKind, type HeadLimits, type RequestHead } from "./types.js";

// Module-local aliases and byte values: see chars.ts for why.
const TOKEN_T = TOKEN;
const TARGET_T = TARGET;
const HOST_T = HOST;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const STAR = 0x2a;
const SLASH = 0x2f;
const QMARK = 0x3f;

/**
 * The methods Node's own parser (llhttp) accepts. Anything else, lowercase spellings included, is answered 501 as a
 * Node origin would, so no backend behind us sees a method it cannot parse.
 */
const METHODS = new Set([
  "ACL", "BIND", "CHECKOUT", "CONNECT", "COPY", "DELETE", "GET", "HEAD", "LINK", "LOCK", "M-SEARCH", "MERGE",
  "MKACTIVITY", "MKCALENDAR", "MKCOL", "MOVE", "NOTIFY", "OPTIONS", "PATCH", "POST", "PROPFIND", "PROPPATCH", "PURGE",
  "PUT", "QUERY", "REBIND", "REPORT", "SEARCH", "SOURCE", "SUBSCRIBE", "TRACE", "UNBIND", "UNLINK", "UNLOCK",
  "UNSUBSCRIBE",
]);

/**
 * Parse one request head at the start of buf[start..end).
 *
 * Returns null when the head is not complete yet: the caller appends more bytes and calls again with the same start.
 * `length` is the number of bytes of the head, empty lines before the request-line and the final CRLFCRLF included;
 * the body or the next pipelined request starts at `start + length`. Throws HttpParseError (400; 414 for a target
 * longer than maxUrlLength; 431 for a head over maxHeadSize, even an incomplete one, or more than maxHeaders fields;
 * 501 for an unknown method, CONNECT or a transfer-coding other than chunked; 505 for a version other than 1.0/1.1)
 * on the first byte that makes the head malformed or ambiguous.
 *
 * Each call rescans the head from `start`; a head arriving in many small pieces costs O(size) per piece, the same
 * order as the caller's concatenation, and maxHeadSize bounds both.
 *
 * @example
 * const parsed = parseRequestHead(buf, 0, buf.length, DEFAULT_HEAD_LIMITS);
 * if (parsed === null) return; // wait for more bytes
 * const bodyStart = parsed.length;
 */
export function parseRequestHead(
  buf: Buffer,
  start: number,
  end: number,
  limits: HeadLimits,
): { head: RequestHead; length: number } | null {
  const limit = start + limits.maxHeadSize;
  let p = start;
  // RFC 9112 §2.2: empty lines before the request-line are ignored (old clients send CRLF after a POST body).
  while (p < end && p < limit && buf[p] === CR) {
    if (p + 1 >= end) return incomplete(start, end, limits);
    if (buf[p + 1] !== LF) throw new HttpParseError("bare CR before the request-line");
    p += 2;
  }
  const s = headText(buf, p, end, limit);
  const n = p + s.length;

  // method SP
  let i = p;
  while (i < n && TOKEN_T[buf[i]!]! === 1) i++;
  if (i >= n) return incomplete(start, end, limits);
  if (i === p || buf[i] !== SP) throw new HttpParseError("invalid method");
  const method = s.slice(0, i - p);
  if (method !== "GET" && !METHODS.has(method)) throw new HttpParseError(`unknown method ${method}`, 501);
  if (method === "CONNECT") throw new HttpParseError("CONNECT is not supported", 501);

  // request-target SP
  const targetStart = ++i;
  let qmark = -1;
  let c = 0;
  while (i < n && TARGET_T[(c = buf[i]!)]! === 1) {
    if (c === QMARK && qmark === -1) qmark = i;
    i++;
  }
  if (i - targetStart > limits.maxUrlLength) throw new HttpParseError("request-target too long", 414);
  if (i >= n) return incomplete(start, end, limits);
  if (c !== SP) throw new HttpParseError(c === CR ? "missing HTTP version" : "invalid character in request-target");
  if (i === targetStart) throw new HttpParseError("empty request-target");
  const targetEnd = i;

  // Target form (RFC 9112 §3.2): origin-form, asterisk-form for OPTIONS, or http(s) absolute-form, checked before
  // the version so that a bad target fails at once.
  const first = buf[targetStart]!;
  const asterisk = first === STAR && targetEnd - targetStart === 1;
  let authorityStart = -1;
  let authorityEnd = -1;
  if (asterisk) {
    if (method !== "OPTIONS") throw new HttpParseError("asterisk-form request-target is only allowed with OPTIONS");
  } else if (first !== SLASH) {
    authorityStart = absoluteFormAuthority(buf, targetStart, targetEnd);
    authorityEnd = authorityStart;
    while (authorityEnd < targetEnd && (c = buf[authorityEnd]!) !== SLASH && c !== QMARK) {
      if (HOST_T[c]! !== 1) throw new HttpParseError("invalid authority in request-target");
      authorityEnd++;
    }
    if (authorityEnd === authorityStart) throw new HttpParseError("empty authority in request-target");
  }

  // HTTP-version CRLF
  const versionEnd = checkVersion(buf, i + 1, n);
  if (versionEnd === -1) return incomplete(start, end, limits);
  const versionMinor = buf[i + 8]! - 0x30;

  const scan = new FieldScan();
  const headEnd = scanFields(buf, versionEnd, n, s, p, limits.maxHeaders, true, scan);
  if (headEnd === -1) return incomplete(start, end, limits);

  const target = s.slice(targetStart - p, targetEnd - p);
  let path = target;
  let query = "";
  let host = scan.host;
  if (authorityStart === -1) {
    if (asterisk) path = "";
    else if (qmark !== -1) {
      path = s.slice(targetStart - p, qmark - p);
      query = s.slice(qmark - p, targetEnd - p);
    }
    if (host === null) {
      if (versionMinor === 1) throw new HttpParseError("missing Host header field");
      host = "";
    }
  } else {
    // RFC 9112 §3.2.2: the target's authority wins over Host, and a client must send both identical.
    const authority = s.slice(authorityStart - p, authorityEnd - p).toLowerCase();
    if (host === null ? versionMinor === 1 : host !== authority) {
      throw new HttpParseError("Host header field must be present and equal the authority of an absolute-form target");
    }
    host = authority;
    const pathEnd = qmark === -1 ? targetEnd : qmark;
    path = authorityEnd < pathEnd ? s.slice(authorityEnd - p, pathEnd - p) : "/";
    if (qmark !== -1) query = s.slice(qmark - p, targetEnd - p);
  }

  // Framing (RFC 9112 §6.1, §6.3); Content-Length together with Transfer-Encoding was rejected by the scan.
  let bodyKind = BodyKind.None;
  let contentLength = -1;
  if (scan.coding !== Coding.None) {
    if (versionMinor === 0) throw new HttpParseError("Transfer-Encoding in an HTTP/1.0 request");
    if (scan.coding === Coding.NotChunked) throw new HttpParseError("chunked is not the final transfer-coding");
    if (scan.coding === Coding.CodedThenChunked) throw new HttpParseError("unsupported transfer-coding", 501);
    bodyKind = BodyKind.Chunked;
  } else if (scan.contentLength !== -1) {
    bodyKind = BodyKind.Length;
    contentLength = scan.contentLength;
  }

  const tokens = scan.connectionTokens;
  const head: RequestHead = {
    method,
    target,
    path,
    query,
    versionMinor,
    headers: scan.headers,
    bodyKind,
    contentLength,
    keepAlive: persistent(versionMinor, tokens),
    upgrade: scan.upgradeField && tokens?.includes("upgrade") === true,
    expectContinue: scan.expectContinue && versionMinor === 1,
    host,
    connectionTokens: tokens,
  };
  return { head, length: headEnd - start };
}

/** Not complete yet: null, unless the bytes already seen exceed the head limit. */
function incomplete(start: number, end: number, limits: HeadLimits): null {
  if (end - start >= limits.maxHeadSize) throw new HttpParseError("request head too large", 431);
  return null;
}

/**
 * Check `HTTP/d.d CRLF` at buf[v..n): returns the index after it, -1 when the bytes end first (what is there is
 * checked, so a bad version fails at once). Only 1.0 and 1.1 are served (505 for other well-formed versions).
 */
function checkVersion(buf: Buffer, v: number, n: number): number {
  const have = Math.min(n - v, 10);
  for (let k = 0; k < have; k++) {
    const c = buf[v + k]!;
    const ok = k === 5 || k === 7 ? c >= 0x30 && c <= 0x39 : c === VERSION.charCodeAt(k);
    if (!ok) {
      if (k >= 8 && (c === LF || c === CR)) throw new HttpParseError("request-line must end with CRLF");
      throw new HttpParseError("invalid HTTP version");
    }
  }
  if (have >= 8 && (buf[v + 5] !== 0x31 || buf[v + 7]! > 0x31)) {
    throw new HttpParseError("HTTP version not supported", 505);
  }
  return have < 10 ? -1 : v + 10;
}

const VERSION = "HTTP/1.1\r\n";

/** Start of the authority of an http(s) absolute-form target in buf[start..end) (RFC 9112 §3.2.2). */
function absoluteFormAuthority(buf: Buffer, start: number, end: number): number {
  if (end - start > 7 && equalsLower(buf, start, "http://")) return start + 7;
  if (end - start > 8 && equalsLower(buf, start, "https://")) return start + 8;
  throw new HttpParseError("invalid request-target");
}
