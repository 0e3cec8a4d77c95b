/**
 * Redis store for rate limits shared by several gateway instances: one EVALSHA per
 * decision (ioredis falls back to EVAL when the script is not cached) running GCRA or
 * the sliding window atomically in Lua, with the clock of Redis (TIME), so instances
 * whose clocks differ still share one exact limit. Both scripts are the algorithms of
 * memory.ts, step for step, so a store gives the answers of the other.
 */
import { createRequire } from "node:module";
import type { Redis } from "ioredis";
import type { Decision } from "./memory.js";

// ioredis is required when a Redis store is configured, not at start: loading it costs
// about 35 ms, which every gateway would pay (it is also kept out of the CLI bundle).
const requireHere = createRequire(import.meta.url);

// KEYS[1]: the key; ARGV[1]: interval ms; ARGV[2]: tolerance ms.
// Returns {allowed (0/1), remaining, resetMs, retryAfterMs} (numbers as strings: Lua
// numbers would be truncated to integers on the way back).
const GCRA_LUA = `
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local tat = tonumber(redis.call('GET', KEYS[1]))
if tat == nil or tat < now then tat = now end
local ahead = tat - now
if ahead > tolerance then
  return {0, 0, tostring(ahead), tostring(ahead - tolerance)}
end
local nxt = tat + interval
redis.call('SET', KEYS[1], tostring(nxt), 'PX', math.max(1, math.ceil(nxt - now)))
local remaining = math.floor((tolerance - (nxt - now)) / interval) + 1
if remaining < 0 then remaining = 0 end
return {1, remaining, tostring(nxt - now), '0'}
`;

// KEYS[1]: the key (a hash: s = start of the current fixed window in Redis ms, p = the
// previous window's count, c = the current one's); ARGV[1]: rate; ARGV[2]: period ms.
// A denied request writes nothing (rolling the windows over is recomputed from the
// stored start), an allowed one keeps the key until both windows it spans are over.
const SLIDING_WINDOW_LUA = `
local rate = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local w = redis.call('HMGET', KEYS[1], 's', 'p', 'c')
local start, previous, current
if w[1] == false then
  start = now - (now % period)
  previous = 0
  current = 0
else
  start = tonumber(w[1])
  previous = tonumber(w[2])
  current = tonumber(w[3])
  if now - start >= period then
    local windows = math.floor((now - start) / period)
    if windows == 1 then previous = current else previous = 0 end
    current = 0
    start = start + windows * period
  end
end
local elapsed = now - start
local weighted = previous * (1 - elapsed / period) + current
local reset = period - elapsed
if previous > 0 or current > 0 then reset = reset + period end
if weighted + 1 > rate then
  local room = rate - 1 - current
  local retry
  if room >= 0 then
    retry = math.max(1, period * (1 - room / previous) - elapsed)
  else
    retry = period - elapsed + period * (1 - (rate - 1) / current)
  end
  return {0, 0, tostring(reset), tostring(retry)}
end
current = current + 1
redis.call('HSET', KEYS[1], 's', string.format('%.3f', start), 'p', previous, 'c', current)
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil(start + 2 * period - now)))
local remaining = math.floor(rate - weighted - 1)
if remaining < 0 then remaining = 0 end
return {1, remaining, tostring(reset), '0'}
`;

/** {allowed (0/1), remaining, resetMs, retryAfterMs}. */
type Reply = [number, number, string, string];

interface ScriptedRedis extends Redis {
  divisorGcra(key: string, interval: number, tolerance: number): Promise<Reply>;
  divisorSlidingWindow(key: string, rate: number, period: number): Promise<Reply>;
}

export interface RedisStoreOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly timeout: number;
}

/** A connection to Redis; owned by the middleware's state, closed with it. */
export class RedisConnection {
  readonly client: ScriptedRedis;
  /** Set once the first connection is ready; until then decisions wait for it (within timeout). */
  ready = false;
  private readonly firstReady: Promise<void>;
  private readonly timeout: number;

  constructor(options: RedisStoreOptions) {
    const { Redis: RedisClient } = requireHere("ioredis") as typeof import("ioredis");
    this.client = new RedisClient(options.url, {
      // No queue while disconnected: a decision fails at once (the fallback policy
      // answers) instead of running late and spending quota after its answer was given.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: options.timeout,
      connectTimeout: Math.max(options.timeout, 1000),
      retryStrategy: (times) => Math.min(times * 100, 2000),
    }) as ScriptedRedis;
    // Errors reach the decisions (and their fallback); the client must not crash the process.
    this.client.on("error", () => {});
    this.client.defineCommand("divisorGcra", { numberOfKeys: 1, lua: GCRA_LUA });
    this.client.defineCommand("divisorSlidingWindow", { numberOfKeys: 1, lua: SLIDING_WINDOW_LUA });
    this.timeout = options.timeout;
    this.firstReady = new Promise((resolve) =>
      this.client.once("ready", () => {
        this.ready = true;
        resolve();
      }),
    );
  }

  /** Right after start the connection is still opening: wait for it rather than fall back. */
  async connected(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.firstReady, new Promise<void>((resolve) => (timer = setTimeout(resolve, this.timeout)))]);
    clearTimeout(timer);
  }

  close(): void {
    this.client.disconnect();
  }
}

/** Turn a script's reply into a decision (a fresh object: decisions overlap in time). */
function decision([allowed, remaining, resetMs, retryAfterMs]: Reply): Decision {
  return { allowed: allowed === 1, remaining, resetMs: Number(resetMs), retryAfterMs: Number(retryAfterMs) };
}

/** A store shared by several processes (Redis, or the cluster primary): decisions are asynchronous. */
export interface RedisStore {
  /** One round trip; rejects when Redis is down or slower than `timeout`. */
  decide(key: string): Promise<Decision>;
}

export class RedisGcraStore implements RedisStore {
  private readonly interval: number;
  private readonly tolerance: number;

  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
    rate: number,
    period: number,
    burst: number,
  ) {
    this.interval = period / rate;
    this.tolerance = (burst - 1) * this.interval;
  }

  async decide(key: string): Promise<Decision> {
    if (!this.connection.ready) await this.connection.connected();
    return decision(await this.connection.client.divisorGcra(this.prefix + key, this.interval, this.tolerance));
  }
}

/** The sliding window of SlidingWindowStore, its two counts per key in a Redis hash. */
export class RedisSlidingWindowStore implements RedisStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
    private readonly rate: number,
    private readonly period: number,
  ) {}

  async decide(key: string): Promise<Decision> {
    if (!this.connection.ready) await this.connection.connected();
    return decision(await this.connection.client.divisorSlidingWindow(this.prefix + key, this.rate, this.period));
  }
}
