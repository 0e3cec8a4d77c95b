/**
 * The providers of a gateway: starts those of the configuration, restarts those whose
 * entry changed on reload, stops them on close; keeps each one's last good fragment and
 * merges them into the file's configuration (see merge.ts) for the gateway's swap.
 */
import { validateConfig } from "../config/load.js";
import type { DivisorConfig, ProviderEntryConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { describeFailure } from "../observability/logging.js";
import { cloneState, type MergeState, mergeBase, mergeFragment } from "./merge.js";
import { loadProviderType } from "./registry.js";
import type { ConfigFragment, ProviderContext, RunningProvider } from "./types.js";

/** The gateway as its providers' manager sees it. */
export interface ProviderHost {
  /** component "provider" */
  readonly logger: Logger;
  /** Providers' data changed (debounced): merge and swap, in the gateway's reload queue. */
  changed(): void;
}

/** A provider's state: "starting" (nothing yet), "ok", "refused" (its last fragment did not fit), "failed" (its source failed). */
export type ProviderStatus = "starting" | "ok" | "refused" | "failed";

/** A provider as the admin API, /readyz and /metrics show it. */
export interface ProviderSnapshot {
  name: string;
  type: string;
  state: ProviderStatus;
  /** The last refusal or failure (cleared by the next accepted state), or null. */
  lastError: string | null;
  lastErrorAt: string | null;
  /** When its data last went into force (ISO 8601), or null. */
  lastSuccessAt: string | null;
  updates: { accepted: number; refused: number };
  /** Failures its source reported (connection lost, malformed data). */
  errors: number;
  /** What its fragment in force holds. */
  holds: { routers: number; services: number; middlewares: number; tenants: number; backends: number };
}

/** How long a burst of updates is gathered before one swap, and the longest a steady stream of them waits. */
const DEBOUNCE_MS = 75;
const MAX_WAIT_MS = 500;

class Slot {
  running: RunningProvider | null = null;
  controller = new AbortController();
  good: ConfigFragment | null = null;
  goodJson = "";
  pending: ConfigFragment | null = null;
  pendingJson = "";
  /** The last fragment refused: sent again unchanged it is not tried again (until a reload, which may make it fit). */
  refusedFragment: ConfigFragment | null = null;
  refusedJson = "";
  state: ProviderStatus = "starting";
  /** Delivered a first state (taken or refused) or failed: /readyz stops waiting for it. */
  settled = false;
  lastError: string | null = null;
  lastErrorAt = 0;
  /** A failure reported after the last update: it outlives that update's commit. */
  failure: string | null = null;
  lastSuccessAt = 0;
  accepted = 0;
  refused = 0;
  errors = 0;

  constructor(
    readonly name: string,
    public entry: ProviderEntryConfig,
    public key: string,
  ) {}

  refuse(err: unknown, log: Logger): void {
    const message = err instanceof Error ? err.message : String(err);
    if (this.pending !== null) {
      this.refusedFragment = this.pending;
      this.refusedJson = this.pendingJson;
    }
    this.pending = null;
    this.pendingJson = "";
    this.state = "refused";
    this.settled = true;
    this.refused++;
    this.lastError = message;
    this.lastErrorAt = Date.now();
    log.error({ provider: this.name, ...describeFailure(err) }, "provider's configuration refused; its last good state stays in force");
  }
}

/** One composition of the file and providers' fragments, waiting for the gateway's swap. */
export interface Composition {
  readonly config: DivisorConfig;
  /** Providers whose new fragment it takes. */
  readonly taken: readonly Slot[];
  /** Providers whose new fragment it refused, and why. */
  readonly refused: readonly (readonly [Slot, unknown])[];
}

export class ProviderManager {
  private slots = new Map<string, Slot>();
  private order: string[] = [];
  private timer: NodeJS.Timeout | null = null;
  private firstPendingAt = 0;
  private closed = false;

  constructor(private readonly host: ProviderHost) {}

  /** Whether any provider is configured or running. */
  get active(): boolean {
    return this.slots.size > 0;
  }

  /**
   * Merge `base` (the file's configuration, `source` in errors) with the fragments of the
   * providers `entries` names (in their order): each provider's new fragment if it fits,
   * else its last good one, else nothing. Nothing changes until `commit`.
   */
  compose(base: DivisorConfig, source: string, entries: readonly ProviderEntryConfig[] = base.providers): Composition {
    let state: MergeState | null = null;
    let config = base;
    const taken: Slot[] = [];
    const refused: [Slot, unknown][] = [];
    for (const entry of entries) {
      const slot = this.slots.get(providerName(entry));
      if (slot === undefined) continue;
      for (const fragment of [slot.pending, slot.good]) {
        if (fragment === null) continue;
        state ??= mergeBase(base, source);
        const trial = cloneState(state);
        try {
          mergeFragment(trial, slot.name, fragment);
          config = validateConfig(trial.config, `provider "${slot.name}"`);
          state = trial;
          if (fragment === slot.pending) taken.push(slot);
          break;
        } catch (err) {
          if (fragment === slot.pending) refused.push([slot, err]);
          else this.host.logger.warn({ provider: slot.name, ...describeFailure(err) }, "provider's last good state no longer fits the configuration; it contributes nothing until it sends one that does");
        }
      }
    }
    return { config, taken, refused };
  }

  /** The composition is in force: take its fragments, record its refusals. */
  commit(composition: Composition): void {
    const now = Date.now();
    for (const slot of composition.taken) {
      if (slot.pending === null) continue;
      slot.good = slot.pending;
      slot.goodJson = slot.pendingJson;
      slot.pending = null;
      slot.pendingJson = "";
      slot.refusedFragment = null;
      slot.refusedJson = "";
      slot.state = slot.failure === null ? "ok" : "failed";
      slot.settled = true;
      slot.accepted++;
      slot.lastError = slot.failure;
      slot.lastSuccessAt = now;
      this.host.logger.info({ provider: slot.name, ...counts(slot.good) }, "provider's configuration in force");
    }
    for (const [slot, err] of composition.refused) slot.refuse(err, this.host.logger);
  }

  /** The gateway could not compile the composition: its new fragments are refused (the next compose leaves them out). */
  reject(composition: Composition, err: unknown): void {
    // The compiler locates its problems in "<config>": they come from these providers' new fragments.
    const who = composition.taken.map((s) => `provider "${s.name}"`).join(" or ");
    const blamed = err instanceof ConfigError ? new ConfigError(err.issues.map((i) => (i.file === "<config>" ? { ...i, file: who } : i))) : err;
    for (const slot of composition.taken) slot.refuse(blamed, this.host.logger);
    for (const [slot, e] of composition.refused) slot.refuse(e, this.host.logger);
  }

  /** A reload may make refused fragments fit (the file now defines what they refer to): compose them again. */
  retryRefused(): void {
    for (const slot of this.slots.values()) {
      if (slot.refusedFragment === null || slot.pending !== null) continue;
      slot.pending = slot.refusedFragment;
      slot.pendingJson = slot.refusedJson;
      slot.refusedFragment = null;
      slot.refusedJson = "";
    }
  }

  /** Whether a provider has a fragment waiting to be composed. */
  get hasPending(): boolean {
    for (const slot of this.slots.values()) if (slot.pending !== null) return true;
    return false;
  }

  /**
   * Make the running providers those of `entries`: stop removed ones (their fragments
   * go), restart changed ones (their last good fragment stays until the new one sends
   * its first state), start new ones.
   */
  async sync(entries: readonly ProviderEntryConfig[]): Promise<void> {
    if (this.closed) return;
    const wanted = new Map(entries.map((e) => [providerName(e), e]));
    for (const [name, slot] of this.slots) {
      if (wanted.has(name)) continue;
      this.slots.delete(name);
      await this.stop(slot);
      this.host.logger.info({ provider: name }, "provider removed");
    }
    this.order = [...wanted.keys()];
    const starts: Promise<void>[] = [];
    for (const [name, entry] of wanted) {
      const key = JSON.stringify(entry);
      let slot = this.slots.get(name);
      if (slot !== undefined && slot.key === key) continue;
      if (slot !== undefined) {
        await this.stop(slot);
        slot.entry = entry;
        slot.key = key;
        slot.controller = new AbortController();
        slot.state = "starting";
        this.host.logger.info({ provider: name }, "provider's configuration changed; restarting it");
      } else {
        slot = new Slot(name, entry, key);
        this.slots.set(name, slot);
      }
      starts.push(this.start(slot));
    }
    await Promise.all(starts);
  }

  private async start(slot: Slot): Promise<void> {
    const { controller } = slot;
    const logger = this.host.logger.child({ provider: slot.name });
    const live = () => !controller.signal.aborted && !this.closed;
    const context: ProviderContext = {
      name: slot.name,
      logger,
      signal: controller.signal,
      update: (fragment) => {
        if (!live()) return;
        slot.failure = null;
        const json = JSON.stringify(fragment);
        if (json === slot.goodJson) {
          // The same state again (a reconnected source): nothing to swap, but the provider is fine.
          slot.pending = null;
          slot.pendingJson = "";
          if (slot.state !== "refused") {
            slot.state = "ok";
            slot.lastError = null;
          }
          slot.settled = true;
          slot.lastSuccessAt = Date.now();
          return;
        }
        // A source that repeats itself (DNS at each TTL) is refused once, not at each repetition.
        if (json === slot.pendingJson || json === slot.refusedJson) return;
        slot.pending = JSON.parse(json) as ConfigFragment;
        slot.pendingJson = json;
        this.schedule();
      },
      failed: (error) => {
        if (!live()) return;
        slot.state = "failed";
        slot.settled = true;
        slot.errors++;
        slot.failure = error.message;
        slot.lastError = error.message;
        slot.lastErrorAt = Date.now();
        logger.warn({ err: error.message, holding: slot.good === null ? "nothing" : counts(slot.good) }, "provider failed; its last good state stays in force");
      },
    };
    try {
      const type = await loadProviderType(slot.entry.type);
      const running = await type.start(slot.entry, context);
      if (controller.signal.aborted || this.closed) await running.close();
      else slot.running = running;
      logger.info({ type: slot.entry.type }, "provider started");
    } catch (err) {
      context.failed(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private async stop(slot: Slot): Promise<void> {
    slot.controller.abort();
    const running = slot.running;
    slot.running = null;
    if (running === null) return;
    try {
      await running.close();
    } catch (err) {
      this.host.logger.warn({ provider: slot.name, ...describeFailure(err) }, "provider did not stop cleanly");
    }
  }

  private schedule(): void {
    if (this.closed) return;
    const now = Date.now();
    if (this.firstPendingAt === 0) this.firstPendingAt = now;
    if (this.timer !== null) clearTimeout(this.timer);
    const delay = Math.max(0, Math.min(DEBOUNCE_MS, this.firstPendingAt + MAX_WAIT_MS - now));
    this.timer = setTimeout(() => {
      this.timer = null;
      this.firstPendingAt = 0;
      this.host.changed();
    }, delay);
  }

  /** Whether /readyz may say ready: every provider delivered its first state or failed. */
  waitingFor(): string[] {
    return this.order.filter((name) => this.slots.get(name)?.settled === false);
  }

  snapshots(): ProviderSnapshot[] {
    const iso = (t: number) => (t === 0 ? null : new Date(t).toISOString());
    return this.order.flatMap((name) => {
      const s = this.slots.get(name);
      if (s === undefined) return [];
      return [
        {
          name,
          type: s.entry.type,
          state: s.state,
          lastError: s.lastError,
          lastErrorAt: s.lastError === null ? null : iso(s.lastErrorAt),
          lastSuccessAt: iso(s.lastSuccessAt),
          updates: { accepted: s.accepted, refused: s.refused },
          errors: s.errors,
          holds: counts(s.good),
        },
      ];
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await Promise.all([...this.slots.values()].map((s) => this.stop(s)));
  }
}

/** A provider's name: its `name`, else its type. */
export function providerName(entry: { type: string; name?: string | undefined }): string {
  return entry.name ?? entry.type;
}

function counts(f: ConfigFragment | null): ProviderSnapshot["holds"] {
  const n = (o: object | undefined) => (o === undefined ? 0 : Object.keys(o).length);
  let backends = 0;
  for (const list of Object.values(f?.backends ?? {})) backends += list.length;
  return { routers: n(f?.routers), services: n(f?.services), middlewares: n(f?.middlewares), tenants: n(f?.tenants), backends };
}
