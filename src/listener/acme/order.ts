// One ACME order (RFC 8555 7.4) for one name, through acme-client: account, order,
// the challenge of the configured type, finalize with a CSR, download the chain.
// acme-client's HTTP layer is one axios instance per process; an AsyncLocalStorage
// context carries each order's own HTTPS agent (a private ACME CA) and collects the
// problem documents the server answered with, so errors keep their type.
import { AsyncLocalStorage } from "node:async_hooks";
import crypto from "node:crypto";
import https from "node:https";
import { createRequire } from "node:module";
import type { AcmeConfig } from "../../config/schema-acme.js";
import { DivisorError } from "../../errors.js";
import type { AcmeStorage } from "./storage.js";

const requireHere = createRequire(import.meta.url);
type AcmeClientModule = typeof import("acme-client");
type Challenge = { type: string; url: string; token: string; status: string };

/** A problem document an ACME server answered with (RFC 8555 6.7), and its Retry-After. */
export interface AcmeProblem {
  type: string;
  detail: string;
  status: number;
  /** Retry-After in ms, when the answer had one. */
  retryAfterMs: number | null;
}

/** An order that failed: the message, and the server's problem when it sent one (logged, and shown in the admin API). */
export class AcmeOrderError extends DivisorError {
  constructor(
    message: string,
    readonly problem: AcmeProblem | null,
  ) {
    super("ERR_ACME_ORDER", message);
  }
  get rateLimited(): boolean {
    return this.problem?.type === "urn:ietf:params:acme:error:rateLimited";
  }
}

interface OrderContext {
  agent: https.Agent | undefined;
  problems: AcmeProblem[];
}

const orderContext = new AsyncLocalStorage<OrderContext>();
let library: AcmeClientModule | null = null;

function parseRetryAfter(value: unknown): number | null {
  if (typeof value !== "string" || value === "") return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

/** acme-client, loaded on first use and hooked once into this module's order contexts. */
function acmeClient(): AcmeClientModule {
  if (library !== null) return library;
  const acme = requireHere("acme-client") as AcmeClientModule;
  const axios = acme.axios as typeof acme.axios & { defaults: { acmeSettings: { retryMaxAttempts: number } } };
  // Failed requests come back to the gateway's own per-name backoff (which honours
  // Retry-After) instead of acme-client sleeping inside an order.
  axios.defaults.acmeSettings.retryMaxAttempts = 0;
  axios.defaults.timeout = 30_000;
  axios.interceptors.request.use((config) => {
    const ctx = orderContext.getStore();
    if (ctx?.agent !== undefined) config.httpsAgent = ctx.agent;
    return config;
  });
  axios.interceptors.response.use((response) => {
    const ctx = orderContext.getStore();
    const data = response.data as { type?: unknown; detail?: unknown; status?: unknown; error?: { type?: unknown; detail?: unknown } } | undefined;
    if (ctx !== undefined && data !== undefined && data !== null && typeof data === "object") {
      // A problem answer (4xx/5xx), or an authorization/challenge that turned invalid with its error.
      const problem = response.status >= 400 ? data : data.status === "invalid" ? data.error : undefined;
      if (problem !== undefined && typeof problem.type === "string") {
        ctx.problems.push({ type: problem.type, detail: String(problem.detail ?? ""), status: response.status, retryAfterMs: parseRetryAfter(response.headers["retry-after"]) });
      }
    }
    return response;
  });
  library = acme;
  return acme;
}

/** What an order publishes and withdraws: the answers to its challenges. */
export interface ChallengePublisher {
  publishHttp01(token: string, keyAuthorization: string): Promise<void>;
  withdrawHttp01(token: string): Promise<void>;
  publishTlsAlpn01(name: string, cert: string, key: string): Promise<void>;
  withdrawTlsAlpn01(name: string): Promise<void>;
}

/** The ACME account of one directory, kept in storage so every instance uses one. */
export class AcmeAccount {
  private client: Promise<import("acme-client").Client> | null = null;
  private readonly agent: https.Agent | undefined;

  constructor(
    private readonly config: AcmeConfig,
    private readonly storage: AcmeStorage,
    ca: string | undefined,
  ) {
    this.agent = ca === undefined ? undefined : new https.Agent({ ca, keepAlive: true });
  }

  private key(): string {
    return `accounts/${crypto.createHash("sha256").update(this.config.directory).digest("hex").slice(0, 32)}.json`;
  }

  private run<T>(fn: () => Promise<T>): Promise<{ value: T } | { error: unknown; problems: AcmeProblem[] }> {
    const ctx: OrderContext = { agent: this.agent, problems: [] };
    return orderContext.run(ctx, () => fn().then((value) => ({ value }), (error: unknown) => ({ error, problems: ctx.problems })));
  }

  private async openClient(): Promise<import("acme-client").Client> {
    const acme = acmeClient();
    const stored = await this.storage.get(this.key());
    let saved: { key: string; url: string | null } | null = stored === null ? null : (JSON.parse(stored) as { key: string; url: string | null });
    if (saved === null) {
      saved = { key: (await acme.crypto.createPrivateEcdsaKey()).toString(), url: null };
    }
    const client = new acme.Client({
      directoryUrl: this.config.directory,
      accountKey: saved.key,
      ...(saved.url === null ? {} : { accountUrl: saved.url }),
      backoffAttempts: 30,
      backoffMin: 500,
      backoffMax: 5000,
    });
    if (saved.url === null) {
      await client.createAccount({ termsOfServiceAgreed: this.config.termsOfServiceAgreed, ...(this.config.email === undefined ? {} : { contact: [`mailto:${this.config.email}`] }) });
      await this.storage.put(this.key(), JSON.stringify({ key: saved.key, url: client.getAccountUrl() }));
    }
    return client;
  }

  /** Orders a certificate for `name`; resolves with its chain and key (PEM), or throws an AcmeOrderError. */
  async order(name: string, publisher: ChallengePublisher): Promise<{ cert: string; key: string }> {
    const result = await this.run(async () => {
      if (this.client === null) {
        this.client = this.openClient();
        this.client.catch(() => (this.client = null));
      }
      return this.orderWith(await this.client, name, publisher);
    });
    if ("value" in result) return result.value;
    const problem = result.problems.at(-1) ?? null;
    const message = (result.error as Error).message;
    throw new AcmeOrderError(problem !== null && problem.detail !== "" ? `${problem.type}: ${problem.detail}` : message, problem);
  }

  private async orderWith(client: import("acme-client").Client, name: string, publisher: ChallengePublisher): Promise<{ cert: string; key: string }> {
    const acme = acmeClient();
    const keyPem = this.config.keyType === "rsa-2048" ? await acme.crypto.createPrivateRsaKey(2048) : await acme.crypto.createPrivateEcdsaKey("P-256");
    const [, csr] = await acme.crypto.createCsr({ commonName: name, altNames: [name] }, keyPem);
    const order = await client.createOrder({ identifiers: [{ type: "dns", value: name }] });
    for (const authz of await client.getAuthorizations(order)) {
      if (authz.status === "valid") continue;
      const challenge = (authz.challenges as Challenge[]).find((c) => c.type === this.config.challenge);
      if (challenge === undefined) {
        throw new Error(`the ACME server offers no ${this.config.challenge} challenge for ${name} (it offers ${authz.challenges.map((c) => c.type).join(", ")}); choose another acme.challenge`);
      }
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge as never);
      if (challenge.type === "http-01") await publisher.publishHttp01(challenge.token, keyAuthorization);
      else {
        const [alpnKey, alpnCert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, await acme.crypto.createPrivateEcdsaKey("P-256"));
        await publisher.publishTlsAlpn01(name, alpnCert.toString(), alpnKey.toString());
      }
      try {
        await client.completeChallenge(challenge as never);
        await client.waitForValidStatus(challenge as never);
      } finally {
        if (challenge.type === "http-01") await publisher.withdrawHttp01(challenge.token).catch(() => {});
        else await publisher.withdrawTlsAlpn01(name).catch(() => {});
      }
    }
    const finalized = await client.finalizeOrder(order, csr);
    const cert = await client.getCertificate(finalized);
    return { cert, key: keyPem.toString() };
  }

  close(): void {
    this.agent?.destroy();
  }
}
