// Hot path (routers with a compress middleware): Accept-Encoding negotiation, once per response.

/** The result of negotiating no content coding: send the body as it is. */
export const IDENTITY = -1;

const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

const isOws = (c: number): boolean => c === 32 || c === 9;

/**
 * A qvalue (RFC 9110 §12.4.2: "0" ["." 0*3DIGIT] / "1" ["." 0*3"0"]) as a number,
 * or -1 when `text[start, end)` is not one.
 */
export function parseQvalue(text: string, start: number, end: number): number {
  const len = end - start;
  if (len < 1 || len > 5) return -1;
  const first = text.charCodeAt(start);
  if (first !== 48 && first !== 49) return -1;
  if (len === 1) return first - 48;
  if (text.charCodeAt(start + 1) !== 46) return -1;
  let fraction = 0;
  let scale = 1;
  for (let i = start + 2; i < end; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    fraction = fraction * 10 + d;
    scale *= 10;
  }
  if (first === 49) return fraction === 0 ? 1 : -1;
  return fraction / scale;
}

/**
 * Picks the content coding for a response (RFC 9110 §12.5.3): of the codings in
 * `offered` (lowercase, the server's order of preference), the one the client gives
 * the highest q-value, ties going to the earlier in `offered`; its index, or
 * IDENTITY when the client accepts none of them, or prefers identity explicitly
 * (`identity;q=1, gzip;q=0.5`). Tokens are case-insensitive; `*` stands for every
 * coding not named; `x-gzip` is gzip (§8.4.1.3); an element with a bad token or a
 * bad q-value is ignored, as is a repeat of a coding already named. No header means
 * identity: no client is sent a coding it did not ask for.
 *
 * @example
 * negotiate("gzip;q=0.8, br", ["gzip", "br"]) // 1 (br: q=1 beats gzip's 0.8)
 * negotiate("gzip, br", ["br", "gzip"])       // 0 (a tie: the server's order)
 * negotiate("*;q=0", ["br"])                  // IDENTITY
 */
export function negotiate(header: string | undefined, offered: readonly string[], scratch: Float64Array = SCRATCH): number {
  if (header === undefined || header.length === 0) return IDENTITY;
  const n = offered.length;
  const q = scratch;
  for (let i = 0; i < n; i++) q[i] = -1;
  let star = -1;
  let identity = -1;
  const len = header.length;
  let pos = 0;
  while (pos < len) {
    // One element: OWS token OWS [";" OWS "q=" qvalue OWS]* up to the next ",".
    let i = pos;
    while (i < len && isOws(header.charCodeAt(i))) i++;
    const tokenStart = i;
    while (i < len) {
      const c = header.charCodeAt(i);
      if (c >= 128 || TCHAR[c] === 0) break;
      i++;
    }
    const tokenEnd = i;
    let weight = 1;
    let valid = tokenEnd > tokenStart;
    while (i < len && isOws(header.charCodeAt(i))) i++;
    while (valid && i < len && header.charCodeAt(i) === 59 /* ; */) {
      i++;
      while (i < len && isOws(header.charCodeAt(i))) i++;
      const nameStart = i;
      while (i < len) {
        const c = header.charCodeAt(i);
        if (c === 61 /* = */ || c === 44 || c === 59 || isOws(c)) break;
        i++;
      }
      const isQ = i - nameStart === 1 && (header.charCodeAt(nameStart) | 0x20) === 113; /* q */
      if (i >= len || header.charCodeAt(i) !== 61) {
        valid = false;
        break;
      }
      i++;
      const valueStart = i;
      while (i < len) {
        const c = header.charCodeAt(i);
        if (c === 44 || c === 59 || isOws(c)) break;
        i++;
      }
      if (isQ) {
        weight = parseQvalue(header, valueStart, i);
        if (weight < 0) valid = false;
      }
      while (i < len && isOws(header.charCodeAt(i))) i++;
    }
    if (valid && i < len && header.charCodeAt(i) !== 44) valid = false;
    // Skip to the element's end (a bad one is ignored whole).
    while (i < len && header.charCodeAt(i) !== 44) i++;
    pos = i + 1;
    if (!valid) continue;
    const tokenLen = tokenEnd - tokenStart;
    if (tokenLen === 1 && header.charCodeAt(tokenStart) === 42 /* * */) {
      if (star < 0) star = weight;
      continue;
    }
    const token = header.slice(tokenStart, tokenEnd).toLowerCase();
    if (token === "identity") {
      if (identity < 0) identity = weight;
      continue;
    }
    const coding = token === "x-gzip" ? "gzip" : token;
    for (let k = 0; k < n; k++) {
      if (offered[k] === coding) {
        if (q[k]! < 0) q[k] = weight;
        break;
      }
    }
  }
  let best = IDENTITY;
  let bestQ = 0;
  for (let k = 0; k < n; k++) {
    const w = q[k]! >= 0 ? q[k]! : Math.max(star, 0);
    if (w > bestQ) {
      best = k;
      bestQ = w;
    }
  }
  // identity named (or covered by "*") with a higher weight than every coding: the client prefers none.
  const identityQ = identity >= 0 ? identity : star;
  if (best !== IDENTITY && identityQ > bestQ) return IDENTITY;
  return best;
}

/** Scratch q-values, one per offered coding (negotiation runs synchronously: one array serves every call). */
const SCRATCH = new Float64Array(8);
