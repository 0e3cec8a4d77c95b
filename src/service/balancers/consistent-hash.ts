// Hot path: consistent hashing of a request key onto a ring or a Maglev table.
import type { BalancerConfig } from "../../config/schema.js";
import { isEligible, keepsPinned } from "./eligible.js";
import { FNV_OFFSET, hash32 } from "./hash.js";
import { RoundRobin } from "./round-robin.js";
import type { Balancer, BackendState, SelectContext } from "./types.js";

export type ConsistentHashConfig = Extract<BalancerConfig, { algorithm: "consistent-hash" }>;

/** Ketama's 160 points per server, here per unit of weight. */
const VNODES_PER_WEIGHT = 160;
/** Ring size cap: large weights are scaled down to stay within it (4 MB of tables). */
const MAX_RING_POINTS = 1 << 19;
/** Maglev's usual table size: prime, and at least 100x the backends for even shares. */
const MAGLEV_MIN_SIZE = 65537;
/** Seeds of the two independent backend hashes giving Maglev's offset and skip. */
const MAGLEV_OFFSET_SEED = FNV_OFFSET;
const MAGLEV_SKIP_SEED = 0x9747b28c;

const KEY_CLIENT_IP = 0;
const KEY_HEADER = 1;
const KEY_COOKIE = 2;

/**
 * Consistent hashing: the same key (client IP, a header or a cookie) reaches the same
 * backend every time, and a backend leaving moves only the keys it had.
 *
 * - `method: "ring"` — Ketama-style ring: 160 points per unit of weight, a key goes
 *   to the first point at or after its hash (binary search, O(log points)).
 * - `method: "maglev"` — Google's Maglev lookup table of prime size (65537, or the
 *   next prime above 100 x backends), filled from two hashes per backend, in turns
 *   proportional to weight; a key is one table read, O(1). Spreads keys more evenly
 *   than the ring; removing a backend also moves a few keys between others.
 *
 * A backend drained through the admin API keeps the keys it owns (they are pinned
 * clients, as with a sticky cookie) but takes no keys that fall through to it.
 * When the chosen backend is unavailable, of weight 0 or `exclude`, the next distinct
 * backend along the ring / the table is taken, so the key's fallback is stable and it
 * goes back when the backend returns. A request without a key (no such header or
 * cookie, or an empty one) is balanced round-robin.
 *
 * Weights are read when the balancer is built; a reload builds a new one.
 *
 * @example
 * const balancer = createConsistentHash(backends, {
 *   algorithm: "consistent-hash", key: { source: "header", name: "x-user-id" }, method: "maglev",
 * });
 */
export function createConsistentHash(backends: readonly BackendState[], config: ConsistentHashConfig): Balancer {
  return new ConsistentHash(backends, config);
}

class ConsistentHash implements Balancer {
  private readonly backends: readonly BackendState[];
  private readonly method: "ring" | "maglev";
  private readonly keySource: number;
  private readonly keyName: string;
  /** Ring: sorted point hashes (owners[i] owns points[i]). Maglev: undefined. */
  private readonly points: Uint32Array | undefined;
  /** Backend index of each ring point, or of each Maglev table entry. */
  private readonly owners: Int32Array;
  /** How many distinct backends appear in `owners`: a walk stops after seeing them all. */
  private readonly distinctOwners: number;
  /** seen[i] === generation: backend i was already passed in the current walk. */
  private readonly seen: Float64Array;
  private generation = 0;
  private readonly fallback: RoundRobin;

  constructor(backends: readonly BackendState[], config: ConsistentHashConfig) {
    this.backends = backends;
    this.method = config.method;
    const key = config.key;
    this.keySource = key.source === "client-ip" ? KEY_CLIENT_IP : key.source === "header" ? KEY_HEADER : KEY_COOKIE;
    this.keyName = key.source === "header" ? key.name.toLowerCase() : key.source === "cookie" ? key.name : "";
    const weights = backends.map((b) => b.weight);
    if (config.method === "ring") {
      const ring = buildRing(backends, weights);
      this.points = ring.points;
      this.owners = ring.owners;
    } else {
      this.points = undefined;
      this.owners = buildMaglevTable(backends, weights);
    }
    this.distinctOwners = weights.filter((w) => w > 0).length;
    this.seen = new Float64Array(backends.length);
    this.fallback = new RoundRobin(backends);
  }

  private keyOf(ctx: SelectContext): string | undefined {
    switch (this.keySource) {
      case KEY_CLIENT_IP:
        return ctx.clientIp;
      case KEY_HEADER:
        return ctx.header(this.keyName);
      default:
        return ctx.cookie(this.keyName);
    }
  }

  select(ctx: SelectContext, exclude?: BackendState): BackendState | undefined {
    const key = this.keyOf(ctx);
    if (key === undefined || key === "" || this.owners.length === 0) return this.fallback.select(ctx, exclude);
    const found = this.walk(this.startOf(hash32(key)), exclude);
    // Nothing on the ring can serve: any eligible backend (e.g. one of weight 0 when this
    // balancer was built) is better than none.
    return found ?? this.fallback.select(ctx, exclude);
  }

  /** Where a key hash enters `owners`. */
  private startOf(h: number): number {
    const points = this.points;
    if (points === undefined) return h % this.owners.length;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < h) lo = mid + 1;
      else hi = mid;
    }
    return lo === points.length ? 0 : lo;
  }

  /** The first eligible, non-excluded backend from `start` on, wrapping around. */
  private walk(start: number, exclude: BackendState | undefined): BackendState | undefined {
    const owners = this.owners;
    const backends = this.backends;
    const first = owners[start]!;
    const chosen = backends[first]!;
    if (chosen !== exclude && keepsPinned(chosen)) return chosen;
    const seen = this.seen;
    const generation = ++this.generation;
    seen[first] = generation;
    let distinct = 1;
    let k = start;
    for (let step = 1; step < owners.length && distinct < this.distinctOwners; step++) {
      if (++k === owners.length) k = 0;
      const owner = owners[k]!;
      if (seen[owner] === generation) continue;
      seen[owner] = generation;
      distinct++;
      const backend = backends[owner]!;
      if (backend !== exclude && isEligible(backend)) return backend;
    }
    return undefined;
  }

  describe(ctx: SelectContext): string {
    const source = this.keySource === KEY_CLIENT_IP ? "client-ip" : this.keySource === KEY_HEADER ? `header ${this.keyName}` : `cookie ${this.keyName}`;
    const key = this.keyOf(ctx);
    if (key === undefined || key === "") return `consistent-hash (${this.method}): no ${source} in the request, round-robin`;
    const h = hash32(key);
    const start = this.startOf(h);
    const owner = this.backends[this.owners[start]!]!;
    return `consistent-hash (${this.method}): ${source} ${JSON.stringify(key)} hashes to ${h.toString(16).padStart(8, "0")}, owned by ${owner.id}${keepsPinned(owner) ? "" : " (not eligible: next backend along)"}`;
  }
}

/** Weights divided by their greatest common divisor: 100,200 builds the same ring as 1,2. */
function unitWeights(weights: readonly number[]): number[] {
  let g = 0;
  for (const w of weights) g = gcd(g, w);
  return weights.map((w) => (g === 0 ? 0 : w / g));
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function buildRing(backends: readonly BackendState[], weights: readonly number[]): { points: Uint32Array; owners: Int32Array } {
  const units = unitWeights(weights);
  let total = 0;
  for (const u of units) total += u * VNODES_PER_WEIGHT;
  const scale = total > MAX_RING_POINTS ? MAX_RING_POINTS / total : 1;
  const vnodes = units.map((u) => (u === 0 ? 0 : Math.max(1, Math.round(u * VNODES_PER_WEIGHT * scale))));
  const count = vnodes.reduce((a, b) => a + b, 0);
  // hash * 2^16 + owner is exact in a double (< 2^48) and sorts by hash, then owner.
  const packed = new Float64Array(count);
  let p = 0;
  for (let i = 0; i < backends.length; i++) {
    const address = backends[i]!.address;
    for (let v = 0; v < vnodes[i]!; v++) packed[p++] = hash32(`${address}-${v}`) * 65536 + i;
  }
  packed.sort();
  const points = new Uint32Array(count);
  const owners = new Int32Array(count);
  for (let j = 0; j < count; j++) {
    const owner = packed[j]! % 65536;
    owners[j] = owner;
    points[j] = (packed[j]! - owner) / 65536;
  }
  return { points, owners };
}

/** Maglev (NSDI '16, §3.4) with weighted turns as in Envoy's MaglevTable. */
function buildMaglevTable(backends: readonly BackendState[], weights: readonly number[]): Int32Array {
  const members: number[] = [];
  for (let i = 0; i < backends.length; i++) if (weights[i]! > 0) members.push(i);
  if (members.length === 0) return new Int32Array(0);
  const size = maglevSize(members.length);
  const table = new Int32Array(size).fill(-1);
  // Backend m's preference list is slot[m], slot[m] + skip[m], ... (mod size): it
  // visits every slot once because size is prime and 0 < skip < size.
  const slot = new Int32Array(members.length);
  const skip = new Int32Array(members.length);
  const target = new Float64Array(members.length);
  let maxWeight = 0;
  for (let m = 0; m < members.length; m++) {
    const address = backends[members[m]!]!.address;
    slot[m] = hash32(address, MAGLEV_OFFSET_SEED) % size;
    skip[m] = (hash32(address, MAGLEV_SKIP_SEED) % (size - 1)) + 1;
    maxWeight = Math.max(maxWeight, weights[members[m]!]!);
  }
  let filled = 0;
  for (let turn = 1; filled < size; turn++) {
    for (let m = 0; m < members.length && filled < size; m++) {
      // A backend of the largest weight takes a slot every turn; one of a third of it, every third turn.
      if (turn * weights[members[m]!]! < target[m]!) continue;
      target[m]! += maxWeight;
      let c = slot[m]!;
      while (table[c] !== -1) {
        c += skip[m]!;
        if (c >= size) c -= size;
      }
      table[c] = members[m]!;
      filled++;
      c += skip[m]!;
      slot[m] = c >= size ? c - size : c;
    }
  }
  return table;
}

/** 65537, or the first prime at or above 100 x backends when that is larger. */
function maglevSize(members: number): number {
  let n = Math.max(MAGLEV_MIN_SIZE, members * 100);
  while (!isPrime(n)) n++;
  return n;
}

function isPrime(n: number): boolean {
  if (n < 2) return false;
  for (let d = 2; d * d <= n; d++) if (n % d === 0) return false;
  return true;
}
