/**
 * The provider contract. A provider is a source of dynamic configuration (DESIGN.md):
 * it only produces config fragments; it never touches listeners, tables or sockets.
 * Every fragment goes through the same validate → compile → swap path as the file,
 * so a provider's bad data is refused like a bad file, and the last good state stays.
 */
import type { z } from "zod";
import type { DivisorConfigInput } from "../config/schema.js";
import type { Logger } from "../observability/logger.js";

type Input = DivisorConfigInput;
type Entries<K extends keyof Input> = NonNullable<Input[K]>;

/** A certificate as a provider reports it: the same shape as `listeners[].tls.certificates[]` (paths, never key material). */
export type CertificateInput = NonNullable<NonNullable<Entries<"listeners">[number]["tls"]>["certificates"]>[number];

/** A backend as a provider reports it: the same shapes as `services.<name>.backends[]`. */
export type BackendInput = NonNullable<Entries<"services">[string]["backends"]>[number];

/**
 * What one provider contributes, in full: each update replaces the provider's previous
 * fragment. Names must not collide with the file's or another provider's names.
 */
export interface ConfigFragment {
  /** Whole routers (global, not in a tenant). */
  routers?: Entries<"routers">;
  /** Whole services. */
  services?: Entries<"services">;
  /** Whole middlewares. */
  middlewares?: Entries<"middlewares">;
  /** Whole tenants. */
  tenants?: Entries<"tenants">;
  /**
   * Backends of services declared elsewhere (in the file, say) that ask for them with
   * `discovery`: service name → its backends now. An empty list is a valid answer
   * (the service answers 503 until one comes back).
   */
  backends?: Record<string, BackendInput[]>;
  /**
   * Certificates (from a Kubernetes TLS Secret, say) added to every HTTPS listener,
   * after the listener's own, and chosen like them by SNI (their `names`, else their
   * subjectAltNames). Give files (mode 0600), not PEM text, so no key material enters
   * the merged configuration. A listener's defaultCertificate stays its own.
   */
  certificates?: CertificateInput[];
}

/** What a running provider is given. */
export interface ProviderContext {
  /** The provider's name (its `name` in `providers:`, or its type). */
  readonly name: string;
  /** A child logger with `component: "provider"` and the provider's name. */
  readonly logger: Logger;
  /** Aborted when the provider is stopped (gateway closed, or its config removed or changed). */
  readonly signal: AbortSignal;
  /**
   * The provider's whole current state. Cheap to call often: the gateway debounces
   * bursts and swaps only when the merged configuration differs. Refused (kept as
   * the last good state, with the reason in logs, metrics and /readyz) when the merge
   * does not validate or a name collides.
   */
  update(fragment: ConfigFragment): void;
  /**
   * The source failed (connection lost, malformed document): the last good fragment
   * stays in force; the error shows in logs, metrics and /readyz until the next update.
   */
  failed(error: Error): void;
}

/** A started provider. */
export interface RunningProvider {
  /** Stop watching; release connections, leases and timers. */
  close(): Promise<void>;
}

/**
 * A provider type, registered by name (`providers: [{ type: <type>, ... }]`), with
 * its own config schema beside its code.
 */
export interface ProviderType<C> {
  readonly type: string;
  /** The schema of its entry in `providers:` (a strict object with `type: z.literal(<type>)`). */
  readonly schema: z.ZodType<C>;
  /** Start watching; the first update should come as soon as the source answers. */
  start(config: C, context: ProviderContext): Promise<RunningProvider>;
}
