/**
 * Host patterns of routers and tenants, parsed once when the table is compiled.
 *
 * - exact: `api.example.com` matches that host only;
 * - wildcard: `*.example.com` matches any subdomain at any depth (`a.example.com`,
 *   `a.b.example.com`) but not `example.com` itself;
 * - any: `*` matches every host, including a request without one.
 */

export type HostKind = "exact" | "wildcard" | "any";

/** A parsed host pattern. */
export interface HostPattern {
  /** Lowercased, without a trailing dot: "api.example.com", "*.example.com" or "*". */
  readonly text: string;
  readonly kind: HostKind;
  /** exact: the host; wildcard: the suffix after "*."; any: "". */
  readonly name: string;
  /** Specificity weight: exact 255, a wildcard its number of suffix labels (1..127), any 0. */
  readonly rank: number;
}

export const EXACT_HOST_RANK = 255;

/** Parses a pattern already validated by the schema (`hostPattern`). */
export function parseHostPattern(pattern: string): HostPattern {
  let text = pattern.toLowerCase();
  if (text.length > 1 && text.endsWith(".")) text = text.slice(0, -1);
  if (text === "*") return { text, kind: "any", name: "", rank: 0 };
  if (text.startsWith("*.")) {
    const name = text.slice(2);
    return { text, kind: "wildcard", name, rank: Math.min(name.split(".").length, 127) };
  }
  return { text, kind: "exact", name: text, rank: EXACT_HOST_RANK };
}

/** True when `host` has `suffix` as a proper domain suffix (at least one non-empty label before it). */
function isSubdomain(host: string, suffix: string): boolean {
  return host.length > suffix.length + 1 && host.endsWith(suffix) && host.charCodeAt(host.length - suffix.length - 1) === 46;
}

/** Whether a request host (lowercased, no port, no trailing dot) matches the pattern. */
export function hostMatches(pattern: HostPattern, host: string): boolean {
  if (pattern.kind === "any") return true;
  if (pattern.kind === "exact") return host === pattern.name;
  return isSubdomain(host, pattern.name);
}

/** Whether every host `inner` matches is also matched by `outer` (tenant scoping). */
export function hostCovers(outer: HostPattern, inner: HostPattern): boolean {
  if (outer.kind === "any") return true;
  if (inner.kind === "any") return false;
  if (outer.kind === "exact") return inner.kind === "exact" && inner.name === outer.name;
  if (inner.kind === "exact") return isSubdomain(inner.name, outer.name);
  return inner.name === outer.name || isSubdomain(inner.name, outer.name);
}
