/**
 * Building stored responses from what a backend sent (a proxied response or one the
 * cache fetched itself) and refreshing them with a 304, per the rules of policy.ts.
 */
import { HeaderList } from "../../http1/headers.js";
import { deltaMs, freshnessLifetime, httpDate, initialAge, parseCacheControl, unstorableReason, updateHeaders, varyNames, varyValues } from "./policy.js";
import type { CachedResponse } from "./store.js";

const EMPTY = Buffer.alloc(0);

/** Fields never stored: framing is the gateway's, Age is recomputed on every answer. */
const NOT_STORED: ReadonlySet<string> = new Set(["age", "content-length", "transfer-encoding", "connection", "keep-alive"]);

/** What building an entry needs besides the response. */
export interface EntryRules {
  /** Freshness of a response without explicit freshness (defaultTtl), ms; 0 = no heuristic. */
  readonly heuristicMs: number;
  /** Request fields that always select a variant (key.headers), lowercase. */
  readonly keyHeaders: readonly string[];
  readonly swrCapMs: number;
  readonly sieCapMs: number;
}

/** The response's fields without the ones a cache does not keep. */
export function storedFields(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!NOT_STORED.has(raw[i]!.toLowerCase())) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/**
 * A stored response for `status` and `raw` header fields (its body is set when it has
 * been read), or why it may not be stored. `request` are the request's fields as the
 * client sent them (for Vary and Authorization); times are Date.now() values.
 */
export function buildEntry(
  status: number,
  raw: readonly string[],
  request: HeaderList,
  requestTime: number,
  responseTime: number,
  rules: EntryRules,
): CachedResponse | string {
  const h = new HeaderList(raw as string[]);
  const cc = parseCacheControl(h.getAll("cache-control"));
  const vary = varyNames(h.getAll("vary"));
  const reason = unstorableReason(
    status,
    cc,
    { authorization: request.has("authorization"), setCookie: h.has("set-cookie"), varyStar: vary === "*", expires: h.has("expires") },
    rules.heuristicMs > 0,
  );
  if (reason !== null) return reason;
  const names = vary === "*" ? [] : [...vary];
  for (const name of rules.keyHeaders) if (!names.includes(name)) names.push(name);
  names.sort();
  const dateMs = httpDate(h.get("date")) ?? responseTime;
  const entry: CachedResponse = {
    status,
    headers: storedFields(raw),
    body: EMPTY,
    varyNames: names,
    varyValues: names.length === 0 ? "" : varyValues(names, (name) => request.getAll(name)),
    responseTime,
    initialAgeMs: initialAge(h.get("age"), dateMs, requestTime, responseTime),
    lifetimeMs: freshnessLifetime(cc, dateMs, h.get("expires"), rules.heuristicMs),
    swrMs: Math.min(rules.swrCapMs, deltaMs(cc, "stale-while-revalidate") ?? 0),
    sieMs: Math.min(rules.sieCapMs, deltaMs(cc, "stale-if-error") ?? 0),
    noCache: cc.has("no-cache"),
    mustRevalidate: cc.has("must-revalidate") || cc.has("proxy-revalidate"),
    etag: h.get("etag"),
    lastModified: h.get("last-modified"),
  };
  const validators = entry.etag !== undefined || entry.lastModified !== undefined;
  // Revalidated before every use, and nothing to revalidate with: every use is a full fetch.
  if (entry.noCache && !validators) return "no-cache";
  // Neither fresh, nor revalidatable, nor servable stale: storing it would only take room.
  if (entry.lifetimeMs <= entry.initialAgeMs && !validators && entry.swrMs === 0 && entry.sieMs === 0) return "no-freshness";
  return entry;
}

/**
 * The entry a 304 refreshes (RFC 9111 §4.3.4): its fields updated with the 304's, its
 * age and freshness computed anew, its body kept; or why it may no longer be stored.
 */
export function refreshEntry(
  stored: CachedResponse,
  raw304: readonly string[],
  request: HeaderList,
  requestTime: number,
  responseTime: number,
  rules: EntryRules,
): CachedResponse | string {
  const merged = updateHeaders(stored.headers, storedFields(raw304));
  // Age counts from the 304: its own Age field (if any) is what matters now.
  const age = new HeaderList(raw304 as string[]).get("age");
  const built = buildEntry(stored.status, age === undefined ? merged : [...merged, "Age", age], request, requestTime, responseTime, rules);
  if (typeof built === "string") return built;
  built.body = stored.body;
  return built;
}

/** Pick the variant whose selecting fields match the request (RFC 9111 §4.1). */
export function selectVariant(variants: readonly CachedResponse[], request: HeaderList): CachedResponse | undefined {
  for (let i = variants.length - 1; i >= 0; i--) {
    const v = variants[i]!;
    if (v.varyNames.length === 0 || v.varyValues === varyValues(v.varyNames, (name) => request.getAll(name))) return v;
  }
  return undefined;
}
