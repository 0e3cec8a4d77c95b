/**
 * The Redis store: entries shared by every gateway using the same Redis. One hash per
 * cache key (its fields are the variants, by their Vary values), each value the
 * entry's metadata as JSON and its body, in one buffer; the hash expires with the
 * entry's usefulness (freshness plus stale windows). Redis's own memory policy
 * (maxmemory, allkeys-lru) bounds it: maxBytes applies to the memory store only.
 */
import type { RedisConnection } from "../rate-limit/redis.js";
import { type CachedResponse, type CacheStore, keepMs } from "./store.js";

type Meta = Omit<CachedResponse, "body">;

function encode(entry: CachedResponse): Buffer {
  const { body, ...meta } = entry;
  const json = Buffer.from(JSON.stringify(meta));
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(json.length, 0);
  return Buffer.concat([head, json, body]);
}

function decode(value: Buffer): CachedResponse | undefined {
  if (value.length < 4) return undefined;
  const n = value.readUInt32BE(0);
  if (4 + n > value.length) return undefined;
  try {
    const meta = JSON.parse(value.subarray(4, 4 + n).toString("utf8")) as Meta;
    return { ...meta, body: value.subarray(4 + n) };
  } catch {
    return undefined;
  }
}

/** SCAN MATCH pattern for keys starting with `prefix` (glob characters escaped). */
function prefixPattern(prefix: string): string {
  return `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
}

export class RedisCacheStore implements CacheStore {
  constructor(
    private readonly connection: RedisConnection,
    private readonly prefix: string,
  ) {}

  async get(key: string): Promise<readonly CachedResponse[] | undefined> {
    if (!this.connection.ready) await this.connection.connected();
    const fields = await this.connection.client.hgetallBuffer(this.prefix + key);
    const out: CachedResponse[] = [];
    for (const name in fields) {
      const entry = decode(fields[name]!);
      if (entry !== undefined) out.push(entry);
    }
    return out.length === 0 ? undefined : out;
  }

  async set(key: string, entry: CachedResponse): Promise<void> {
    const ms = Math.ceil(keepMs(entry, Date.now()));
    if (ms <= 0 && entry.etag === undefined && entry.lastModified === undefined) return;
    if (!this.connection.ready) await this.connection.connected();
    const k = this.prefix + key;
    // An entry with validators stays revalidatable for a day past its use-by time.
    await this.connection.client.multi().hset(k, entry.varyValues, encode(entry)).pexpire(k, Math.max(ms, 0) + (entry.etag === undefined && entry.lastModified === undefined ? 0 : 86_400_000)).exec();
  }

  async delete(key: string): Promise<number> {
    if (!this.connection.ready) await this.connection.connected();
    return this.connection.client.del(this.prefix + key);
  }

  async deletePrefix(prefix: string): Promise<number> {
    if (!this.connection.ready) await this.connection.connected();
    const client = this.connection.client;
    let cursor = "0";
    let removed = 0;
    do {
      const [next, keys] = await client.scan(cursor, "MATCH", prefixPattern(this.prefix + prefix), "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) removed += await client.del(...keys);
    } while (cursor !== "0");
    return removed;
  }
}
