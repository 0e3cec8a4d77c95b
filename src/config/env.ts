/**
 * Environment variables in configuration files: `${VAR}` and `${VAR:-default}` in
 * string values (never in keys), substituted on the parsed YAML document so each
 * problem keeps its line and column.
 *
 * - `${VAR}` is VAR's value; an error when VAR is not set.
 * - `${VAR:-default}` is VAR's value, or `default` when VAR is unset or empty.
 * - `$${` writes a literal `${`.
 * - In an unquoted value the result is read as YAML would read it there, so
 *   `maxConnections: ${MAX}` with MAX=100 is the number 100; quote the value
 *   (`"${VIA}"`) to keep it a string.
 */
import { type Document, isMap, isScalar, isSeq, parse, Scalar } from "yaml";
import type { PathSegment } from "./path.js";
import { keyText } from "./yaml-locate.js";

/** A reference that could not be substituted, at a source offset. */
export interface EnvIssue {
  path: PathSegment[];
  offset: number;
  message: string;
}

export type Env = Readonly<Record<string, string | undefined>>;

const REFERENCE_RE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?/g;

interface Expansion {
  value: string;
  changed: boolean;
  problems: { reference: string; message: string }[];
}

/**
 * Expands the references in one string.
 *
 * @example
 * expandEnv("http://${HOST:-localhost}:8080", {}).value // "http://localhost:8080"
 */
export function expandEnv(text: string, env: Env): Expansion {
  const problems: Expansion["problems"] = [];
  let changed = false;
  const value = text.replace(REFERENCE_RE, (match: string, name: string | undefined, fallback: string | undefined) => {
    changed = true;
    if (match === "$${") return "${";
    if (name === undefined) {
      problems.push({ reference: match, message: `malformed variable reference ${JSON.stringify(match)}; expected \${NAME} or \${NAME:-default}` });
      return match;
    }
    const set = env[name];
    if (fallback !== undefined) return set === undefined || set === "" ? fallback : set;
    if (set !== undefined) return set;
    problems.push({
      reference: match,
      message: `environment variable ${name} is not set (write \${${name}:-default} to give a default)`,
    });
    return match;
  });
  return { value, changed, problems };
}

/** A plain (unquoted) scalar's text as YAML would type it: numbers and booleans, else the string. */
function retype(text: string): unknown {
  try {
    const v: unknown = parse(text);
    return typeof v === "number" || typeof v === "boolean" ? v : text;
  } catch {
    return text;
  }
}

/** Substitutes references in every string value of `doc`, in place. */
export function substituteEnv(doc: Document, source: string, env: Env): EnvIssue[] {
  const issues: EnvIssue[] = [];
  const visit = (node: unknown, path: PathSegment[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) visit(pair.value, [...path, keyText(pair) ?? "?"]);
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => {
        visit(item, [...path, i]);
      });
    } else if (isScalar(node) && typeof node.value === "string" && node.value.includes("$")) {
      const result = expandEnv(node.value, env);
      if (!result.changed) return;
      const start = node.range?.[0] ?? 0;
      const written = source.slice(start, node.range?.[1] ?? start);
      for (const p of result.problems) {
        const at = written.indexOf(p.reference);
        issues.push({ path, offset: at < 0 ? start : start + at, message: p.message });
      }
      node.value = node.type === Scalar.PLAIN ? retype(result.value) : result.value;
    }
  };
  visit(doc.contents, []);
  return issues;
}
