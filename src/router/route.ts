/** A router compiled for the table, and its entries (one per host pattern). */
import type { RouterConfig } from "../config/schema.js";
import { type HeaderCondition, describeHeader } from "./conditions.js";
import type { HostPattern } from "./host.js";
import { type CompiledPath, PATH_CATEGORY, describePath } from "./path.js";
import { type Ranked, packSpecificity } from "./specificity.js";

/** A router as the table holds it. */
export interface CompiledRoute<T> {
  /** Router name; tenant routers are "<tenant>/<router>". */
  readonly name: string;
  readonly tenant: string | undefined;
  /** The engine's payload (its compiled pipeline). */
  readonly target: T;
  /** Configured priority, 0 when not set. */
  readonly priority: number;
  /** Specificity with its most specific host (see specificity.ts); higher wins after priority. */
  readonly specificity: number;
  readonly config: RouterConfig;
  /** Effective host patterns: the router's, else its tenant's, else `*`. */
  readonly hosts: readonly HostPattern[];
  readonly path: CompiledPath;
  /** Allowed methods, or null for any. */
  readonly methods: readonly string[] | null;
  /** Header conditions, or null for none. */
  readonly headers: readonly HeaderCondition[] | null;
  /** One line, e.g. "hosts api.example.com; path prefix /v1; methods GET, HEAD; priority 0". */
  describe(): string;
}

export class Route<T> implements CompiledRoute<T>, Ranked {
  readonly specificity: number;
  readonly entries: RouteEntry<T>[];
  constructor(
    readonly name: string,
    readonly tenant: string | undefined,
    readonly target: T,
    readonly config: RouterConfig,
    readonly hosts: readonly HostPattern[],
    readonly path: CompiledPath,
    readonly methods: readonly string[] | null,
    readonly headers: readonly HeaderCondition[] | null,
  ) {
    this.entries = hosts.map((h) => new RouteEntry(this, h));
    this.specificity = Math.max(...this.entries.map((e) => e.specificity));
  }

  get priority(): number {
    return this.config.priority ?? 0;
  }

  describe(): string {
    const parts = [`hosts ${this.hosts.map((h) => h.text).join(", ")}`, `path ${describePath(this.path)}`];
    if (this.methods !== null) parts.push(`methods ${this.methods.join(", ")}`);
    if (this.headers !== null) parts.push(`headers ${this.headers.map(describeHeader).join(", ")}`);
    parts.push(`priority ${this.priority}`);
    return parts.join("; ");
  }
}

/** A router under one of its host patterns: the unit the table indexes and ranks. */
export class RouteEntry<T> implements Ranked {
  readonly name: string;
  readonly priority: number;
  readonly specificity: number;
  /** Position in the table's precedence order (lower wins); set once the table is sorted. */
  rank = 0;
  // Copied from the route so the hot path reads one object.
  readonly path: CompiledPath;
  readonly methods: readonly string[] | null;
  readonly headers: readonly HeaderCondition[] | null;
  constructor(
    readonly route: Route<T>,
    readonly host: HostPattern,
  ) {
    this.name = route.name;
    this.priority = route.priority;
    this.path = route.path;
    this.methods = route.methods;
    this.headers = route.headers;
    this.specificity = packSpecificity({
      host: host.rank,
      category: PATH_CATEGORY[route.path.kind],
      detail: route.path.detail,
      methods: route.methods?.length ?? 0,
      headers: route.headers?.length ?? 0,
    });
  }
}
