/**
 * The in-memory store across `divisor start --workers N`: the cluster primary owns
 * the buckets (the GcraStore / SlidingWindowStore of memory.ts, on the primary's
 * monotonic clock) and the workers ask it over the cluster IPC channel, so a key gets
 * exactly its limit however connections are spread over the workers.
 *
 * A worker batches the decisions asked within one turn of the event loop into one
 * message, and the primary answers each batch with one message. Every message
 * carries `divisorRateLimit`, apart from the admin API's `divisorAdmin` traffic.
 * Decisions the primary does not answer within the timeout (or with the channel
 * closed) are rejected, and the middleware's onStoreFailure answers them.
 */
import type { ExpositionWriter } from "../../observability/metrics/exposition.js";
import type { Worker } from "node:cluster";
import { type Decision, GcraStore, type RateLimitStore, SlidingWindowStore } from "./memory.js";

/** What the primary needs to build a middleware's store; the same JSON is its identity. */
export interface StoreSpec {
  readonly name: string;
  readonly algorithm: "gcra" | "sliding-window";
  readonly rate: number;
  readonly period: number;
  readonly burst: number;
  readonly maxKeys: number;
}

/** Worker to primary: decisions asked, flat: [id, store, key, id, store, key, ...]. */
export interface DecideMessage {
  divisorRateLimit: "decide";
  asks: (number | string)[];
}

/** Primary to worker: [id, allowed (0/1), remaining, resetMs, retryAfterMs, ...]; allowed -1 is an unknown store. */
export interface DecidedMessage {
  divisorRateLimit: "decided";
  answers: number[];
}

export type RateLimitMessage = DecideMessage | DecidedMessage;

function isRateLimitMessage(m: unknown): m is RateLimitMessage {
  return typeof m === "object" && m !== null && typeof (m as { divisorRateLimit?: unknown }).divisorRateLimit === "string";
}

/**
 * The primary's side: the buckets of every middleware, by name. A middleware whose
 * spec (algorithm, rate, period, burst, maxKeys) is unchanged keeps its counts across
 * reloads and worker restarts; a changed spec starts afresh.
 */
export class PrimaryRateLimits {
  private readonly byName = new Map<string, { spec: string; store: RateLimitStore }>();
  private readonly onMessage = (worker: Worker, message: unknown) => {
    if (!isRateLimitMessage(message) || message.divisorRateLimit !== "decide") return;
    const answers = this.decide(message.asks, performance.now());
    if (worker.isConnected()) worker.send({ divisorRateLimit: "decided", answers } satisfies DecidedMessage);
  };

  constructor(private readonly cluster: { on(event: "message", l: (w: Worker, m: unknown) => void): unknown; off(event: "message", l: (w: Worker, m: unknown) => void): unknown }) {
    cluster.on("message", this.onMessage);
  }

  /** The answers to a batch of asks, at `now` (ms of a monotonic clock). */
  decide(asks: readonly (number | string)[], now: number): number[] {
    const answers = new Array<number>((asks.length / 3) * 5);
    let o = 0;
    for (let i = 0; i + 2 < asks.length; i += 3) {
      answers[o++] = asks[i] as number;
      const store = this.store(asks[i + 1] as string);
      if (store === undefined) {
        answers[o++] = -1;
        answers[o++] = 0;
        answers[o++] = 0;
        answers[o++] = 0;
        continue;
      }
      const d = store.decide(asks[i + 2] as string, now);
      answers[o++] = d.allowed ? 1 : 0;
      answers[o++] = d.remaining;
      answers[o++] = d.resetMs;
      answers[o++] = d.retryAfterMs;
    }
    return answers;
  }

  private store(spec: string): RateLimitStore | undefined {
    // The spec is one JSON string per middleware: parsed once per name and options.
    const name = spec.slice(0, spec.indexOf("\u0000"));
    const kept = this.byName.get(name);
    if (kept !== undefined && kept.spec === spec) return kept.store;
    let s: StoreSpec;
    try {
      s = JSON.parse(spec.slice(name.length + 1)) as StoreSpec;
    } catch {
      return undefined;
    }
    const store = s.algorithm === "gcra" ? new GcraStore(s.rate, s.period, s.burst, s.maxKeys) : new SlidingWindowStore(s.rate, s.period, s.maxKeys);
    this.byName.set(name, { spec, store });
    return store;
  }

  /** The keys each in-memory rate limit holds here, in the primary (workers hold none under --workers). */
  writeMetrics(w: ExpositionWriter): void {
    if (this.byName.size === 0) return;
    w.family("divisor_rate_limit_keys", "gauge", "Keys the rate limit holds in memory.");
    for (const [name, { store }] of this.byName) w.sample([["middleware", name]], store.size);
  }

  close(): void {
    this.cluster.off("message", this.onMessage);
  }
}

interface Waiting {
  resolve(d: Decision): void;
  reject(err: Error): void;
}

type Send = (message: DecideMessage) => boolean;

/**
 * A worker's side, one per process: sends the asks of one event-loop turn as one
 * message and settles each decision with the primary's answer.
 */
class PrimaryChannel {
  private seq = 0;
  private asks: (number | string)[] = [];
  private readonly waiting = new Map<number, Waiting>();
  private flushing = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly flush = () => {
    this.flushing = false;
    const asks = this.asks;
    this.asks = [];
    if (!this.send({ divisorRateLimit: "decide", asks })) this.fail(asks, "the cluster primary is unreachable");
    else this.timer ??= setTimeout(this.expire, this.timeout);
  };
  private readonly expire = () => {
    this.timer = undefined;
    const now = performance.now();
    for (const [id, w] of this.waiting) if (now - this.sentAt.get(id)! >= this.timeout) this.settleError(id, w, "the cluster primary did not answer in time");
    if (this.waiting.size > 0) this.timer = setTimeout(this.expire, this.timeout);
  };
  private readonly sentAt = new Map<number, number>();

  constructor(
    private readonly send: Send,
    private readonly timeout: number,
    subscribe: (onMessage: (m: unknown) => void) => void,
  ) {
    subscribe((m) => {
      if (isRateLimitMessage(m) && m.divisorRateLimit === "decided") this.answer(m.answers);
    });
  }

  ask(spec: string, key: string): Promise<Decision> {
    const id = ++this.seq;
    this.asks.push(id, spec, key);
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(this.flush);
    }
    this.sentAt.set(id, performance.now());
    return new Promise<Decision>((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  private answer(answers: readonly number[]): void {
    for (let i = 0; i + 4 < answers.length; i += 5) {
      const id = answers[i]!;
      const w = this.waiting.get(id);
      if (w === undefined) continue; // timed out already
      this.waiting.delete(id);
      this.sentAt.delete(id);
      if (answers[i + 1] === -1) w.reject(new Error("the cluster primary refused the rate limit's options"));
      else w.resolve({ allowed: answers[i + 1] === 1, remaining: answers[i + 2]!, resetMs: answers[i + 3]!, retryAfterMs: answers[i + 4]! });
    }
    if (this.waiting.size === 0 && this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  private fail(asks: readonly (number | string)[], reason: string): void {
    for (let i = 0; i < asks.length; i += 3) {
      const id = asks[i] as number;
      const w = this.waiting.get(id);
      if (w !== undefined) this.settleError(id, w, reason);
    }
  }

  private settleError(id: number, w: Waiting, reason: string): void {
    this.waiting.delete(id);
    this.sentAt.delete(id);
    w.reject(new Error(reason));
  }
}

/** How long a worker waits for the primary's answer before onStoreFailure decides. */
export const PRIMARY_TIMEOUT_MS = 1000;

let channel: PrimaryChannel | undefined;

function ignore(): void {}

function workerChannel(): PrimaryChannel {
  channel ??= new PrimaryChannel(
    (message) => {
      if (process.connected !== true || process.send === undefined) return false;
      // The callback form never throws on a channel closing meanwhile; the decisions then time out.
      process.send(message, undefined, {}, ignore);
      return true;
    },
    PRIMARY_TIMEOUT_MS,
    (onMessage) => process.on("message", onMessage),
  );
  return channel;
}

/** A worker's store for one middleware: each decision one ask of the primary. */
export class ClusterStore {
  private readonly spec: string;
  private readonly channel = workerChannel();

  constructor(spec: StoreSpec) {
    const { name, ...options } = spec;
    this.spec = `${name}\u0000${JSON.stringify(options)}`;
  }

  decide(key: string): Promise<Decision> {
    return this.channel.ask(this.spec, key);
  }
}
