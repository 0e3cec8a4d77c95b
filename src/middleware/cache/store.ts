/**
 * Where cached responses live: the interface both stores implement, and the memory
 * store, an LRU over cache keys within a byte budget that counts each entry's key,
 * header fields and body.
 */

/** One stored response (a variant of its cache key, told apart by `varyValues`). */
export interface CachedResponse {
  readonly status: number;
  /** Header fields as stored: flat [name, value, ...], without Age, framing fields and this cache's status field. */
  headers: string[];
  body: Buffer;
  /** The request fields that select this variant (Vary, plus the key's configured headers), lowercase, sorted. */
  readonly varyNames: readonly string[];
  /** The request's values for varyNames (policy.varyValues). */
  readonly varyValues: string;
  /** When the response was received, Date.now() (wall clock: a shared store spans processes). */
  responseTime: number;
  /** Corrected initial age in ms (RFC 9111 §4.2.3). */
  initialAgeMs: number;
  /** Freshness lifetime in ms (§4.2.1). */
  lifetimeMs: number;
  /** How long past its lifetime it may be served while revalidated in the background, ms. */
  swrMs: number;
  /** How long past its lifetime it may be served when the backend fails, ms. */
  sieMs: number;
  /** Response `no-cache`: stored, but revalidated before every use. */
  noCache: boolean;
  /** must-revalidate / proxy-revalidate / s-maxage (§4.2.4): never served stale. */
  mustRevalidate: boolean;
  etag: string | undefined;
  lastModified: string | undefined;
}

/** The bytes an entry is counted for: key, header fields, body, and a fixed overhead for its bookkeeping. */
export function entrySize(key: string, entry: CachedResponse): number {
  let n = 256 + key.length + entry.body.length + entry.varyValues.length;
  for (const h of entry.headers) n += h.length;
  return n;
}

/** What is left for Redis to expire: the entry is of no use past its lifetime and stale windows. */
export function keepMs(entry: CachedResponse, now: number): number {
  return entry.responseTime + entry.lifetimeMs - entry.initialAgeMs + Math.max(entry.swrMs, entry.sieMs) - now;
}

type Maybe<T> = T | Promise<T>;

/** A cache store; the memory store answers synchronously, a shared one with promises. */
export interface CacheStore {
  /** The stored variants of a key. */
  get(key: string): Maybe<readonly CachedResponse[] | undefined>;
  /** Store a variant, replacing the key's variant with the same varyValues. */
  set(key: string, entry: CachedResponse): Maybe<void>;
  /** Forget a key (all its variants); resolves to the number of keys removed. */
  delete(key: string): Maybe<number>;
  /** Forget every key that starts with `prefix`; resolves to the number of keys removed. */
  deletePrefix(prefix: string): Maybe<number>;
}

/** Variants kept per key; more (a Vary on a field with many values) push the oldest out. */
const MAX_VARIANTS = 32;

interface Slot {
  variants: CachedResponse[];
  bytes: number;
}

/** Counts the memory store reports to the middleware's gauges. */
export interface StoreObserver {
  evicted(count: number): void;
  changed(bytes: number, entries: number): void;
}

/**
 * The memory store: keys in least-recently-used order (a Map's insertion order, a hit
 * moves its key to the end), evicted from the front while the stored bytes exceed
 * `maxBytes`. Kept in the middleware's state, so reloads keep it.
 */
export class MemoryStore implements CacheStore {
  private readonly slots = new Map<string, Slot>();
  bytes = 0;
  entries = 0;

  constructor(
    private maxBytes: number,
    private observer: StoreObserver,
  ) {}

  /** A reload may change the budget (the store shrinks to it at once) and the metric cells. */
  configure(maxBytes: number, observer: StoreObserver): void {
    this.maxBytes = maxBytes;
    this.observer = observer;
    this.evict();
  }

  get(key: string): readonly CachedResponse[] | undefined {
    const slot = this.slots.get(key);
    if (slot === undefined) return undefined;
    this.slots.delete(key);
    this.slots.set(key, slot);
    return slot.variants;
  }

  set(key: string, entry: CachedResponse): void {
    const size = entrySize(key, entry);
    if (size > this.maxBytes) return;
    let slot = this.slots.get(key);
    if (slot === undefined) {
      slot = { variants: [], bytes: 0 };
    } else {
      this.slots.delete(key);
      const i = slot.variants.findIndex((v) => v.varyValues === entry.varyValues);
      if (i !== -1) this.drop(key, slot, i);
      else if (slot.variants.length >= MAX_VARIANTS) this.drop(key, slot, 0);
    }
    slot.variants.push(entry);
    slot.bytes += size;
    this.bytes += size;
    this.entries++;
    this.slots.set(key, slot);
    this.evict();
    this.observer.changed(this.bytes, this.entries);
  }

  delete(key: string): number {
    const slot = this.slots.get(key);
    if (slot === undefined) return 0;
    this.remove(key, slot);
    this.observer.changed(this.bytes, this.entries);
    return 1;
  }

  deletePrefix(prefix: string): number {
    let removed = 0;
    for (const [key, slot] of this.slots) {
      if (!key.startsWith(prefix)) continue;
      this.remove(key, slot);
      removed++;
    }
    this.observer.changed(this.bytes, this.entries);
    return removed;
  }

  /** Drop one variant of a slot (the slot stays). */
  private drop(key: string, slot: Slot, index: number): void {
    const size = entrySize(key, slot.variants[index]!);
    slot.variants.splice(index, 1);
    slot.bytes -= size;
    this.bytes -= size;
    this.entries--;
  }

  private remove(key: string, slot: Slot): void {
    this.slots.delete(key);
    this.bytes -= slot.bytes;
    this.entries -= slot.variants.length;
  }

  private evict(): void {
    if (this.bytes <= this.maxBytes) return;
    let evicted = 0;
    for (const [key, slot] of this.slots) {
      if (this.bytes <= this.maxBytes) break;
      this.remove(key, slot);
      evicted += slot.variants.length;
    }
    if (evicted > 0) this.observer.evicted(evicted);
  }
}
