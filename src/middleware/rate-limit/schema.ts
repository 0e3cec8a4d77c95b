import { z } from "zod";
import { duration } from "../../config/schema-scalars.js";

const KEY_PART = /^(client-ip|router|tenant|(header|cookie|jwt-claim):.+)$/;

export const rateLimitSchema = z
  .strictObject({
    type: z.literal("rate-limit"),
    algorithm: z
      .enum(["gcra", "sliding-window"])
      .default("gcra")
      .meta({ description: "gcra: a token bucket (rate refills evenly, burst requests may arrive at once); sliding-window: at most `rate` requests in any `period`, weighted over the previous window." }),
    rate: z.number().int().positive().meta({ description: "Requests allowed per period, per key." }),
    period: duration.refine((ms) => ms >= 1, { message: "period must be at least 1ms" }).default(1000).meta({ description: 'Length of the period: milliseconds, or "1s", "1m", "1h".' }),
    burst: z
      .number()
      .int()
      .positive()
      .optional()
      .meta({ description: "gcra only: requests that may arrive at once after an idle time (the bucket's size). Default: rate." }),
    key: z
      .array(z.string().regex(KEY_PART, { message: 'a key part is "client-ip", "router", "tenant", "header:<name>", "cookie:<name>" or "jwt-claim:<claim>"' }))
      .min(1)
      .default(["client-ip"])
      .meta({
        description:
          'What a limit is counted per; several parts make a composite key. Parts: "client-ip" (after trusted proxies), "router", "tenant", "header:<name>", "cookie:<name>", "jwt-claim:<claim>" (from the Bearer token\'s payload, NOT verified). A missing value counts as "".',
      }),
    maxKeys: z.number().int().positive().default(100_000).meta({ description: "Most keys kept in memory; past it the oldest key is forgotten (idle keys are dropped as soon as they are back to a full quota)." }),
    store: z
      .strictObject({
        redis: z
          .strictObject({
            url: z.string().regex(/^rediss?:\/\//, { message: 'expected a Redis URL like "redis://host:6379/0" (or rediss:// for TLS)' }).meta({ description: 'Redis URL, e.g. "redis://redis:6379/0"; a password in it is never logged.' }),
            keyPrefix: z.string().default("divisor:rate-limit:").meta({ description: "Prefix of the Redis keys; the middleware's name and the request's key follow." }),
            timeout: duration.default(100).meta({ description: "Longest wait for Redis's answer; then onStoreFailure decides." }),
          })
          .meta({ description: "Share the limit between gateway instances through Redis (either algorithm)." }),
      })
      .optional()
      .meta({ description: "Where counts are kept; default: in this process's memory." }),
    onStoreFailure: z
      .enum(["allow", "deny"])
      .default("allow")
      .meta({ description: "When the store (Redis) is down or too slow: allow the request (fail open) or answer 503 with Retry-After: 1 (fail closed)." }),
    headers: z.boolean().default(true).meta({ description: "Send the RateLimit and RateLimit-Policy headers on allowed responses too (429s always have them)." }),
  })
  .refine((r) => r.algorithm === "gcra" || r.burst === undefined, { message: "burst applies to algorithm gcra only", path: ["burst"] })
  .meta({ description: "Limit the request rate per client, header, cookie, JWT claim, router or tenant; answer 429 with Retry-After and RateLimit headers." });
