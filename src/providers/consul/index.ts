/**
 * The Consul provider: each followed service's backends are its instances whose health
 * checks all pass (GET /v1/health/service/<name>?passing=true), kept current with
 * blocking queries (?index=<X-Consul-Index>&wait=...). Instance tags give weights and,
 * optionally, a router. While Consul fails the last state stays in force.
 */
import type { BackendInput, ConfigFragment, ProviderContext, ProviderType, RunningProvider } from "../types.js";
import { type ConsulProviderConfig, consulProviderSchema } from "./schema.js";

export const provider: ProviderType<ConsulProviderConfig> = {
  type: "consul",
  schema: consulProviderSchema,
  async start(config, context) {
    return new ConsulWatch(config, context).start();
  },
};

/** The tags Divisor reads, as "divisor.<key>=<value>". */
const TAG_PREFIX = "divisor.";

/** One entry of /v1/health/service/<name>: the parts this provider reads. */
interface HealthEntry {
  Node?: { Node?: string; Address?: string };
  Service?: { ID?: string; Service?: string; Address?: string; Port?: number; Tags?: string[] | null };
}

/** What one Consul service contributes. */
interface ServiceState {
  backends: BackendInput[];
  hosts: string[];
  path: string | undefined;
}

/**
 * Reads an instance's divisor.* tags. Grammar: `divisor.weight=<whole number ≥ 0>`,
 * `divisor.host=<host>` (repeatable), `divisor.path=</prefix>`; other divisor.* tags are errors.
 */
export function readTags(tags: readonly string[]): { weight: number; hosts: string[]; path: string | undefined; problems: string[] } {
  let weight = 1;
  const hosts: string[] = [];
  let path: string | undefined;
  const problems: string[] = [];
  for (const tag of tags) {
    if (!tag.startsWith(TAG_PREFIX)) continue;
    const eq = tag.indexOf("=");
    const key = eq < 0 ? tag.slice(TAG_PREFIX.length) : tag.slice(TAG_PREFIX.length, eq);
    const value = eq < 0 ? "" : tag.slice(eq + 1);
    if (key === "weight" && /^\d{1,6}$/.test(value)) weight = Number(value);
    else if (key === "host" && value !== "") hosts.push(value.toLowerCase());
    else if (key === "path" && value.startsWith("/")) path = value;
    else problems.push(`tag "${tag}" is not one of divisor.weight=<whole number>, divisor.host=<host>, divisor.path=</prefix>`);
  }
  return { weight, hosts, path, problems };
}

class ConsulWatch implements RunningProvider {
  private readonly states = new Map<string, ServiceState>();
  private readonly problems = new Map<string, string>();
  private readonly controller = new AbortController();

  constructor(
    private readonly config: ConsulProviderConfig,
    private readonly context: ProviderContext,
  ) {}

  start(): this {
    for (const service of this.config.services) void this.follow(service);
    return this;
  }

  /** The blocking-query loop of one service. */
  private async follow(service: string): Promise<void> {
    let index = 0;
    let delay = this.config.retry.initial;
    const signal = this.controller.signal;
    while (!signal.aborted) {
      try {
        const { entries, next } = await this.query(service, index);
        // Consul's rules: an index that goes backwards (a restarted or re-elected server) starts over from 0;
        // an index that is not above 0 would make the next query return at once, so it is treated as 1.
        index = next < index ? 0 : Math.max(next, 1);
        delay = this.config.retry.initial;
        this.take(service, entries);
      } catch (err) {
        if (signal.aborted) return;
        this.problems.set(service, `service ${service}: ${(err as Error).message}; retrying in ${delay} ms${this.states.has(service) ? "; its last state stays in force" : ""}`);
        this.report();
        // Rate-limited: a failing Consul is not asked in a tight loop.
        await sleep(delay, signal);
        delay = Math.min(delay * 2, this.config.retry.max);
      }
    }
  }

  private async query(service: string, index: number): Promise<{ entries: HealthEntry[]; next: number }> {
    const params = new URLSearchParams({ passing: "true", wait: `${Math.ceil(this.config.wait / 1000)}s` });
    if (index > 0) params.set("index", String(index));
    if (this.config.datacenter !== undefined) params.set("dc", this.config.datacenter);
    if (this.config.tag !== undefined) params.set("tag", this.config.tag);
    const url = `${this.config.address}/v1/health/service/${encodeURIComponent(service)}?${params}`;
    // Consul adds up to wait/16 of jitter to a blocking query; past that (and a margin) the answer is not coming.
    const timeout = AbortSignal.timeout(Math.ceil(this.config.wait + this.config.wait / 16 + 10_000));
    const headers: Record<string, string> = { accept: "application/json" };
    if (this.config.token !== undefined) headers["x-consul-token"] = this.config.token;
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: AbortSignal.any([this.controller.signal, timeout]) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code === "UND_ERR_SOCKET" ? "the connection was closed" : (cause?.code ?? cause?.message ?? (err as Error).message);
      throw new Error(`cannot reach Consul at ${this.config.address} (${why})`);
    }
    const text = await res.text();
    if (!res.ok) throw new Error(`Consul answered ${res.status}: ${text.trim().slice(0, 200)}`);
    let entries: unknown;
    try {
      entries = JSON.parse(text);
    } catch {
      throw new Error("Consul answered something that is not JSON");
    }
    if (!Array.isArray(entries)) throw new Error("Consul answered something that is not a list of instances");
    const next = Number(res.headers.get("x-consul-index"));
    return { entries: entries as HealthEntry[], next: Number.isFinite(next) ? next : 0 };
  }

  private take(service: string, entries: readonly HealthEntry[]): void {
    const problems: string[] = [];
    const backends: BackendInput[] = [];
    const hosts = new Set<string>();
    const paths = new Set<string>();
    for (const e of entries) {
      const address = e.Service?.Address || e.Node?.Address;
      const port = e.Service?.Port;
      const id = e.Service?.ID ?? "?";
      if (address === undefined || address === "" || port === undefined || port <= 0) {
        problems.push(`instance ${id} has no address or port`);
        continue;
      }
      const tags = readTags(e.Service?.Tags ?? []);
      for (const p of tags.problems) problems.push(`instance ${id}: ${p}`);
      for (const h of tags.hosts) hosts.add(h);
      if (tags.path !== undefined) paths.add(tags.path);
      backends.push({ address: address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`, weight: tags.weight });
    }
    if (paths.size > 1) problems.push(`instances disagree on divisor.path (${[...paths].join(", ")}); the router uses ${[...paths].sort()[0]}`);
    backends.sort((a, b) => ((a as { address: string }).address < (b as { address: string }).address ? -1 : 1));
    this.states.set(service, { backends, hosts: [...hosts].sort(), path: [...paths].sort()[0] });
    if (problems.length > 0) this.problems.set(service, `service ${service}: ${problems.join("; ")}`);
    else this.problems.delete(service);
    this.report();
  }

  private report(): void {
    if (this.controller.signal.aborted) return;
    const fragment: ConfigFragment & { backends: Record<string, BackendInput[]> } = { backends: {} };
    const routers: NonNullable<ConfigFragment["routers"]> = {};
    for (const service of this.config.services) {
      const state = this.states.get(service);
      if (state === undefined) continue;
      fragment.backends[service] = state.backends;
      if (state.hosts.length === 0 && state.path === undefined) continue;
      routers[`${this.context.name}-${service}`] = {
        match: { ...(state.hosts.length > 0 ? { hosts: state.hosts } : {}), ...(state.path !== undefined ? { path: { prefix: state.path } } : {}) },
        service,
      };
    }
    if (Object.keys(routers).length > 0) fragment.routers = routers;
    this.context.update(fragment);
    if (this.problems.size > 0) this.context.failed(new Error([...this.problems.values()].join("\n")));
  }

  async close(): Promise<void> {
    this.controller.abort();
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}
