/**
 * The DNS provider: each service's backends are the A/AAAA addresses or SRV targets of a
 * name, resolved again when the answer's TTL runs out (clamped to minTtl..maxTtl). A
 * failed resolution keeps the last answer in force and counts as a provider failure;
 * it is retried with a back-off from minTtl up to maxTtl.
 */
import { Resolver } from "node:dns/promises";
import type { BackendInput, ProviderContext, ProviderType, RunningProvider } from "../types.js";
import { type DnsProviderConfig, type DnsRecordConfig, dnsProviderSchema } from "./schema.js";

export const provider: ProviderType<DnsProviderConfig> = {
  type: "dns",
  schema: dnsProviderSchema,
  async start(config, context) {
    return new DnsWatch(config, context).start();
  },
};

/** The wait before asking again: the TTL (seconds) in ms, clamped to [minMs, maxMs]. */
export function nextResolveMs(ttlSeconds: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, Math.max(minMs, ttlSeconds * 1000));
}

interface Answer {
  backends: BackendInput[];
  /** Smallest TTL of the records, in seconds. */
  ttl: number;
}

class DnsWatch implements RunningProvider {
  private readonly resolver: Resolver;
  /** Each service's last answer (only services resolved at least once). */
  private readonly answers = new Map<string, BackendInput[]>();
  private readonly problems = new Map<string, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly config: DnsProviderConfig,
    private readonly context: ProviderContext,
  ) {
    this.resolver = new Resolver({ timeout: config.timeout, tries: config.tries });
    if (config.servers !== undefined) this.resolver.setServers(config.servers);
  }

  start(): this {
    for (const [service, record] of Object.entries(this.config.services)) void this.resolveLoop(service, record, 0);
    return this;
  }

  private async resolveLoop(service: string, record: DnsRecordConfig, failures: number): Promise<void> {
    if (this.closed) return;
    let wait: number;
    try {
      const answer = await this.resolve(record);
      if (this.closed) return;
      this.answers.set(service, answer.backends);
      this.problems.delete(service);
      wait = nextResolveMs(answer.ttl, this.config.minTtl, this.config.maxTtl);
      failures = 0;
      this.context.logger.debug({ service, name: record.name, backends: answer.backends.length, nextInMs: wait }, "resolved");
    } catch (err) {
      if (this.closed) return;
      const code = (err as NodeJS.ErrnoException).code;
      const kept = this.answers.has(service) ? "the last answer stays in force" : "no answer yet";
      this.problems.set(service, `service ${service}: resolving ${record.type} ${record.name} failed (${code ?? (err as Error).message}); ${kept}`);
      wait = Math.min(this.config.maxTtl, this.config.minTtl * 2 ** Math.min(failures, 20));
      failures++;
    }
    this.report();
    this.after(wait, () => this.resolveLoop(service, record, failures));
  }

  private async resolve(record: DnsRecordConfig): Promise<Answer> {
    if (record.type === "A" || record.type === "AAAA") {
      const found = record.type === "A" ? await this.resolver.resolve4(record.name, { ttl: true }) : await this.resolver.resolve6(record.name, { ttl: true });
      return {
        backends: found.map((r) => ({ address: hostPort(r.address, record.port!), weight: record.weight })).sort(byAddress),
        ttl: Math.min(...found.map((r) => r.ttl)),
      };
    }
    const srv = await this.resolver.resolveSrv(record.name);
    // RFC 2782: only the lowest priority is used while it has targets.
    const best = Math.min(...srv.map((r) => r.priority));
    const targets = srv.filter((r) => r.priority === best);
    const backends: BackendInput[] = [];
    let ttl = Number.POSITIVE_INFINITY;
    for (const target of targets) {
      // node:dns gives SRV records no TTL: the targets' address records' TTLs decide when to ask again.
      const addresses = await this.targetAddresses(target.name);
      for (const a of addresses) {
        ttl = Math.min(ttl, a.ttl);
        backends.push({ address: hostPort(a.address, target.port), weight: Math.max(1, target.weight) });
      }
    }
    if (backends.length === 0) throw Object.assign(new Error("no SRV target has an address"), { code: "ENODATA" });
    return { backends: dedupe(backends).sort(byAddress), ttl };
  }

  private async targetAddresses(name: string): Promise<{ address: string; ttl: number }[]> {
    try {
      return await this.resolver.resolve4(name, { ttl: true });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENODATA" && code !== "ENOTFOUND") throw err;
      return await this.resolver.resolve6(name, { ttl: true });
    }
  }

  private report(): void {
    const backends: Record<string, BackendInput[]> = {};
    for (const service of Object.keys(this.config.services)) {
      const answer = this.answers.get(service);
      if (answer !== undefined) backends[service] = answer;
    }
    this.context.update({ backends });
    if (this.problems.size > 0) this.context.failed(new Error([...this.problems.values()].join("\n")));
  }

  private after(ms: number, run: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      run();
    }, ms);
    this.timers.add(timer);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.resolver.cancel();
  }
}

function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

function byAddress(a: BackendInput, b: BackendInput): number {
  const x = typeof a === "string" ? a : a.address;
  const y = typeof b === "string" ? b : b.address;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Two SRV records may name one target: it is one backend (the first record's weight). */
function dedupe(list: BackendInput[]): BackendInput[] {
  const seen = new Set<string>();
  return list.filter((b) => {
    const a = typeof b === "string" ? b : b.address;
    if (seen.has(a)) return false;
    seen.add(a);
    return true;
  });
}
