import cluster from "node:cluster";
import type { z } from "zod";
import { type DirectResponse, definePlugin, type Exchange, type Middleware, type ResponseHeadView } from "../plugin.js";
import { ClusterStore } from "./cluster.js";
import { compileKey, keyOf } from "./key.js";
import { type Decision, GcraStore, type RateLimitStore, SlidingWindowStore } from "./memory.js";
import { RedisConnection, RedisGcraStore, RedisSlidingWindowStore, type RedisStore as SharedStore } from "./redis.js";
import type { rateLimitSchema } from "./schema.js";

type Options = z.output<typeof rateLimitSchema>;

const STORE = Symbol("rate-limit store");

interface KeptStore {
  /** The options the store was built for: a reload that changes them starts afresh. */
  readonly identity: string;
  readonly store: RateLimitStore;
}

function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

/** The in-memory store of this middleware, kept in its state while the options stay. */
function memoryStore(options: Options, burst: number, state: Map<string | symbol, unknown>): RateLimitStore {
  const identity = JSON.stringify([options.algorithm, options.rate, options.period, burst, options.maxKeys]);
  let kept = state.get(STORE) as KeptStore | undefined;
  if (kept === undefined || kept.identity !== identity) {
    const store =
      options.algorithm === "gcra" ? new GcraStore(options.rate, options.period, burst, options.maxKeys) : new SlidingWindowStore(options.rate, options.period, options.maxKeys);
    kept = { identity, store };
    state.set(STORE, kept);
  }
  return kept.store;
}

/**
 * The Redis connection for these options, kept in the state by URL and timeout so a
 * reload reuses it (a connection for other options stays until the middleware goes).
 */
function redisConnection(redis: NonNullable<Options["store"]>["redis"], state: Map<string | symbol, unknown>): RedisConnection {
  const identity = `redis\u0000${redis.url}\u0000${redis.timeout}`;
  let connection = state.get(identity) as RedisConnection | undefined;
  if (connection === undefined) {
    connection = new RedisConnection(redis);
    state.set(identity, connection);
  }
  return connection;
}

/**
 * `type: rate-limit` — limit requests per key (client IP, header, cookie, JWT claim,
 * router, tenant or a composite of them) with GCRA or a sliding window, in memory or
 * in Redis shared by several gateways. A limited request gets 429 with Retry-After,
 * and every response the RateLimit and RateLimit-Policy fields of
 * draft-ietf-httpapi-ratelimit-headers-10
 * (`RateLimit-Policy: "<name>";q=<quota>;w=<window s>`, `RateLimit: "<name>";r=<remaining>;t=<reset s>`).
 * Counts live in the gateway's state for this middleware's name, so a reload that
 * keeps the middleware's options keeps them.
 *
 * @example
 * middlewares:
 *   per-client:
 *     type: rate-limit
 *     rate: 100
 *     period: 1m
 *     burst: 20
 *     key: [client-ip]
 */
export const rateLimitPlugin = definePlugin<Options>({
  name: "rate-limit",
  create(options, { name, metrics, state }): Middleware {
    const burst = options.algorithm === "gcra" ? (options.burst ?? options.rate) : options.rate;
    const parts = compileKey(options.key);
    // GCRA's quota is the bucket (burst) refilled over burst * period / rate.
    const window = options.algorithm === "gcra" ? seconds((burst * options.period) / options.rate) : seconds(options.period);
    const policy = `"${name}";q=${burst};w=${Math.max(1, window)}`;
    const decisions = metrics.counter("divisor_rate_limit_decisions", "Rate-limit decisions, by result (allowed, limited).", ["result"]);
    const allowed = decisions.labels("allowed");
    const limited = decisions.labels("limited");
    const sendHeaders = options.headers;
    const local = Symbol(name);
    const body = `rate limit "${name}" exceeded; retry later\n`;

    /** Count a decision and answer it: undefined lets the request through. */
    function answer(exchange: Exchange, d: Decision): DirectResponse | undefined {
      const current = `"${name}";r=${d.remaining};t=${seconds(d.resetMs)}`;
      if (d.allowed) {
        allowed.inc();
        if (sendHeaders) exchange.locals.set(local, current);
        return undefined;
      }
      limited.inc();
      return exchange.respond(429, body, {
        "content-type": "text/plain; charset=utf-8",
        "retry-after": String(Math.max(1, seconds(d.retryAfterMs))),
        "ratelimit-policy": policy,
        ratelimit: current,
      });
    }

    const onResponse = sendHeaders
      ? (exchange: Exchange, head: ResponseHeadView) => {
          const current = exchange.locals.get(local) as string | undefined;
          if (current === undefined) return;
          head.headers.add("ratelimit-policy", policy);
          head.headers.add("ratelimit", current);
        }
      : undefined;

    const redis = options.store?.redis;
    // Under `divisor start --workers N` the primary owns the in-memory buckets.
    if (redis === undefined && !cluster.isWorker) {
      const store = memoryStore(options, burst, state);
      const keys = metrics.gauge("divisor_rate_limit_keys", "Keys the rate limit holds in memory.").labels();
      return {
        onRequest(exchange: Exchange) {
          const d = store.decide(keyOf(exchange, parts), exchange.startTime);
          keys.set(store.size);
          return answer(exchange, d);
        },
        onResponse,
      };
    }

    let store: SharedStore;
    if (redis === undefined) {
      store = new ClusterStore({ name, algorithm: options.algorithm, rate: options.rate, period: options.period, burst, maxKeys: options.maxKeys });
    } else {
      const connection = redisConnection(redis, state);
      // The algorithm is part of the Redis key: a reload that switches it must not read the other's value.
      const prefix = `${redis.keyPrefix}${name}:${options.algorithm === "gcra" ? "" : "sw:"}`;
      store =
        options.algorithm === "gcra"
          ? new RedisGcraStore(connection, prefix, options.rate, options.period, burst)
          : new RedisSlidingWindowStore(connection, prefix, options.rate, options.period);
    }
    const storeErrors = metrics
      .counter("divisor_rate_limit_store_errors", "Decisions the store (Redis, or the cluster primary under --workers) failed to make in time; onStoreFailure answered them.")
      .labels();
    const failOpen = options.onStoreFailure === "allow";
    const unavailable = `rate limit "${name}" is unavailable; retry later\n`;
    return {
      async onRequest(exchange: Exchange) {
        let d: Decision;
        try {
          d = await store.decide(keyOf(exchange, parts));
        } catch {
          storeErrors.inc();
          if (failOpen) {
            allowed.inc();
            return undefined;
          }
          limited.inc();
          return exchange.respond(503, unavailable, { "content-type": "text/plain; charset=utf-8", "retry-after": "1" });
        }
        return answer(exchange, d);
      },
      onResponse,
    };
  },
});
