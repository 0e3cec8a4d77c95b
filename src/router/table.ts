// Hot path: the router table, searched once per request.
import { HostBucket, type TrieNode } from "./bucket.js";
import { headersPass, methodAllowed } from "./conditions.js";
import { explainRequest } from "./explain.js";
import { decodeParam, groupParams } from "./path.js";
import type { CompiledRoute, Route, RouteEntry } from "./route.js";
import { comparePrecedence } from "./specificity.js";

export type { CompiledRoute } from "./route.js";

/** What the table needs from a request. */
export interface MatchRequest {
  /** Lowercased, port already stripped, trailing dot removed. */
  host: string;
  /** Raw path (no query), as received. */
  path: string;
  method: string;
  /** Value of a request header (name lowercase), or undefined. */
  header(name: string): string | undefined;
}

/** The router chosen for a request, with what its path captured (null when nothing). */
export interface RouteMatch<T> {
  route: CompiledRoute<T>;
  params: Record<string, string> | null;
}

/** One line of `divisor explain`: a router and why it was or was not chosen. */
export interface ExplainCandidate {
  name: string;
  matched: boolean;
  reason: string;
}

/**
 * The immutable router table, built by `compileRouterTable`. A request looks up its
 * host in a map of exact hosts, then in the wildcard suffixes of its host from the
 * longest, then among any-host routers; in each it tries exact paths (a map), the
 * segment trie of prefixes and patterns, regexes in precedence order, and routers
 * without a path condition. Every candidate has a global rank, so a priority on an
 * any-host router still beats an exact-host one, and whole buckets and subtrees
 * whose best rank cannot win are skipped.
 *
 * `match` reuses scratch fields of the table: it is synchronous and not reentrant.
 *
 * @example
 * const m = table.match({ host: "api.example.com", path: "/users/7", method: "GET", header: (n) => headers.get(n) });
 * if (m === undefined) return notFound();
 * m.route.target; // the engine's pipeline
 * m.params;       // { id: "7" }
 */
export class RouterTable<T> {
  /** Every router, in precedence order (by its most specific host). */
  readonly routes: readonly CompiledRoute<T>[];
  private readonly exactHosts = new Map<string, HostBucket<T>>();
  private readonly wildcardHosts: Map<string, HostBucket<T>> | null;
  private readonly wildcardMinRank: number;
  private readonly anyHost: HostBucket<T> | null;

  // Scratch state of the current match.
  private readonly segs: string[] = [];
  private readonly offs: number[] = [];
  private nSegs = -1;
  private best: RouteEntry<T> | null = null;
  private bestRank = Number.POSITIVE_INFINITY;

  /** @internal Use `compileRouterTable`, which validates the routers first. */
  constructor(routes: readonly Route<T>[]) {
    this.routes = [...routes].sort(comparePrecedence);
    const entries = routes.flatMap((r) => r.entries).sort(comparePrecedence);
    const wildcards = new Map<string, HostBucket<T>>();
    let any: HostBucket<T> | null = null;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      e.rank = i;
      if (e.host.kind === "any") (any ??= new HostBucket()).add(e);
      else bucketFor(e.host.kind === "exact" ? this.exactHosts : wildcards, e.host.name).add(e);
    }
    for (const b of this.exactHosts.values()) b.finish();
    let wildcardMin = Number.POSITIVE_INFINITY;
    for (const b of wildcards.values()) {
      b.finish();
      wildcardMin = Math.min(wildcardMin, b.minRank);
    }
    any?.finish();
    this.wildcardHosts = wildcards.size > 0 ? wildcards : null;
    this.wildcardMinRank = wildcardMin;
    this.anyHost = any;
  }

  /** The router for a request, or undefined when none matches (the engine answers 404). */
  match(req: MatchRequest): RouteMatch<T> | undefined {
    this.best = null;
    this.bestRank = Number.POSITIVE_INFINITY;
    this.nSegs = -1;
    const host = req.host;
    const exact = this.exactHosts.get(host);
    if (exact !== undefined) this.searchBucket(exact, req);
    const wildcards = this.wildcardHosts;
    if (wildcards !== null && this.wildcardMinRank < this.bestRank) {
      // "*.example.com" is stored under "example.com": try each proper suffix, longest first.
      for (let dot = host.indexOf(".", 1); dot !== -1; dot = host.indexOf(".", dot + 1)) {
        const b = wildcards.get(host.slice(dot + 1));
        if (b !== undefined) this.searchBucket(b, req);
      }
    }
    if (this.anyHost !== null) this.searchBucket(this.anyHost, req);
    // (TS narrowed this.best to null above; the searches set it.)
    const best = this.best as RouteEntry<T> | null;
    if (best === null) return undefined;
    this.best = null;
    return { route: best.route, params: this.params(best, req.path) };
  }

  /** The winner plus, for every router in precedence order, why it was or was not chosen. */
  explain(req: MatchRequest): { match: RouteMatch<T> | undefined; candidates: ExplainCandidate[] } {
    return { match: this.match(req), candidates: explainRequest(this.routes as readonly Route<T>[], req) };
  }

  private searchBucket(b: HostBucket<T>, req: MatchRequest): void {
    if (b.minRank >= this.bestRank) return;
    const path = req.path;
    if (b.exact !== null) {
      const list = b.exact.get(path);
      if (list !== undefined) this.consider(list, req);
    }
    if (b.root !== null && b.root.minRank < this.bestRank && path.charCodeAt(0) === 47 /* / */) {
      if (this.nSegs < 0) this.tokenize(path);
      this.walk(b.root, 0, req);
    }
    if (b.regex !== null) this.considerRegex(b.regex, req);
    if (b.any !== null) this.consider(b.any, req);
  }

  /** Takes the first entry of a rank-sorted list that beats the best so far and passes its conditions. */
  private consider(list: readonly RouteEntry<T>[], req: MatchRequest): void {
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (e.rank >= this.bestRank) return;
      if (methodAllowed(e.methods, req.method) && headersPass(e.headers, req)) {
        this.best = e;
        this.bestRank = e.rank;
        return;
      }
    }
  }

  private considerRegex(list: readonly RouteEntry<T>[], req: MatchRequest): void {
    for (let i = 0; i < list.length; i++) {
      const e = list[i]!;
      if (e.rank >= this.bestRank) return;
      if (e.path.regex!.test(req.path) && methodAllowed(e.methods, req.method) && headersPass(e.headers, req)) {
        this.best = e;
        this.bestRank = e.rank;
        return;
      }
    }
  }

  private walk(node: TrieNode<T>, depth: number, req: MatchRequest): void {
    if (node.minRank >= this.bestRank) return;
    if (node.rest !== null) this.consider(node.rest, req);
    if (depth === this.nSegs) {
      if (node.end !== null) this.consider(node.end, req);
      return;
    }
    const seg = this.segs[depth]!;
    if (node.statics !== null) {
      const child = node.statics.get(seg);
      if (child !== undefined) this.walk(child, depth + 1, req);
    }
    if (node.param !== null && seg.length > 0) this.walk(node.param, depth + 1, req);
  }

  /** Splits "/a/b" into segments "a", "b" (with their offsets) once per request. */
  private tokenize(path: string): void {
    let n = 0;
    let start = 1;
    for (;;) {
      const slash = path.indexOf("/", start);
      const end = slash === -1 ? path.length : slash;
      this.segs[n] = path.slice(start, end);
      this.offs[n] = start;
      n++;
      if (slash === -1) break;
      start = slash + 1;
    }
    this.nSegs = n;
  }

  private params(e: RouteEntry<T>, path: string): Record<string, string> | null {
    const p = e.path;
    if (p.kind === "regex") return p.regexGroups ? groupParams(p.regex!.exec(path)?.groups) : null;
    if (p.kind !== "pattern" || (p.paramNames.length === 0 && !p.wildcard)) return null;
    const params: Record<string, string> = {};
    for (let i = 0; i < p.paramNames.length; i++) params[p.paramNames[i]!] = decodeParam(this.segs[p.paramSlots[i]!]!);
    if (p.wildcard) {
      const d = p.segments.length;
      params["*"] = d < this.nSegs ? path.slice(this.offs[d]) : "";
    }
    return params;
  }
}

function bucketFor<T>(map: Map<string, HostBucket<T>>, key: string): HostBucket<T> {
  let b = map.get(key);
  if (b === undefined) map.set(key, (b = new HostBucket()));
  return b;
}
