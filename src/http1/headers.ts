// Hot path: case-insensitive view over a flat header array.
import type { RawHeaders } from "./types.js";

/**
 * Header fields as a plugin sees them: case-insensitive access over the codec's
 * flat `[name, value, ...]` array, in wire order, without copying it.
 *
 * @example
 * head.headers.set("x-request-id", id)
 * head.headers.delete("server")
 */
export class HeaderList {
  /** The underlying flat array; serialized as is. */
  raw: RawHeaders;
  constructor(raw: RawHeaders = []) {
    this.raw = raw;
  }

  /** First value of `name`, or undefined. */
  get(name: string): string | undefined {
    const raw = this.raw;
    const n = name.length;
    for (let i = 0; i < raw.length; i += 2) {
      const k = raw[i]!;
      if (k.length === n && (k === name || k.toLowerCase() === name.toLowerCase())) return raw[i + 1];
    }
    return undefined;
  }

  /** Every value of `name`, in order. */
  getAll(name: string): string[] {
    const out: string[] = [];
    const lower = name.toLowerCase();
    for (let i = 0; i < this.raw.length; i += 2) {
      if (this.raw[i]!.toLowerCase() === lower) out.push(this.raw[i + 1]!);
    }
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  /** Replace every field named `name` with one field. */
  set(name: string, value: string): void {
    this.delete(name);
    this.raw.push(name, value);
  }

  /** Append a field, keeping existing ones. */
  add(name: string, value: string): void {
    this.raw.push(name, value);
  }

  /** Remove every field named `name`; returns how many were removed. */
  delete(name: string): number {
    const raw = this.raw;
    const lower = name.toLowerCase();
    let w = 0;
    for (let r = 0; r < raw.length; r += 2) {
      if (raw[r]!.length === lower.length && raw[r]!.toLowerCase() === lower) continue;
      raw[w] = raw[r]!;
      raw[w + 1] = raw[r + 1]!;
      w += 2;
    }
    const removed = (raw.length - w) / 2;
    raw.length = w;
    return removed;
  }

  get size(): number {
    return this.raw.length / 2;
  }
}

/** A Content-Length value as a number, or -1 when it is not plain decimal digits. */
export function decimalLength(value: string): number {
  if (value.length === 0 || value.length > 15) return -1;
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}
