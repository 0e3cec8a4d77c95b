/**
 * `type: cache` — an HTTP cache for shared use (RFC 9111) in front of a router's
 * service. A fresh stored response is answered from `onRequest`; a miss goes to the
 * backend and its response is copied into the store by a body filter as it streams
 * to the client; a stale entry is revalidated with a conditional request whose 304
 * `onResponse` turns into the stored 200 (the filter writes the stored body). Answers
 * carry Age and an RFC 9211 Cache-Status member. Entries live in the middleware's
 * state (reloads keep them), in memory or in Redis.
 *
 * @example
 * middlewares:
 *   cache: { type: cache, maxBytes: 256MiB, defaultTtl: 0 }
 * routers:
 *   static: { match: { path: { prefix: /assets } }, middlewares: [cache], service: web }
 */
import type { z } from "zod";
import { HeaderList } from "../../http1/headers.js";
import type { UpstreamClientResponse } from "../upstream-client.js";
import { type BodyFilter, type DirectResponse, definePlugin, type Exchange, type Middleware, type ResponseHeadView, type UpstreamRequestHead } from "../plugin.js";
import { Coalescer } from "./coalesce.js";
import { buildEntry, type EntryRules, refreshEntry, selectVariant, storedFields } from "./entry.js";
import { deltaMs, etagMatches, httpDate, parseCacheControl } from "./policy.js";
import { RedisConnection } from "../rate-limit/redis.js";
import { RedisCacheStore } from "./redis-store.js";
import type { cacheSchema } from "./schema.js";
import { type CachedResponse, type CacheStore, MemoryStore, type StoreObserver } from "./store.js";

type Options = z.output<typeof cacheSchema>;

/** The key of the store in the middleware's state; the admin API's purge finds it there. */
export const CACHE_STORE = Symbol.for("divisor.cache.store");

/** What the middleware's state keeps across reloads. */
export interface KeptCache {
  /** The store's options: a reload that changes them starts a new store. */
  readonly identity: string;
  readonly store: CacheStore;
  readonly coalescer: Coalescer;
  /** Keys being refreshed in the background (stale-while-revalidate), one request each. */
  readonly refreshing: Set<string>;
  close?(): void;
}

/** Per-exchange state of a request the cache forwards. */
interface Flow {
  readonly key: string;
  /** Request fields as the client sent them (later phases may change the live list). */
  readonly request: HeaderList;
  readonly requestTime: number;
  /** RFC 9211 parameters after the identifier: "fwd=uri-miss" etc. */
  member: string;
  /** The stale entry revalidated with this exchange's conditional request. */
  stale: CachedResponse | undefined;
  conditional: boolean;
  leader: boolean;
  /** Only invalidate the key (an unsafe method) when the response is not an error. */
  readonly invalidate: boolean;
  /** The response being copied into the store (body still to come). */
  capture: CachedResponse | undefined;
  /** The stored entry answered in place of the backend's 304: its body is written by the filter. */
  serve: CachedResponse | undefined;
}

const FLOW = Symbol("cache flow");
const SAFE = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
const CONDITIONALS = ["if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range"];
const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length", "host", ...CONDITIONALS]);

type DirectHeaders = Record<string, string | string[]>;

/** A stored response's fields as a direct response's headers (repeats kept), without Age and the status field. */
function directHeaders(fields: readonly string[], statusLower: string): { headers: DirectHeaders; upstreamStatus: string[] } {
  const headers: DirectHeaders = {};
  const names = new Map<string, string>();
  const upstreamStatus: string[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    const lower = fields[i]!.toLowerCase();
    if (lower === statusLower) {
      upstreamStatus.push(fields[i + 1]!);
      continue;
    }
    if (lower === "age") continue;
    const name = names.get(lower);
    if (name === undefined) {
      names.set(lower, fields[i]!);
      headers[fields[i]!] = fields[i + 1]!;
    } else {
      const v = headers[name]!;
      headers[name] = typeof v === "string" ? [v, fields[i + 1]!] : [...v, fields[i + 1]!];
    }
  }
  return { headers, upstreamStatus };
}

function keptCache(options: Options, name: string, state: Map<string | symbol, unknown>, observer: StoreObserver): KeptCache {
  const redis = options.store === "redis" ? options.redis! : undefined;
  const identity = redis === undefined ? "memory" : JSON.stringify([redis.url, redis.prefix, redis.timeout]);
  let kept = state.get(CACHE_STORE) as KeptCache | undefined;
  if (kept !== undefined && kept.identity === identity) {
    if (kept.store instanceof MemoryStore) kept.store.configure(options.maxBytes, observer);
    return kept;
  }
  kept?.close?.();
  if (redis === undefined) {
    kept = { identity, store: new MemoryStore(options.maxBytes, observer), coalescer: new Coalescer(), refreshing: new Set() };
  } else {
    // The rate limit's connection: no offline queue, a command timeout, reconnects with backoff.
    const connection = new RedisConnection({ url: redis.url, keyPrefix: redis.prefix, timeout: redis.timeout });
    kept = {
      identity,
      store: new RedisCacheStore(connection, `${redis.prefix}${name}:`),
      coalescer: new Coalescer(),
      refreshing: new Set(),
      close: () => connection.close(),
    };
  }
  state.set(CACHE_STORE, kept);
  return kept;
}

export const cachePlugin = definePlugin<Options>({
  name: "cache",
  create(options, { name, metrics, state, upstream, log }): Middleware {
    const requests = metrics.counter("divisor_cache_requests", "Requests the cache saw, by result: hit, miss (forwarded, revalidations included), stale, revalidated (a 304 refreshed the entry), bypass, coalesced.", ["result"]);
    const hits = requests.labels("hit");
    const misses = requests.labels("miss");
    const stales = requests.labels("stale");
    const revalidations = requests.labels("revalidated");
    const bypasses = requests.labels("bypass");
    const coalesced = requests.labels("coalesced");
    const bytesGauge = metrics.gauge("divisor_cache_bytes", "Bytes the memory store holds (keys, header fields and bodies).").labels();
    const entriesGauge = metrics.gauge("divisor_cache_entries", "Responses the memory store holds (variants counted apart).").labels();
    const evictions = metrics.counter("divisor_cache_evictions", "Responses the memory store evicted to stay within maxBytes.").labels();
    const observer: StoreObserver = {
      evicted: (n) => evictions.inc(n),
      changed: (bytes, entries) => {
        bytesGauge.set(bytes);
        entriesGauge.set(entries);
      },
    };
    const kept = keptCache(options, name, state, observer);
    const { store, coalescer, refreshing } = kept;
    if (store instanceof MemoryStore) observer.changed(store.bytes, store.entries);

    const rules: EntryRules = {
      heuristicMs: options.defaultTtl,
      keyHeaders: options.key.headers.map((h) => h.toLowerCase()),
      swrCapMs: options.staleWhileRevalidate,
      sieCapMs: options.staleIfError,
    };
    const serveGet = options.methods.includes("GET");
    const serveHead = options.methods.includes("HEAD");
    const withQuery = options.key.query;
    const statusName = options.statusHeader === false ? undefined : options.statusHeader;
    const statusLower = statusName?.toLowerCase() ?? "\u0000";
    const id = options.identifier;
    const maxObject = options.maxObjectSize;
    const coalesceWait = options.coalesce.enabled ? options.coalesce.wait : -1;
    /** Exchanges of this instance leading a coalesced fetch right now. */
    let leading = 0;

    /** The flow's fetch is over (stored, not storable, or failed): wake the waiters. */
    function release(flow: Flow): void {
      if (!flow.leader) return;
      flow.leader = false;
      leading--;
      coalescer.finish(flow.key);
    }

    const direct = new WeakMap<CachedResponse, { headers: DirectHeaders; upstreamStatus: string[] }>();

    const quiet = (err: unknown) => log.debug({ middleware: name, err: (err as Error).message }, "cache store failed");

    function put(key: string, entry: CachedResponse): void {
      const r = store.set(key, entry);
      if (r instanceof Promise) r.catch(quiet);
    }

    function forget(key: string): void {
      const r = store.delete(key);
      if (r instanceof Promise) r.catch(quiet);
    }

    function statusValue(upstreamStatus: readonly string[], member: string): string | string[] {
      const ours = `${id}; ${member}`;
      return upstreamStatus.length === 0 ? ours : [...upstreamStatus, ours];
    }

    /** Answer from a stored response. */
    function answer(ex: Exchange, entry: CachedResponse, ageMs: number, member: string, status = entry.status): DirectResponse {
      let d = direct.get(entry);
      if (d === undefined) {
        d = directHeaders(entry.headers, statusLower);
        direct.set(entry, d);
      }
      const headers: DirectHeaders = Object.assign({}, d.headers);
      headers.Age = String(Math.floor(ageMs / 1000));
      if (statusName !== undefined) headers[statusName] = statusValue(d.upstreamStatus, member);
      return ex.respond(status, status === 304 ? "" : entry.body, headers);
    }

    /** The client's own conditional request on a usable entry (RFC 9110 §13.2.2): 304 when it already has it. */
    function notModified(req: HeaderList, entry: CachedResponse): boolean {
      if (entry.status !== 200) return false;
      const inm = req.get("if-none-match");
      if (inm !== undefined) return entry.etag !== undefined && etagMatches(inm, entry.etag);
      const ims = httpDate(req.get("if-modified-since"));
      const lm = httpDate(entry.lastModified);
      return ims !== undefined && lm !== undefined && lm <= ims;
    }

    /** Remaining freshness in seconds as the client can check it: the lifetime less the Age sent (negative: stale). */
    function ttl(entry: CachedResponse, ageMs: number): number {
      return Math.floor(entry.lifetimeMs / 1000) - Math.floor(ageMs / 1000);
    }

    function newFlow(ex: Exchange, key: string, member: string, invalidate = false): Flow {
      const flow: Flow = {
        key,
        request: new HeaderList(ex.request.headers.raw.slice()),
        requestTime: Date.now(),
        member,
        stale: undefined,
        conditional: false,
        leader: false,
        invalidate,
        capture: undefined,
        serve: undefined,
      };
      ex.locals.set(FLOW, flow);
      return flow;
    }

    /** A fetch of the cache's own (background refresh, stale-if-error): the client's fields, the entry's validators. */
    function fetchOwn(ex: Exchange, entry: CachedResponse, signal: AbortSignal | undefined): Promise<UpstreamClientResponse> {
      const headers: [string, string][] = [];
      const raw = ex.request.headers.raw;
      for (let i = 0; i < raw.length; i += 2) if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) headers.push([raw[i]!, raw[i + 1]!]);
      const host = ex.request.headers.get("host");
      if (host !== undefined) headers.push(["host", host]);
      if (entry.etag !== undefined) headers.push(["if-none-match", entry.etag]);
      else if (entry.lastModified !== undefined) headers.push(["if-modified-since", entry.lastModified]);
      return upstream.request(ex.service!, { method: "GET", target: ex.request.path + ex.request.query, headers, signal, maxResponseBytes: maxObject });
    }

    /** Fold a response of the cache's own fetch into the store; returns the entry now stored, if any. */
    function absorb(key: string, entry: CachedResponse, res: UpstreamClientResponse, request: HeaderList, requestTime: number): CachedResponse | undefined {
      const raw = res.headers.flat();
      const now = Date.now();
      const built = res.status === 304 ? refreshEntry(entry, raw, request, requestTime, now, rules) : buildEntry(res.status, raw, request, requestTime, now, rules);
      if (typeof built === "string") {
        forget(key);
        return undefined;
      }
      if (res.status !== 304) built.body = res.body;
      put(key, built);
      return built;
    }

    function refreshInBackground(ex: Exchange, key: string, entry: CachedResponse): void {
      if (ex.service === undefined || refreshing.has(key)) return;
      refreshing.add(key);
      const request = new HeaderList(ex.request.headers.raw.slice());
      const requestTime = Date.now();
      fetchOwn(ex, entry, undefined)
        .then((res) => {
          if (res.status < 500) absorb(key, entry, res, request, requestTime);
        })
        .catch((err) => log.debug({ middleware: name, key, code: (err as { code?: string }).code }, "cache background refresh failed"))
        .finally(() => refreshing.delete(key));
    }

    /** A stale entry that may be served if the backend fails: ask the backend ourselves, so a failure is ours to handle. */
    async function revalidateOrStale(ex: Exchange, key: string, entry: CachedResponse, ageMs: number): Promise<DirectResponse | undefined> {
      const request = new HeaderList(ex.request.headers.raw.slice());
      const requestTime = Date.now();
      let res: UpstreamClientResponse;
      try {
        res = await fetchOwn(ex, entry, ex.signal);
      } catch (err) {
        // Too big to store is no failure of the backend: the exchange fetches it itself.
        if ((err as { code?: string }).code === "ERR_UPSTREAM_RESPONSE_TOO_LARGE") return forward(ex, key, "fwd=stale; detail=too-large");
        stales.inc();
        return answer(ex, entry, ageMs, `fwd=stale; ttl=${ttl(entry, ageMs)}; detail=stale-if-error`);
      }
      if (res.status >= 500) {
        stales.inc();
        return answer(ex, entry, ageMs, `fwd=stale; fwd-status=${res.status}; ttl=${ttl(entry, ageMs)}; detail=stale-if-error`);
      }
      misses.inc();
      const stored = absorb(key, entry, res, request, requestTime);
      if (res.status === 304) {
        if (stored === undefined) return forward(ex, key, "fwd=stale; detail=no-longer-storable");
        revalidations.inc();
        const age = stored.initialAgeMs + (Date.now() - stored.responseTime);
        return answer(ex, stored, age, `fwd=stale; fwd-status=304; ttl=${ttl(stored, age)}`);
      }
      const { headers, upstreamStatus } = directHeaders(storedFields(res.headers.flat()), statusLower);
      if (statusName !== undefined) headers[statusName] = statusValue(upstreamStatus, `fwd=stale; fwd-status=${res.status}${stored === undefined ? "" : "; stored"}`);
      return ex.respond(res.status, res.body, headers);
    }

    /** Let the exchange go to the backend as a plain miss (after a fetch of the cache's own could not answer it). */
    function forward(ex: Exchange, key: string, member: string): undefined {
      newFlow(ex, key, member);
      return undefined;
    }

    /** Decide on a looked-up key: answer from the store, or forward (with a flow). */
    function decide(ex: Exchange, key: string, variants: readonly CachedResponse[] | undefined, afterWait: boolean): DirectResponse | Promise<DirectResponse | undefined> | undefined {
      const req = ex.request.headers;
      const rcc = req.get("cache-control") === undefined ? undefined : parseCacheControl(req.getAll("cache-control"));
      const forceRevalidate = rcc === undefined ? req.get("pragma")?.toLowerCase().includes("no-cache") === true : rcc.has("no-cache") || deltaMs(rcc, "max-age") === 0;
      const entry = variants === undefined ? undefined : selectVariant(variants, req);
      let member = variants === undefined ? "fwd=uri-miss" : "fwd=vary-miss";
      if (entry !== undefined) {
        const ageMs = entry.initialAgeMs + (Date.now() - entry.responseTime);
        const fresh = !entry.noCache && ageMs < entry.lifetimeMs;
        if (fresh && !forceRevalidate && acceptable(rcc, entry, ageMs)) {
          if (afterWait) coalesced.inc();
          else hits.inc();
          const params = afterWait ? `fwd=uri-miss; collapsed; ttl=${ttl(entry, ageMs)}` : `hit; ttl=${ttl(entry, ageMs)}`;
          if (notModified(req, entry)) return answer(ex, entry, ageMs, params, 304);
          return answer(ex, entry, ageMs, params);
        }
        if (!fresh && !forceRevalidate && !entry.noCache && !entry.mustRevalidate && ex.service !== undefined) {
          const staleMs = ageMs - entry.lifetimeMs;
          if (staleMs <= entry.swrMs) {
            stales.inc();
            refreshInBackground(ex, key, entry);
            return answer(ex, entry, ageMs, `hit; ttl=${ttl(entry, ageMs)}; detail=stale-while-revalidate`);
          }
          if (staleMs <= entry.sieMs && ex.request.method === "GET") return revalidateOrStale(ex, key, entry, ageMs);
        }
        member = forceRevalidate ? "fwd=request" : "fwd=stale";
      }
      if (rcc?.has("only-if-cached")) {
        bypasses.inc();
        return ex.respond(504, "504 Gateway Timeout: not in the cache (only-if-cached)\n", statusName === undefined ? {} : { [statusName]: `${id}; ${member}; detail=only-if-cached` });
      }
      const flow = newFlow(ex, key, member);
      if (entry !== undefined && (entry.etag !== undefined || entry.lastModified !== undefined)) {
        flow.stale = entry;
        flow.conditional = !CONDITIONALS.some((c) => req.has(c));
      }
      if (ex.request.method === "GET" && coalesceWait >= 0 && !afterWait) {
        if (!coalescer.lead(key)) {
          return coalescer.wait(key, coalesceWait, ex.signal).then(() => {
            ex.locals.delete(FLOW);
            return lookup(ex, key, true);
          });
        }
        flow.leader = true;
        leading++;
      }
      misses.inc();
      return undefined;
    }

    /** The request's own limits on what it accepts (RFC 9111 §5.2.1). */
    function acceptable(rcc: ReturnType<typeof parseCacheControl> | undefined, entry: CachedResponse, ageMs: number): boolean {
      if (rcc === undefined) return true;
      const maxAge = deltaMs(rcc, "max-age");
      if (maxAge !== undefined && ageMs > maxAge) return false;
      const minFresh = deltaMs(rcc, "min-fresh");
      return minFresh === undefined || entry.lifetimeMs - ageMs >= minFresh;
    }

    function lookup(ex: Exchange, key: string, afterWait: boolean): DirectResponse | Promise<DirectResponse | undefined> | undefined {
      const found = store.get(key);
      if (found instanceof Promise) return found.then((v) => decide(ex, key, v, afterWait), () => decide(ex, key, undefined, afterWait));
      return decide(ex, key, found, afterWait);
    }

    function keyOf(ex: Exchange): string {
      const r = ex.request;
      return withQuery ? r.host + r.path + r.query : r.host + r.path;
    }

    /** A filter that drops the backend's (empty) 304 body and writes the stored one. */
    function storedBody(body: Buffer): BodyFilter {
      return {
        write() {},
        end(sink) {
          if (body.length > 0) sink.write(body);
          sink.end();
        },
      };
    }

    /** A tap: passes the body through and copies it into the entry, unless it grows past maxObjectSize. */
    function tap(flow: Flow, entry: CachedResponse): BodyFilter {
      let chunks: Buffer[] | null = [];
      let size = 0;
      return {
        write(chunk, sink) {
          if (chunks !== null) {
            size += chunk.length;
            if (size > maxObject) chunks = null;
            else chunks.push(chunk);
          }
          sink.write(chunk);
        },
        end(sink) {
          if (chunks !== null) {
            entry.body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
            put(flow.key, entry);
          }
          release(flow);
          sink.end();
        },
        destroy() {
          release(flow);
        },
      };
    }

    return {
      onRequest(ex) {
        const method = ex.request.method;
        if (method === "GET" ? !serveGet : method !== "HEAD" || !serveHead) {
          if (!SAFE.has(method)) newFlow(ex, keyOf(ex), "fwd=bypass", true);
          bypasses.inc();
          return undefined;
        }
        const req = ex.request.headers;
        const cc = req.get("cache-control");
        if ((cc !== undefined && parseCacheControl(req.getAll("cache-control")).has("no-store")) || req.has("range")) {
          bypasses.inc();
          newFlow(ex, keyOf(ex), "fwd=bypass");
          return undefined;
        }
        return lookup(ex, keyOf(ex), false);
      },

      onUpstreamRequest(ex: Exchange, head: UpstreamRequestHead) {
        const flow = ex.locals.get(FLOW) as Flow | undefined;
        if (flow === undefined || !flow.conditional) return;
        const stale = flow.stale!;
        if (stale.etag !== undefined) head.headers.set("If-None-Match", stale.etag);
        else head.headers.set("If-Modified-Since", stale.lastModified!);
      },

      onResponse(ex: Exchange, view: ResponseHeadView) {
        const flow = ex.locals.get(FLOW) as Flow | undefined;
        if (flow === undefined) return;
        const status = view.status;
        if (flow.invalidate) {
          // RFC 9111 §4.4: a successful unsafe request invalidates what is stored for its URI.
          if (status < 400) forget(flow.key);
          return;
        }
        const now = Date.now();
        let member = flow.member;
        if (status === 304 && flow.conditional) {
          const refreshed = refreshEntry(flow.stale!, view.headers.raw, flow.request, flow.requestTime, now, rules);
          const entry = typeof refreshed === "string" ? flow.stale! : refreshed;
          if (typeof refreshed === "string") forget(flow.key);
          else put(flow.key, refreshed);
          revalidations.inc();
          const age = entry.initialAgeMs + (now - entry.responseTime);
          // The stored fields (the backend's Cache-Status among them), framed for the stored body.
          view.status = entry.status;
          view.headers.raw = [...entry.headers, "Age", String(Math.floor(age / 1000)), "Content-Length", String(entry.body.length)];
          flow.serve = entry;
          member = `fwd=stale; fwd-status=304; ttl=${ttl(entry, age)}${typeof refreshed === "string" ? "" : "; stored"}`;
        } else if (ex.request.method === "GET" && member !== "fwd=bypass") {
          const built = buildEntry(status, view.headers.raw, flow.request, flow.requestTime, now, rules);
          if (typeof built !== "string") {
            member += `; fwd-status=${status}; stored`;
            if (status === 204) put(flow.key, built);
            else flow.capture = built;
          } else {
            member += `; fwd-status=${status}; detail=${built}`;
            if (flow.stale !== undefined) forget(flow.key);
          }
        } else member += `; fwd-status=${status}`;
        if (flow.capture === undefined) release(flow);
        if (statusName !== undefined) view.headers.add(statusName, `${id}; ${member}`);
      },

      onResponseBody(ex: Exchange) {
        const flow = ex.locals.get(FLOW) as Flow | undefined;
        if (flow === undefined) return undefined;
        if (flow.serve !== undefined) return storedBody(flow.serve.body);
        if (flow.capture !== undefined) return tap(flow, flow.capture);
        return undefined;
      },

      onLog(ex: Exchange) {
        // The leader's exchange failed or ended before its body did: let the waiters go
        // (checked only while some exchange leads, so a hit's onLog touches nothing).
        if (leading === 0) return;
        const flow = ex.locals.get(FLOW) as Flow | undefined;
        if (flow !== undefined) release(flow);
      },
    };
  },
});
