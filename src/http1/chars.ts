// Hot path: byte classes of RFC 9110/9112 as 256-entry lookup tables, shared by the head parsers and the chunked decoder.
//
// Measured (Node 20): V8 reads an imported binding through a module cell on every access, which made the scanning
// loops up to 2x slower; hot files therefore alias the tables into module-local constants and spell the few byte
// values they compare against as local constants.

function table(accept: (c: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) t[c] = accept(c) ? 1 : 0;
  return t;
}

const isAlpha = (c: number): boolean => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isVchar = (c: number): boolean => c >= 0x21 && c <= 0x7e;
const oneOf = (chars: string) => (c: number) => chars.includes(String.fromCharCode(c));

/** tchar (RFC 9110 §5.6.2): method, field names, transfer-coding and chunk-extension names. */
export const TOKEN = table((c) => isAlpha(c) || isDigit(c) || oneOf("!#$%&'*+-.^_`|~")(c));

/** field-vchar / SP / HTAB (RFC 9110 §5.5): everything a field value may hold; obs-text allowed, CTLs and DEL not. */
export const FIELD_VALUE = table((c) => c === 0x20 || c === 0x09 || isVchar(c) || c >= 0x80);

/**
 * Request-target bytes: visible ASCII only (no SP, CTL, DEL or obs-text), and no '#' because a fragment is never
 * part of a request-target (RFC 9112 §3.2) and backends disagree on how to treat one.
 */
export const TARGET = table((c) => isVchar(c) && c !== 0x23);

/**
 * uri-host [ ":" port ]: letters, digits, "-._~", '%' (pct-encoded, IPv6 zone ids), ':' and '[' ']' (IP-literals).
 * Stricter than RFC 3986 reg-name, which also allows the sub-delims "!$&'()*+,;=": no real host name has them, and a
 * comma turns Host into something some backends read as a list.
 */
export const HOST = table((c) => isAlpha(c) || isDigit(c) || oneOf("-._~%:[]")(c));

/** qdtext (RFC 9110 §5.6.4) inside a quoted chunk-extension value. */
export const QDTEXT = table(
  (c) => c === 0x09 || c === 0x20 || c === 0x21 || (c >= 0x23 && c <= 0x5b) || (c >= 0x5d && c <= 0x7e) || c >= 0x80,
);

/** Value of a hex digit, or -1. */
export const HEX = new Int8Array(256).fill(-1);
for (let c = 0; c < 256; c++) {
  if (isDigit(c)) HEX[c] = c - 0x30;
  else if (c >= 0x41 && c <= 0x46) HEX[c] = c - 0x41 + 10;
  else if (c >= 0x61 && c <= 0x66) HEX[c] = c - 0x61 + 10;
}

/**
 * Whether buf[at..at+lower.length) equals `lower` ignoring ASCII case. `lower` must be lowercase letters, digits, '-',
 * ':' or '/', and the bytes compared must be token, field-value or target bytes (no CTLs): then OR-ing 0x20 maps only
 * 'A'-'Z' onto 'a'-'z' and leaves the other characters of `lower` unchanged.
 */
export function equalsLower(buf: Buffer, at: number, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) {
    if ((buf[at + i]! | 0x20) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

declare global {
  interface Buffer {
    /** Node's latin1 decoder without toString's argument handling (undocumented, stable since Node 0.x). */
    latin1Slice(start: number, end: number): string;
  }
}
