/**
 * Path conditions of routers, compiled once. Matching is on the raw path as
 * received (no percent-decoding, no dot-segment removal): `/api/../admin` is three
 * literal segments. The engine rejects such ambiguous paths before routing.
 *
 * - exact `/a/b`: the path equals it;
 * - prefix `/a`: `/a`, `/a/`, `/a/x`, not `/ax`; `/a/` means the same as `/a`;
 *   `/` is the same as no path condition;
 * - pattern `/users/:id/*`: literal segments, `:name` for one non-empty segment
 *   (captured, percent-decoded), a final `*` for the rest, possibly empty
 *   (captured raw as `*`): `/files/*` matches `/files`, `/files/` and `/files/a/b`;
 * - regex: a JavaScript RegExp tested against the path; named groups become params.
 */
import type { PathMatch } from "../config/schema.js";

export type PathKind = "none" | "regex" | "prefix" | "pattern" | "exact";

/** Precedence of path kinds, higher first. */
export const PATH_CATEGORY: Readonly<Record<PathKind, number>> = { none: 0, regex: 1, prefix: 2, pattern: 3, exact: 4 };

/** A compiled path condition. */
export interface CompiledPath {
  readonly kind: PathKind;
  /** exact path, prefix without its trailing slash, pattern, or regex source; "" for none. */
  readonly value: string;
  /** prefix and pattern: the segments to walk in the trie; a parameter is ":" (the final "*" is left out). */
  readonly segments: readonly string[];
  /** pattern: names of parameters and the segment index each one captures. */
  readonly paramNames: readonly string[];
  readonly paramSlots: readonly number[];
  /** pattern ends with "*" (a prefix behaves the same way but captures nothing). */
  readonly wildcard: boolean;
  readonly regex: RegExp | null;
  /** The regex has named groups, to be copied into params. */
  readonly regexGroups: boolean;
  /** Equal for two conditions that match exactly the same paths the same way (ambiguity check). */
  readonly canonical: string;
  /** Within-kind specificity, 17 bits: pattern literal segments, then segments, then no wildcard; prefix length. */
  readonly detail: number;
}

const NONE: CompiledPath = {
  kind: "none",
  value: "",
  segments: [],
  paramNames: [],
  paramSlots: [],
  wildcard: false,
  regex: null,
  regexGroups: false,
  canonical: "none",
  detail: 0,
};

const PARAM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_DETAIL = 0x1ffff;

/**
 * Compiles a validated path condition. Problems go to `report(key, message)` with
 * the key of the offending field ("pattern", "regex"); the result is then unusable.
 */
export function compilePath(match: PathMatch | undefined, report: (key: string, message: string) => void): CompiledPath {
  if (match === undefined) return NONE;
  if ("exact" in match) return { ...NONE, kind: "exact", value: match.exact, canonical: `exact:${match.exact}` };
  if ("prefix" in match) {
    if (match.prefix === "/") return NONE;
    const value = match.prefix.endsWith("/") ? match.prefix.slice(0, -1) : match.prefix;
    const detail = Math.min(value.length, MAX_DETAIL);
    return { ...NONE, kind: "prefix", value, segments: value.slice(1).split("/"), canonical: `prefix:${value}`, detail };
  }
  if ("regex" in match) {
    let regex: RegExp;
    try {
      regex = new RegExp(match.regex);
    } catch (err) {
      report("regex", `invalid regular expression: ${(err as Error).message}`);
      return NONE;
    }
    return { ...NONE, kind: "regex", value: match.regex, regex, regexGroups: match.regex.includes("(?<"), canonical: `regex:${match.regex}` };
  }
  return compilePattern(match.pattern, report);
}

function compilePattern(pattern: string, report: (key: string, message: string) => void): CompiledPath {
  const parts = pattern.slice(1).split("/");
  const segments: string[] = [];
  const paramNames: string[] = [];
  const paramSlots: number[] = [];
  let wildcard = false;
  let literals = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === "*") {
      if (i !== parts.length - 1) report("pattern", `"*" may only be the last segment of a pattern (in "${pattern}")`);
      wildcard = true;
    } else if (part.startsWith(":")) {
      const name = part.slice(1);
      if (!PARAM_NAME_RE.test(name) || name === "__proto__") {
        report("pattern", `parameter "${part}" in "${pattern}": names are letters, digits and "_", not starting with a digit`);
      } else if (paramNames.includes(name)) {
        report("pattern", `parameter ":${name}" appears twice in "${pattern}"`);
      }
      paramNames.push(name);
      paramSlots.push(i);
      segments.push(":");
    } else {
      literals++;
      segments.push(part);
    }
  }
  const detail = Math.min(literals, 255) * 512 + Math.min(segments.length, 255) * 2 + (wildcard ? 0 : 1);
  const canonical = `pattern:${segments.join("/")}${wildcard ? "/*" : ""}`;
  return { ...NONE, kind: "pattern", value: pattern, segments, paramNames, paramSlots, wildcard, canonical, detail };
}

/** A captured `:name` segment, percent-decoded; left raw when its encoding is malformed. */
export function decodeParam(segment: string): string {
  if (segment.indexOf("%") === -1) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Copies a regex's named groups into params, leaving out groups that did not take part. */
export function groupParams(groups: Record<string, string | undefined> | undefined): Record<string, string> | null {
  if (groups === undefined) return null;
  const params: Record<string, string> = {};
  for (const name in groups) {
    const value = groups[name];
    if (value !== undefined) Object.defineProperty(params, name, { value, enumerable: true, writable: true, configurable: true });
  }
  return params;
}

/**
 * Matches one path condition on its own (for `explain`; the table uses its trie).
 * Returns false, or the params (null when the condition captures none).
 */
export function matchPath(p: CompiledPath, path: string): Record<string, string> | null | false {
  switch (p.kind) {
    case "none":
      return null;
    case "exact":
      return path === p.value ? null : false;
    case "prefix":
      return path === p.value || path.startsWith(`${p.value}/`) ? null : false;
    case "regex": {
      const m = p.regex!.exec(path);
      if (m === null) return false;
      return p.regexGroups ? groupParams(m.groups) : null;
    }
    case "pattern":
      return matchPattern(p, path);
  }
}

function matchPattern(p: CompiledPath, path: string): Record<string, string> | null | false {
  if (!path.startsWith("/")) return false;
  const parts = path.slice(1).split("/");
  const n = p.segments.length;
  if (p.wildcard ? parts.length < n : parts.length !== n) return false;
  for (let i = 0; i < n; i++) {
    const want = p.segments[i]!;
    const got = parts[i]!;
    if (want === ":" ? got === "" : want !== got) return false;
  }
  if (p.paramNames.length === 0 && !p.wildcard) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.paramNames.length; i++) params[p.paramNames[i]!] = decodeParam(parts[p.paramSlots[i]!]!);
  if (p.wildcard) params["*"] = parts.slice(n).join("/");
  return params;
}

/** "exact /a", "prefix /api", "pattern /u/:id", "regex ^/v[0-9]+", or "any". */
export function describePath(p: CompiledPath): string {
  return p.kind === "none" ? "any" : `${p.kind} ${p.value}`;
}
