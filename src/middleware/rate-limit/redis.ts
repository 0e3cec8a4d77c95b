/**
 * Redis store for rate limits shared by several gateway instances: one EVALSHA per
 * decision (ioredis falls back to EVAL when the script is not cached) running GCRA
 * atomically in Lua, with the clock of Redis (TIME), so instances whose clocks
 * differ still share one exact limit.
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

type GcraReply = [number, number, string, string];

interface GcraRedis extends Redis {
  divisorGcra(key: string, interval: number, tolerance: number): Promise<GcraReply>;
}

export interface RedisStoreOptions {
  readonly url: string;
  readonly keyPrefix: string;
  readonly timeout: number;
}

/** A connection to Redis; owned by the middleware's state, closed with it. */
export class RedisConnection {
  readonly client: GcraRedis;
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
    }) as GcraRedis;
    // Errors reach the decisions (and their fallback); the client must not crash the process.
    this.client.on("error", () => {});
    this.client.defineCommand("divisorGcra", { numberOfKeys: 1, lua: GCRA_LUA });
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

export class RedisGcraStore {
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

  /** One round trip; rejects when Redis is down or slower than `timeout`. */
  async decide(key: string): Promise<Decision> {
    if (!this.connection.ready) await this.connection.connected();
    const [allowed, remaining, resetMs, retryAfterMs] = await this.connection.client.divisorGcra(this.prefix + key, this.interval, this.tolerance);
    return { allowed: allowed === 1, remaining, resetMs: Number(resetMs), retryAfterMs: Number(retryAfterMs) };
  }
}
