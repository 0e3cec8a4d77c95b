// Where ACME state lives: the account key, issued certificates and keys, challenge
// answers, and the per-name order lock. One interface over a directory, Redis and
// etcd, so instances sharing a storage share certificates and order each name once.
import crypto from "node:crypto";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { AcmeStorageConfig } from "../../config/schema-acme.js";

// Storage clients load only when ACME is configured (and kept out of the CLI bundle).
const requireHere = createRequire(import.meta.url);

/** Releases a lock taken with tryLock (a no-op once it expired and someone else holds it). */
export type Unlock = () => Promise<void>;

export interface AcmeStorage {
  /** "file", "redis" or "etcd", for logs. */
  readonly kind: string;
  get(key: string): Promise<string | null>;
  put(key: string, value: string): Promise<void>;
  delete(key: string): Promise<void>;
  /** Takes the lock `key` for `ttlMs` unless another holder has it: the release, or null. */
  tryLock(key: string, ttlMs: number): Promise<Unlock | null>;
  close(): Promise<void>;
}

/** Keys are made of names, tokens and hashes; anything else is a bug, not a path to follow. */
const KEY_RE = /^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/;
function checkKey(key: string): string {
  if (!KEY_RE.test(key) || key.split("/").some((p) => p === "." || p === "..")) throw new Error(`invalid ACME storage key "${key}"`);
  return key;
}

export function openStorage(config: AcmeStorageConfig): AcmeStorage {
  if (config.type === "file") return new FileStorage(config.path);
  if (config.type === "redis") return new RedisStorage(config.url, config.keyPrefix);
  return new EtcdStorage(config.endpoints, config.prefix);
}

class FileStorage implements AcmeStorage {
  readonly kind = "file";
  constructor(private readonly root: string) {}

  private file(key: string): string {
    return path.join(this.root, checkKey(key));
  }

  async get(key: string): Promise<string | null> {
    try {
      return await fs.promises.readFile(this.file(key), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  async put(key: string, value: string): Promise<void> {
    const file = this.file(key);
    await fs.promises.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    // Written aside and renamed: a reader (another instance) never sees half a file.
    const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString("hex")}.tmp`;
    await fs.promises.writeFile(tmp, value, { mode: 0o600 });
    await fs.promises.rename(tmp, file);
  }

  async delete(key: string): Promise<void> {
    await fs.promises.rm(this.file(key), { force: true });
  }

  async tryLock(key: string, ttlMs: number): Promise<Unlock | null> {
    const file = this.file(key);
    await fs.promises.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    const token = crypto.randomBytes(16).toString("hex");
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await fs.promises.writeFile(file, `${token} ${Date.now() + ttlMs}`, { flag: "wx", mode: 0o600 });
        return async () => {
          const held = await this.get(key).catch(() => null);
          if (held?.startsWith(token)) await fs.promises.rm(file, { force: true });
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
        // A holder that died leaves its file: past its expiry, the lock is free.
        const held = await this.get(key);
        const expires = Number(held?.split(" ")[1]);
        if (held !== null && !(expires < Date.now())) return null;
        await fs.promises.rm(file, { force: true });
      }
    }
    return null;
  }

  async close(): Promise<void> {}
}

// Deletes the lock only while it still holds our token (it may have expired and been taken).
const UNLOCK_LUA = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

class RedisStorage implements AcmeStorage {
  readonly kind = "redis";
  private readonly client: import("ioredis").Redis;

  constructor(url: string, private readonly prefix: string) {
    const { Redis } = requireHere("ioredis") as typeof import("ioredis");
    this.client = new Redis(url, { maxRetriesPerRequest: 2, connectTimeout: 5000, retryStrategy: (times) => Math.min(times * 200, 2000) });
    // Errors reach the callers (an order waits and retries); the client must not crash the process.
    this.client.on("error", () => {});
  }

  get(key: string): Promise<string | null> {
    return this.client.get(this.prefix + checkKey(key));
  }

  async put(key: string, value: string): Promise<void> {
    await this.client.set(this.prefix + checkKey(key), value);
  }

  async delete(key: string): Promise<void> {
    await this.client.del(this.prefix + checkKey(key));
  }

  async tryLock(key: string, ttlMs: number): Promise<Unlock | null> {
    const k = this.prefix + checkKey(key);
    const token = crypto.randomBytes(16).toString("hex");
    const ok = await this.client.set(k, token, "PX", ttlMs, "NX");
    if (ok !== "OK") return null;
    return async () => {
      await this.client.eval(UNLOCK_LUA, 1, k, token);
    };
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}

class EtcdStorage implements AcmeStorage {
  readonly kind = "etcd";
  private readonly client: import("etcd3").Etcd3;

  constructor(endpoints: string[], private readonly prefix: string) {
    const { Etcd3 } = requireHere("etcd3") as typeof import("etcd3");
    this.client = new Etcd3({ hosts: endpoints });
  }

  get(key: string): Promise<string | null> {
    return this.client.get(this.prefix + checkKey(key)).string();
  }

  async put(key: string, value: string): Promise<void> {
    await this.client.put(this.prefix + checkKey(key)).value(value);
  }

  async delete(key: string): Promise<void> {
    await this.client.delete().key(this.prefix + checkKey(key));
  }

  async tryLock(key: string, ttlMs: number): Promise<Unlock | null> {
    const { EtcdLockFailedError } = requireHere("etcd3") as typeof import("etcd3");
    // The lock's key lives on a lease: a holder that dies lets it go when the lease expires.
    const lock = this.client.lock(this.prefix + checkKey(key)).ttl(Math.max(1, Math.ceil(ttlMs / 1000)));
    try {
      await lock.acquire();
    } catch (err) {
      if (err instanceof EtcdLockFailedError) return null;
      throw err;
    }
    return () => lock.release();
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
