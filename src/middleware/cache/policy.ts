/**
 * HTTP caching rules of RFC 9111 for a shared cache, as plain functions over header
 * values: Cache-Control parsing (§5.2), storability (§3), freshness lifetime
 * (§4.2.1), age (§4.2.3), Vary (§4.1) and the header update of a 304 (§3.2, §4.3.4).
 */

/** Cache-Control directives by lowercase name; a directive without a value maps to "". */
export type Directives = ReadonlyMap<string, string>;

const NO_DIRECTIVES: Directives = new Map();

/**
 * Parse Cache-Control field values (several fields are one list, §5.2):
 * `max-age=60, private="set-cookie, x-a"` → {max-age: "60", private: "set-cookie, x-a"}.
 * Commas inside quoted strings do not split; the first occurrence of a directive wins.
 */
export function parseCacheControl(values: readonly string[]): Directives {
  if (values.length === 0) return NO_DIRECTIVES;
  const out = new Map<string, string>();
  for (const value of values) {
    let i = 0;
    const n = value.length;
    while (i < n) {
      while (i < n && (value[i] === " " || value[i] === "\t" || value[i] === ",")) i++;
      let nameEnd = i;
      while (nameEnd < n && value[nameEnd] !== "=" && value[nameEnd] !== ",") nameEnd++;
      const name = value.slice(i, nameEnd).trim().toLowerCase();
      i = nameEnd;
      let arg = "";
      if (i < n && value[i] === "=") {
        i++;
        while (i < n && (value[i] === " " || value[i] === "\t")) i++;
        if (value[i] === '"') {
          i++;
          while (i < n && value[i] !== '"') {
            if (value[i] === "\\" && i + 1 < n) i++;
            arg += value[i];
            i++;
          }
          i++;
          while (i < n && value[i] !== ",") i++;
        } else {
          const end = value.indexOf(",", i);
          arg = value.slice(i, end === -1 ? n : end).trim();
          i = end === -1 ? n : end;
        }
      }
      if (name !== "" && !out.has(name)) out.set(name, arg);
    }
  }
  return out;
}

/**
 * A delta-seconds argument (§1.2.2) in milliseconds: a non-negative integer; values
 * past 2^31 seconds count as 2^31. undefined when absent or malformed.
 */
export function deltaMs(directives: Directives, name: string): number | undefined {
  const v = directives.get(name);
  if (v === undefined || !/^\d+$/.test(v)) return undefined;
  return Math.min(Number(v), 2 ** 31) * 1000;
}

/** An HTTP-date as ms since the epoch, or undefined when invalid (an invalid Expires means "already expired", §5.3). */
export function httpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

/** Status codes that are heuristically cacheable (RFC 9110 §15.1), minus 206: this cache does not store ranges. */
export const CACHEABLE_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);

/** Why a response is not stored, or null when it may be (§3 for a shared cache, plus this cache's own rules). */
export function unstorableReason(
  status: number,
  response: Directives,
  has: { authorization: boolean; setCookie: boolean; varyStar: boolean; expires: boolean },
  heuristic: boolean,
): string | null {
  if (!CACHEABLE_STATUSES.has(status)) return "status";
  if (response.has("no-store")) return "no-store";
  // Also the qualified private="field": storing without those fields is allowed but not done here.
  if (response.has("private")) return "private";
  if (has.setCookie) return "set-cookie";
  if (has.varyStar) return "vary-star";
  // §3.5: a response to a request with credentials is shared only when it says it may be.
  if (has.authorization && !response.has("public") && !response.has("s-maxage") && !response.has("must-revalidate")) return "authorization";
  const explicit = response.has("public") || response.has("max-age") || response.has("s-maxage") || has.expires;
  if (!explicit && !heuristic && !response.has("no-cache")) return "no-freshness";
  return null;
}

/**
 * Freshness lifetime in ms (§4.2.1, shared cache): s-maxage, else max-age, else
 * Expires - Date, else `heuristicMs` (this cache's defaultTtl; 0 = no heuristic).
 */
export function freshnessLifetime(response: Directives, dateMs: number, expires: string | undefined, heuristicMs: number): number {
  const sMaxAge = deltaMs(response, "s-maxage");
  if (sMaxAge !== undefined) return sMaxAge;
  const maxAge = deltaMs(response, "max-age");
  if (maxAge !== undefined) return maxAge;
  if (expires !== undefined) {
    const at = httpDate(expires);
    return at === undefined ? 0 : Math.max(0, at - dateMs);
  }
  return heuristicMs;
}

/**
 * The corrected initial age in ms (§4.2.3): the larger of the apparent age (response
 * time - Date) and the Age header plus the response delay. The current age is this
 * plus the time the response has been stored.
 */
export function initialAge(ageHeader: string | undefined, dateMs: number, requestTime: number, responseTime: number): number {
  const apparent = Math.max(0, responseTime - dateMs);
  const ageValue = ageHeader !== undefined && /^\d+$/.test(ageHeader.trim()) ? Number(ageHeader.trim()) * 1000 : 0;
  return Math.max(apparent, ageValue + (responseTime - requestTime));
}

/** The lowercase field names of Vary values, or "*" (§4.1). */
export function varyNames(values: readonly string[]): readonly string[] | "*" {
  const names: string[] = [];
  for (const value of values) {
    for (const part of value.split(",")) {
      const name = part.trim().toLowerCase();
      if (name === "*") return "*";
      if (name !== "" && !names.includes(name)) names.push(name);
    }
  }
  return names.sort();
}

/**
 * The selecting values of a request for `names` (§4.1): each field's values joined
 * with ", " and whitespace around commas dropped, so `gzip,br` and `gzip, br` match.
 */
export function varyValues(names: readonly string[], get: (name: string) => readonly string[]): string {
  let out = "";
  for (const name of names) {
    const values = get(name);
    out += `${name}:${values.length === 0 ? "\u0001" : values.join(",").replace(/\s*,\s*/g, ",").trim()}\n`;
  }
  return out;
}

/** Fields a 304 does not replace in the stored response (§3.2: framing and content coding stay the stored body's). */
const KEEP_ON_UPDATE: ReadonlySet<string> = new Set(["content-length", "content-encoding", "content-range", "transfer-encoding", "connection", "keep-alive"]);

/**
 * The stored header list updated with a 304's fields (§4.3.4): every field the 304
 * carries replaces all the stored ones of that name, except framing and coding fields.
 */
export function updateHeaders(stored: readonly string[], fresh: readonly string[]): string[] {
  const replaced = new Set<string>();
  for (let i = 0; i < fresh.length; i += 2) {
    const name = fresh[i]!.toLowerCase();
    if (!KEEP_ON_UPDATE.has(name)) replaced.add(name);
  }
  const out: string[] = [];
  for (let i = 0; i < stored.length; i += 2) if (!replaced.has(stored[i]!.toLowerCase())) out.push(stored[i]!, stored[i + 1]!);
  for (let i = 0; i < fresh.length; i += 2) if (replaced.has(fresh[i]!.toLowerCase())) out.push(fresh[i]!, fresh[i + 1]!);
  return out;
}

/** Weak comparison of entity tags (RFC 9110 §8.8.3.2): W/"a" matches "a". */
export function etagMatches(ifNoneMatch: string, etag: string): boolean {
  const tag = etag.startsWith("W/") ? etag.slice(2) : etag;
  if (ifNoneMatch.trim() === "*") return true;
  for (const part of ifNoneMatch.split(",")) {
    const p = part.trim();
    if ((p.startsWith("W/") ? p.slice(2) : p) === tag) return true;
  }
  return false;
}
