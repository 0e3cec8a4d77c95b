// The ACME certificates of one HTTPS listener: loads them from storage, orders the
// missing ones (one instance at a time per name, under the storage's lock), renews
// them before expiry, orders on demand for allowed names, and backs off per name
// after failures. Handshake-time and timer work only; nothing here runs per request.
import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import type { AcmeConfig } from "../../config/schema-acme.js";
import type { Logger } from "../../observability/logger.js";
import { readPem, type PemPair } from "../tls.js";
import { AcmeAccount, AcmeOrderError, type AcmeProblem, type ChallengePublisher } from "./order.js";
import type { AcmeRegistry } from "./registry.js";
import { type AcmeStats, bump } from "./stats.js";
import { type AcmeStorage, openStorage } from "./storage.js";

/** An issued certificate, as kept in storage and served. */
export interface ManagedCertificate extends PemPair {
  readonly name: string;
  readonly notBefore: number;
  readonly notAfter: number;
}

/** How long an order may hold a name's lock (an instance that dies lets it go then). */
const LOCK_TTL_MS = 10 * 60_000;
/** How often an instance waiting for another's order looks at the storage again. */
const LOCK_POLL_MS = 500;
/** Renewal timers fire up to this share of a certificate's lifetime before its renewal time. */
const RENEW_JITTER = 0.1;
/** Longest a timer may wait in Node (2^31-1 ms); later renewals re-arm. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** How long an ask endpoint's answer is remembered, and how long it may take. */
const ASK_CACHE_MS = 60_000;
const ASK_TIMEOUT_MS = 5_000;

/** When a certificate is due for renewal (ms since the epoch), before jitter. */
export function renewalTime(notBefore: number, notAfter: number, renewBefore: number): number {
  const lifetime = Math.max(0, notAfter - notBefore);
  return notAfter - Math.min(renewBefore, lifetime / 3);
}

/**
 * How long to wait before the next order of a name after its `failures`-th failure in
 * a row: doubling from backoff.initial up to backoff.max, and at least the server's
 * Retry-After (a rateLimited answer says when orders are accepted again).
 */
export function backoffDelay(failures: number, backoff: { initial: number; max: number }, problem: AcmeProblem | null): number {
  const wait = Math.min(backoff.max, backoff.initial * 2 ** Math.max(0, failures - 1));
  return problem?.retryAfterMs == null ? wait : Math.max(wait, problem.retryAfterMs);
}

/** Whether `name` matches one of the patterns (exact, or "*." + exactly one more label). */
export function allowedByPatterns(name: string, patterns: readonly string[]): boolean {
  for (const p of patterns) {
    if (p === name) return true;
    if (p.startsWith("*.")) {
      const dot = name.indexOf(".");
      if (dot > 0 && name.slice(dot + 1) === p.slice(2)) return true;
    }
  }
  return false;
}

interface Failure {
  count: number;
  /** No order before this time (ms since the epoch). */
  until: number;
  error: string;
}

export class AcmeManager implements ChallengePublisher {
  config: AcmeConfig;
  readonly storage: AcmeStorage;
  private readonly account: AcmeAccount;
  private readonly certs = new Map<string, ManagedCertificate>();
  private readonly renewTimers = new Map<string, NodeJS.Timeout>();
  private readonly inflight = new Map<string, Promise<boolean>>();
  private readonly failures = new Map<string, Failure>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly http01Answers = new Map<string, string>();
  private readonly alpnContexts = new Map<string, tls.SecureContext>();
  private readonly askCache = new Map<string, { allowed: boolean; until: number }>();
  private onDemandStarts: number[] = [];
  private closed = false;

  constructor(
    config: AcmeConfig,
    readonly listener: string,
    private readonly log: Logger,
    readonly stats: AcmeStats,
    private readonly registry: AcmeRegistry,
    /** Called when the served certificates change (the listener rebuilds its set). */
    private readonly changed: () => void,
  ) {
    this.config = config;
    this.storage = openStorage(config.storage);
    this.account = new AcmeAccount(config, this.storage, config.caCertificate === undefined ? undefined : readPem(config.caCertificate));
    registry.managers.add(this);
  }

  /** Loads or orders every configured host (in the background: the listener serves meanwhile). */
  start(): void {
    for (const name of this.config.hosts) void this.ensure(name, "start");
  }

  /** Takes a reloaded config with the same directory, storage and CA (see acmeIdentity); new hosts are ordered. */
  update(config: AcmeConfig): void {
    this.config = config;
    this.start();
  }

  /** The certificates to serve, in a stable order. */
  pems(): PemPair[] {
    return [...this.certs.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  get certificateCount(): number {
    return this.certs.size;
  }

  /** The managed certificates, for the admin API. */
  managed(): readonly ManagedCertificate[] {
    return [...this.certs.values()];
  }

  /** Per-name failure state, for the admin API and logs. */
  failuresOf(): ReadonlyMap<string, Readonly<Failure>> {
    return this.failures;
  }

  /**
   * A handshake for `name`, which no certificate names: order one when on-demand
   * allows it, waiting at most onDemand.wait. Resolves true when a certificate for
   * `name` is now served.
   */
  async onDemand(name: string): Promise<boolean> {
    const od = this.config.onDemand;
    if (od === undefined || this.closed) return false;
    if (!allowedByPatterns(name, od.allow)) {
      bump(this.stats.onDemandRefusals, "not-allowed");
      return false;
    }
    if (!this.inflight.has(name)) {
      const failure = this.failures.get(name);
      if (failure !== undefined && failure.until > Date.now()) {
        bump(this.stats.onDemandRefusals, "backoff");
        return false;
      }
      if (od.ask !== undefined && !(await this.ask(od.ask, name))) {
        bump(this.stats.onDemandRefusals, "ask-refused");
        return false;
      }
    }
    // A stored certificate (issued before a restart, or by another instance) costs no order.
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), od.wait);
      timer.unref();
    });
    const result = await Promise.race([this.ensure(name, "on-demand"), waited]);
    clearTimeout(timer);
    return result;
  }

  private async ask(url: string, name: string): Promise<boolean> {
    const cached = this.askCache.get(name);
    if (cached !== undefined && cached.until > Date.now()) return cached.allowed;
    let allowed = false;
    try {
      const u = new URL(url);
      u.searchParams.set("domain", name);
      const res = await fetch(u, { signal: AbortSignal.timeout(ASK_TIMEOUT_MS) });
      await res.body?.cancel();
      allowed = res.status >= 200 && res.status < 300;
    } catch (err) {
      this.log.warn({ listener: this.listener, name, err: (err as Error).message }, "the on-demand ask endpoint did not answer; no certificate is ordered");
    }
    this.askCache.set(name, { allowed, until: Date.now() + ASK_CACHE_MS });
    return allowed;
  }

  /** Whether the on-demand rate limit lets one more order start now (and counts it). */
  private onDemandSlot(): boolean {
    const od = this.config.onDemand!;
    const now = Date.now();
    this.onDemandStarts = this.onDemandStarts.filter((t) => t > now - od.rateLimit.per);
    if (this.onDemandStarts.length >= od.rateLimit.orders) return false;
    this.onDemandStarts.push(now);
    return true;
  }

  /** Makes sure `name` has a fresh certificate: from memory, storage, or a new order. Concurrent calls share one. */
  ensure(name: string, why: "start" | "renew" | "on-demand" | "retry"): Promise<boolean> {
    const running = this.inflight.get(name);
    if (running !== undefined) return running;
    const p = this.obtain(name, why).finally(() => this.inflight.delete(name));
    this.inflight.set(name, p);
    return p;
  }

  /** Whether a certificate is in its renewal window (which starts where the earliest jittered renewal timer fires). */
  private due(c: ManagedCertificate): boolean {
    return Date.now() >= renewalTime(c.notBefore, c.notAfter, this.config.renewBefore) - (c.notAfter - c.notBefore) * RENEW_JITTER;
  }

  private async stored(name: string): Promise<ManagedCertificate | null> {
    const text = await this.storage.get(`certificates/${name}.json`);
    if (text === null) return null;
    try {
      return parseManaged(name, JSON.parse(text) as PemPair);
    } catch (err) {
      this.log.warn({ listener: this.listener, name, storage: this.storage.kind, err: (err as Error).message }, "stored ACME certificate does not load; ordering a new one");
      return null;
    }
  }

  private async obtain(name: string, why: "start" | "renew" | "on-demand" | "retry"): Promise<boolean> {
    if (this.closed) return false;
    const held = this.certs.get(name);
    if (held !== undefined && !this.due(held)) return true;
    try {
      const fromStorage = await this.fresh(name);
      if (fromStorage) return true;
      const failure = this.failures.get(name);
      if (failure !== undefined && failure.until > Date.now()) {
        this.scheduleRetry(name, failure.until);
        return false;
      }
      if (why === "on-demand" && !this.onDemandSlot()) {
        bump(this.stats.onDemandRefusals, "rate-limited");
        return false;
      }
      return await this.orderLocked(name, held !== undefined);
    } catch (err) {
      this.failed(name, err);
      return false;
    }
  }

  /** Installs the stored certificate when it is newer than ours and not due; whether it did. */
  private async fresh(name: string): Promise<boolean> {
    const stored = await this.stored(name);
    if (stored === null || this.due(stored)) return false;
    const held = this.certs.get(name);
    if (held === undefined || stored.notAfter > held.notAfter) this.install(stored);
    return true;
  }

  /** Orders under the name's lock; while another instance holds it, waits for its certificate. */
  private async orderLocked(name: string, renewal: boolean): Promise<boolean> {
    const deadline = Date.now() + LOCK_TTL_MS;
    for (;;) {
      if (this.closed) return false;
      const unlock = await this.storage.tryLock(`locks/${name}`, LOCK_TTL_MS);
      if (unlock !== null) {
        try {
          // The holder before us may just have stored one.
          if (await this.fresh(name)) return true;
          this.log.info({ listener: this.listener, name, directory: this.config.directory, challenge: this.config.challenge, renewal }, "ordering an ACME certificate");
          const pair = await this.account.order(name, this);
          const cert = parseManaged(name, pair);
          await this.storage.put(`certificates/${name}.json`, JSON.stringify({ cert: cert.cert, key: cert.key }));
          bump(this.stats.orders, "issued");
          if (renewal) this.stats.renewals++;
          this.failures.delete(name);
          this.install(cert);
          this.log.info({ listener: this.listener, name, notAfter: new Date(cert.notAfter).toISOString() }, "ACME certificate issued");
          return true;
        } finally {
          await unlock().catch(() => {});
        }
      }
      if (await this.fresh(name)) return true;
      if (Date.now() > deadline) throw new Error(`another instance has held the order lock for ${name} for ${LOCK_TTL_MS / 60_000} minutes without storing a certificate`);
      await new Promise((r) => setTimeout(r, LOCK_POLL_MS));
    }
  }

  private failed(name: string, err: unknown): void {
    if (this.closed) return;
    const previous = this.failures.get(name);
    const count = (previous?.count ?? 0) + 1;
    const rateLimited = err instanceof AcmeOrderError && err.rateLimited;
    const wait = backoffDelay(count, this.config.backoff, err instanceof AcmeOrderError ? err.problem : null);
    const message = (err as Error).message;
    const until = Date.now() + wait;
    this.failures.set(name, { count, until, error: message });
    bump(this.stats.orders, rateLimited ? "rate-limited" : "failed");
    this.log.error(
      { listener: this.listener, name, directory: this.config.directory, failures: count, retryAt: new Date(until).toISOString(), problem: err instanceof AcmeOrderError ? err.problem?.type : undefined, err: message },
      rateLimited ? "the ACME server rate-limits orders for this name; waiting before the next" : "ACME order failed; retrying after a backoff",
    );
    // Configured names and names whose certificate needs renewal are retried on their own; on-demand ones at their next handshake.
    if (this.config.hosts.includes(name) || this.certs.has(name)) this.scheduleRetry(name, until);
  }

  private scheduleRetry(name: string, at: number): void {
    if (this.closed || this.retryTimers.has(name)) return;
    const t = setTimeout(() => {
      this.retryTimers.delete(name);
      void this.ensure(name, "retry");
    }, Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now())));
    t.unref();
    this.retryTimers.set(name, t);
  }

  private install(cert: ManagedCertificate): void {
    this.certs.set(cert.name, cert);
    this.changed();
    const old = this.renewTimers.get(cert.name);
    if (old !== undefined) clearTimeout(old);
    const lifetime = cert.notAfter - cert.notBefore;
    // Jitter earlier by up to 10% of the lifetime, so instances and names spread out.
    const at = renewalTime(cert.notBefore, cert.notAfter, this.config.renewBefore) - Math.random() * lifetime * RENEW_JITTER;
    const wait = Math.max(0, at - Date.now());
    const t = setTimeout(() => {
      this.renewTimers.delete(cert.name);
      if (wait > MAX_TIMER_MS) this.install(cert);
      else void this.ensure(cert.name, "renew");
    }, Math.min(MAX_TIMER_MS, wait));
    t.unref();
    this.renewTimers.set(cert.name, t);
  }

  // ------------------------------------------------------------ challenges

  async publishHttp01(token: string, keyAuthorization: string): Promise<void> {
    this.http01Answers.set(token, keyAuthorization);
    await this.storage.put(`challenges/http-01/${token}`, keyAuthorization);
  }

  async withdrawHttp01(token: string): Promise<void> {
    this.http01Answers.delete(token);
    await this.storage.delete(`challenges/http-01/${token}`);
  }

  async publishTlsAlpn01(name: string, cert: string, key: string): Promise<void> {
    this.alpnContexts.set(name, alpnContext(cert, key));
    await this.storage.put(`challenges/tls-alpn-01/${name}.json`, JSON.stringify({ cert, key }));
  }

  async withdrawTlsAlpn01(name: string): Promise<void> {
    this.alpnContexts.delete(name);
    await this.storage.delete(`challenges/tls-alpn-01/${name}.json`);
  }

  /** The key authorization for an HTTP-01 token of an order of ours or of another instance sharing the storage. */
  async http01(token: string): Promise<string | null> {
    return this.http01Answers.get(token) ?? (await this.storage.get(`challenges/http-01/${token}`).catch(() => null));
  }

  async tlsAlpn01(name: string): Promise<tls.SecureContext | null> {
    const local = this.alpnContexts.get(name);
    if (local !== undefined) return local;
    const text = await this.storage.get(`challenges/tls-alpn-01/${name}.json`).catch(() => null);
    if (text === null) return null;
    const pair = JSON.parse(text) as PemPair;
    return alpnContext(pair.cert, pair.key);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.registry.managers.delete(this);
    for (const t of this.renewTimers.values()) clearTimeout(t);
    for (const t of this.retryTimers.values()) clearTimeout(t);
    this.renewTimers.clear();
    this.retryTimers.clear();
    // Orders in flight are not awaited (one may poll its challenge for minutes): their
    // storage calls fail once it is closed, and the lock expires on its own.
    this.account.close();
    await this.storage.close();
  }
}

function parseManaged(name: string, pair: PemPair): ManagedCertificate {
  const x509 = new X509Certificate(pair.cert);
  return { name, cert: pair.cert, key: pair.key, notBefore: Date.parse(x509.validFrom), notAfter: Date.parse(x509.validTo) };
}

/** The context a tls-alpn-01 validation gets: the challenge certificate, and ALPN acme-tls/1 only (RFC 8737 3). */
function alpnContext(cert: string, key: string): tls.SecureContext {
  return tls.createSecureContext({ cert, key, minVersion: "TLSv1.2" });
}
