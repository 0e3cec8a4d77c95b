/**
 * The key/value store one script shares across its Lua states (and across reloads that
 * keep the middleware's name): strings only, at most `maxKeys` keys and `maxValueSize`
 * bytes per value, so a script cannot grow the gateway's memory without bound.
 */
export class ScriptStore {
  private readonly map = new Map<string, string>();
  constructor(
    private maxKeys: number,
    private maxValueSize: number,
  ) {}

  /** Apply the limits of a reloaded configuration (keys over a lowered maxKeys are dropped oldest first). */
  resize(maxKeys: number, maxValueSize: number): void {
    this.maxKeys = maxKeys;
    this.maxValueSize = maxValueSize;
    for (const key of this.map.keys()) {
      if (this.map.size <= maxKeys) break;
      this.map.delete(key);
    }
  }

  get size(): number {
    return this.map.size;
  }

  get(key: string): string | undefined {
    return this.map.get(key);
  }

  /** False when the value is too large or the store is full (a new key). */
  set(key: string, value: string): boolean {
    if (value.length > this.maxValueSize || key.length > this.maxValueSize) return false;
    if (!this.map.has(key) && this.map.size >= this.maxKeys) return false;
    this.map.set(key, value);
    return true;
  }

  /** Add `by` to the number under `key` (missing = 0); undefined when the store is full. */
  incr(key: string, by: number): number | undefined {
    const current = Number(this.map.get(key) ?? "0");
    const next = (Number.isFinite(current) ? current : 0) + by;
    return this.set(key, String(next)) ? next : undefined;
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  /** Why `set(key, value)` was refused. */
  refusal(key: string, value: string): string {
    if (value.length > this.maxValueSize || key.length > this.maxValueSize) return `kv: keys and values are limited to ${this.maxValueSize} bytes (kv.maxValueSize)`;
    return `kv: the store is full (${this.maxKeys} keys, kv.maxKeys); delete keys first`;
  }
}
