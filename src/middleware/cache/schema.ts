import { z } from "zod";
import { duration, headerName as headerToken, size } from "../../config/schema-scalars.js";


/** `type: cache` — an HTTP cache (RFC 9111, shared cache) in front of the router's service. */
export const cacheSchema = z
  .strictObject({
    type: z.literal("cache"),
    store: z
      .enum(["memory", "redis"])
      .default("memory")
      .meta({ description: "memory: this process's memory, an LRU within maxBytes (under --workers, one per worker); redis: shared by every gateway using the same Redis (see redis)." }),
    maxBytes: size
      .refine((n) => n > 0, { message: "maxBytes must be positive" })
      .default(64 * 1024 * 1024)
      .meta({ description: 'memory store: most bytes kept, counting each entry\'s key, header fields and body; past it the least recently used entries go. Default "64MiB".' }),
    maxObjectSize: size
      .refine((n) => n > 0, { message: "maxObjectSize must be positive" })
      .default(1024 * 1024)
      .meta({ description: 'Largest response body stored; bigger ones stream through uncached. Default "1MiB".' }),
    methods: z
      .array(z.enum(["GET", "HEAD"]))
      .min(1)
      .default(["GET", "HEAD"])
      .meta({ description: "Methods answered from the cache: GET, HEAD (a HEAD is answered from the stored GET). Only GET responses are stored." }),
    defaultTtl: duration
      .default(0)
      .meta({ description: "Freshness of a response with none of its own (no s-maxage, max-age or Expires) and a heuristically cacheable status; 0 (default) stores only responses with explicit freshness or validators (no heuristic)." }),
    key: z
      .strictObject({
        query: z.boolean().default(true).meta({ description: "The query string is part of the key (default); false: /a?x=1 and /a?x=2 share an entry." }),
        headers: z
          .array(headerToken)
          .default([])
          .meta({ description: "Request header fields that select a variant, as if every response had them in Vary (e.g. x-tenant)." }),
      })
      .default({ query: true, headers: [] })
      .meta({ description: "What the cache key is made of: the host and path always (e.g. example.com/a/b?x=1), the query, and headers." }),
    staleWhileRevalidate: duration
      .default(3_600_000)
      .meta({ description: "Longest stale-while-revalidate window honoured (the response's directive, capped by this): a stale entry is served while a background request refreshes it. 0 turns it off." }),
    staleIfError: duration
      .default(3_600_000)
      .meta({ description: "Longest stale-if-error window honoured (the response's directive, capped by this): a stale entry is served when the backend fails (error or 5xx). 0 turns it off." }),
    coalesce: z
      .strictObject({
        enabled: z.boolean().default(true).meta({ description: "Concurrent misses for one key wait for the first one's fetch instead of each going to the backend." }),
        wait: duration.default(5000).meta({ description: "Longest a waiting miss waits; then (or when the response was not storable) it goes to the backend itself." }),
      })
      .default({ enabled: true, wait: 5000 })
      .meta({ description: "Request coalescing (collapsed forwarding) of concurrent misses." }),
    statusHeader: z
      .union([headerToken, z.literal(false)])
      .default("Cache-Status")
      .meta({ description: "Response header field of RFC 9211 this cache adds its entry to (e.g. `divisor; hit; ttl=42`); false sends none." }),
    identifier: z
      .string()
      .regex(/^[A-Za-z*][A-Za-z0-9_\-.:%*/]*$/, { message: "expected an RFC 8941 token, e.g. divisor or edge-1" })
      .default("divisor")
      .meta({ description: "This cache's name in the Cache-Status field." }),
    redis: z
      .strictObject({
        url: z
          .string()
          .regex(/^rediss?:\/\//, { message: 'expected a Redis URL like "redis://host:6379/0" (or rediss:// for TLS)' })
          .meta({ description: 'Redis URL, e.g. "redis://redis:6379/0"; a password in it is never logged.' }),
        prefix: z.string().default("divisor:cache:").meta({ description: "Prefix of the Redis keys; the middleware's name and the cache key follow." }),
        timeout: duration.default(200).meta({ description: "Longest wait for Redis; a lookup that takes longer is a miss, a store that takes longer is dropped." }),
      })
      .optional()
      .meta({ description: "store redis: where the shared entries are (required with store: redis)." }),
  })
  .refine((c) => c.store !== "redis" || c.redis !== undefined, { message: "store: redis needs redis: { url }", path: ["redis"] })
  .meta({ description: "Cache responses per RFC 9111 (shared cache): freshness, Vary, revalidation with 304, stale-while-revalidate, stale-if-error, coalescing; Age and Cache-Status on answers." });
