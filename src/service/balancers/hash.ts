// Hot path: the 32-bit string hash behind consistent hashing and sticky values.

/** FNV-1a's offset basis; pass another seed for an independent hash of the same string. */
export const FNV_OFFSET = 0x811c9dc5;

/**
 * FNV-1a over the string's UTF-16 code units, finished with MurmurHash3's fmix32 so
 * that strings differing only in their last characters ("10.0.0.1", "10.0.0.2")
 * still land far apart: plain FNV-1a spreads such keys poorly on a ring.
 *
 * @example hash32("10.0.0.7") // an unsigned 32-bit integer, the same in every process
 */
export function hash32(s: string, seed: number = FNV_OFFSET): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
