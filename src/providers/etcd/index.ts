/**
 * The etcd provider: documents and backends under a key prefix, read once and then
 * watched (no polling). A key whose value does not parse is refused alone, with the
 * key in the error; its last good value stays. While etcd is unreachable the last
 * state stays in force and the provider reports failed; the watch resumes from the
 * last revision seen when etcd is back.
 */
import type { Etcd3, IKeyValue, Watcher } from "etcd3";
import { parse as parseYaml } from "yaml";
import { validateFragment } from "../../config/load.js";
import { backendSchema } from "../../config/schema.js";
import { ConfigError } from "../../errors.js";
import type { BackendInput, ConfigFragment, ProviderContext, ProviderType, RunningProvider } from "../types.js";
import { type EtcdProviderConfig, etcdProviderSchema } from "./schema.js";

export const provider: ProviderType<EtcdProviderConfig> = {
  type: "etcd",
  schema: etcdProviderSchema,
  async start(config, context) {
    const { Etcd3 } = await import("etcd3");
    const client = new Etcd3({
      hosts: config.endpoints,
      dialTimeout: config.dialTimeout,
      ...(config.username === undefined ? {} : { auth: { username: config.username, password: config.password ?? "" } }),
      faultHandling: { watchBackoff: backoff(config.retry.initial, config.retry.max) },
    });
    const watch = new EtcdWatch(config, context, client);
    void watch.run();
    return watch;
  },
};

const DOCUMENT_KINDS = new Set(["routers", "services", "middlewares", "tenants"]);

/** What one key means: a document, a backend, or a problem. */
type Entry = { kind: "document"; section: string; name: string; value: unknown } | { kind: "backend"; service: string; id: string; value: BackendInput };

class EtcdWatch implements RunningProvider {
  /** Each key's last good meaning. */
  private readonly entries = new Map<string, Entry>();
  /** Keys whose current value was refused, and why. */
  private readonly problems = new Map<string, string>();
  private watcher: Watcher | null = null;
  private lost = false;
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(
    private readonly config: EtcdProviderConfig,
    private readonly context: ProviderContext,
    private readonly client: Etcd3,
  ) {}

  /** Read everything, then watch from the next revision; start over (after a back-off) when that fails. */
  async run(): Promise<void> {
    let delay = this.config.retry.initial;
    while (!this.closed) {
      try {
        await this.sync();
        return;
      } catch (err) {
        if (this.closed) return;
        this.context.failed(new Error(`etcd ${this.config.endpoints.join(", ")}: ${(err as Error).message}; retrying in ${delay} ms`));
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        delay = Math.min(delay * 2, this.config.retry.max);
      }
    }
  }

  private async sync(): Promise<void> {
    const prefix = `${this.config.prefix}/`;
    const range = await this.client.getAll().prefix(prefix).exec();
    if (this.closed) return;
    this.entries.clear();
    this.problems.clear();
    for (const kv of range.kvs) this.put(kv);
    this.report();
    const revision = BigInt(range.header.revision) + 1n;
    const watcher = await this.client.watch().prefix(prefix).startRevision(revision.toString()).create();
    if (this.closed) {
      await watcher.cancel();
      return;
    }
    this.watcher = watcher;
    watcher.on("put", (kv) => {
      this.put(kv);
      this.report();
    });
    watcher.on("delete", (kv) => {
      const key = kv.key.toString();
      this.entries.delete(key);
      this.problems.delete(key);
      this.report();
    });
    watcher.on("disconnected", () => {
      if (this.closed) return;
      this.lost = true;
      this.context.failed(new Error(`lost the connection to etcd (${this.config.endpoints.join(", ")}); watching again once it answers`));
    });
    watcher.on("connected", () => {
      if (!this.lost) return;
      this.lost = false;
      // The watch resumed from the last revision seen: the state is current again.
      this.report();
    });
    watcher.on("error", (err: Error) => {
      if (this.closed) return;
      // A compacted revision (or another error that ends the watch): read everything again.
      this.context.failed(new Error(`etcd watch failed: ${err.message}; reading ${prefix} again`));
      this.watcher = null;
      void watcher.cancel().catch(() => {});
      void this.run();
    });
  }

  private put(kv: IKeyValue): void {
    const key = kv.key.toString();
    try {
      const entry = this.interpret(key, kv.value.toString());
      if (entry === null) {
        this.entries.delete(key);
        this.problems.delete(key);
        return;
      }
      this.entries.set(key, entry);
      this.problems.delete(key);
    } catch (err) {
      const message = err instanceof ConfigError ? err.message : (err as Error).message;
      this.problems.set(key, message);
    }
  }

  /** A key's meaning, or throws with the key and what is wrong; null for keys this provider ignores. */
  private interpret(key: string, text: string): Entry | null {
    const rest = key.slice(this.config.prefix.length + 1).split("/");
    if (rest.length === 2 && DOCUMENT_KINDS.has(rest[0]!)) {
      const [section, name] = rest as [string, string];
      const value = parseDocument(key, text);
      validateFragment({ [section]: { [name]: value } }, `etcd key ${key}`);
      return { kind: "document", section, name, value };
    }
    if (rest.length === 4 && rest[0] === "services" && rest[2] === "backends") {
      const trimmed = text.trim();
      const value = /^[[{]/.test(trimmed) ? parseDocument(key, trimmed) : trimmed;
      const parsed = backendSchema.safeParse(value);
      if (!parsed.success) {
        throw new Error(`etcd key ${key}: expected "host:port" or { "address": "host:port", "weight": 1 }, found ${JSON.stringify(text).slice(0, 200)} (${parsed.error.issues[0]?.message ?? "invalid"})`);
      }
      return { kind: "backend", service: rest[1]!, id: rest[3]!, value: value as BackendInput };
    }
    throw new Error(
      `etcd key ${key}: not a place this provider reads; expected ${this.config.prefix}/{routers,services,middlewares,tenants}/<name> or ${this.config.prefix}/services/<service>/backends/<id>`,
    );
  }

  /** Send the whole state, then the keys refused (their last good values are in it). */
  private report(): void {
    if (this.closed) return;
    const fragment: Required<Pick<ConfigFragment, "routers" | "services" | "middlewares" | "tenants" | "backends">> = {
      routers: {},
      services: {},
      middlewares: {},
      tenants: {},
      backends: {},
    };
    for (const key of [...this.entries.keys()].sort()) {
      const e = this.entries.get(key)!;
      if (e.kind === "document") (fragment[e.section as "routers"] as Record<string, unknown>)[e.name] = e.value;
      else (fragment.backends[e.service] ??= []).push(e.value);
    }
    this.context.update(fragment);
    if (this.problems.size > 0) {
      this.context.failed(new Error(`${[...this.problems.values()].join("\n")}\n(the last good value of these keys stays in force)`));
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    const watcher = this.watcher;
    this.watcher = null;
    await watcher?.cancel().catch(() => {});
    this.client.close();
  }
}

/** The watch stream's reconnection delays (etcd3 asks `next()` after each failed try, and starts over from this one once connected). */
function backoff(delay: number, max: number): { duration: number; next(): ReturnType<typeof backoff> } {
  return { duration: delay, next: () => backoff(Math.min(delay * 2, max), max) };
}

function parseDocument(key: string, text: string): unknown {
  try {
    return parseYaml(text, { uniqueKeys: true });
  } catch (err) {
    throw new Error(`etcd key ${key}: not YAML or JSON: ${(err as Error).message.split("\n")[0]}`);
  }
}
