/**
 * Reading the configuration's JSON Schema: which keys a mapping allows at a path,
 * which union branch a value was meant for, and how to say in English what a
 * schema expects. Used by error messages and by the reference docs.
 */
import { z } from "zod";
import type { JsonSchema } from "./json-schema.js";
import type { PathSegment } from "./path.js";
import { address, duration } from "./schema-scalars.js";

const DURATION_SIGNATURE = JSON.stringify((z.toJSONSchema(duration, { io: "input" }) as JsonSchema).anyOf);
const ADDRESS_PATTERN = (z.toJSONSchema(address, { io: "input" }) as JsonSchema).pattern;

export function isDuration(s: JsonSchema): boolean {
  return s.anyOf !== undefined && JSON.stringify(s.anyOf) === DURATION_SIGNATURE;
}

export function isAddress(s: JsonSchema): boolean {
  return s.type === "string" && s.pattern === ADDRESS_PATTERN;
}

/** The alternatives of a union schema, or undefined for anything else. */
export function branchesOf(s: JsonSchema): JsonSchema[] | undefined {
  return s.anyOf ?? s.oneOf;
}

/** The key whose constant value tells the object branches of a union apart (e.g. "algorithm"). */
export function discriminatorOf(branches: readonly JsonSchema[]): string | undefined {
  const first = branches[0]?.properties;
  if (first === undefined) return undefined;
  for (const key of Object.keys(first)) {
    if (branches.every((b) => b.properties?.[key]?.const !== undefined)) return key;
  }
  return undefined;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  return typeof v;
}

function typeMatches(s: JsonSchema, v: unknown): boolean {
  if (s.type === undefined) return true;
  const t = jsonType(v);
  return s.type === t || (s.type === "integer" && t === "number");
}

/**
 * The branch of a union that `input` was most likely meant for: by discriminator
 * value when there is one, else the branch of the right type that knows most of
 * the input's keys. Non-union schemas are returned as they are.
 */
export function pickBranch(s: JsonSchema, input: unknown): JsonSchema {
  const branches = branchesOf(s);
  if (branches === undefined) return s;
  const discriminator = discriminatorOf(branches);
  if (discriminator !== undefined && isRecord(input)) {
    const chosen = branches.find((b) => b.properties?.[discriminator]?.const === input[discriminator]);
    if (chosen !== undefined) return chosen;
  }
  let best = branches[0]!;
  let bestScore = Number.NEGATIVE_INFINITY;
  for (const b of branches) {
    let score = typeMatches(b, input) ? 0 : -1000;
    if (isRecord(input) && b.properties !== undefined) {
      for (const key of Object.keys(input)) score += key in b.properties ? 1 : -1;
    }
    if (score > bestScore) {
      best = b;
      bestScore = score;
    }
  }
  return pickBranch(best, input);
}

/** The schema of `s[segment]`, choosing union branches by the input at each step. */
export function childSchema(s: JsonSchema, segment: PathSegment, input: unknown): JsonSchema | undefined {
  const resolved = pickBranch(s, input);
  if (typeof segment === "number") return resolved.items;
  const property = resolved.properties?.[segment];
  if (property !== undefined) return property;
  return typeof resolved.additionalProperties === "object" ? resolved.additionalProperties : undefined;
}

/** The schema at `path` (unions left unresolved at the last step), or undefined if the path leaves the schema. */
export function schemaAt(root: JsonSchema, path: readonly PathSegment[], rootInput: unknown): JsonSchema | undefined {
  let s: JsonSchema | undefined = root;
  let input = rootInput;
  for (const segment of path) {
    if (s === undefined) return undefined;
    s = childSchema(s, segment, input);
    input = isRecord(input) || Array.isArray(input) ? (input as Record<PathSegment, unknown>)[segment] : undefined;
  }
  return s;
}

/** Every key a mapping may have, across all branches of a union. */
export function knownKeys(s: JsonSchema): string[] {
  const branches = branchesOf(s);
  if (branches === undefined) return Object.keys(s.properties ?? {});
  return [...new Set(branches.flatMap(knownKeys))];
}

/** `"a", "b" or "c"` (or `and`). */
export function listValues(values: readonly unknown[], conjunction: "or" | "and" = "or"): string {
  const shown = values.map((v) => JSON.stringify(v));
  return shown.length < 2 ? (shown[0] ?? "") : `${shown.slice(0, -1).join(", ")} ${conjunction} ${shown.at(-1)}`;
}

function describeNumber(s: JsonSchema, noun: string): string {
  if (s.exclusiveMinimum === 0) return `${noun} greater than 0`;
  if (s.minimum === 0) return `${noun}, 0 or more`;
  return noun;
}

/**
 * What a schema expects, in plain English: `a whole number, 0 or more`,
 * `"host:port", e.g. ...`, `one of "a" or "b"`. `brief` leaves out examples (for
 * alternatives of a union).
 */
export function describeSchema(s: JsonSchema, brief = false): string {
  if (isDuration(s)) return 'a duration like "250ms", "10s", "1m" or a number of milliseconds';
  if (isAddress(s)) return brief ? '"host:port"' : '"host:port", e.g. "127.0.0.1:8080" or "[::1]:8080"';
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum !== undefined) return `one of ${listValues(s.enum)}`;
  const branches = branchesOf(s);
  if (branches !== undefined) {
    if (branches.every((b) => b.const !== undefined)) return `one of ${listValues(branches.map((b) => b.const))}`;
    const discriminator = discriminatorOf(branches);
    if (discriminator !== undefined) return `a mapping with key ${JSON.stringify(discriminator)}`;
    return [...new Set(branches.map((b) => describeSchema(b, true)))].join(" or ");
  }
  switch (s.type) {
    case "string":
      return s.minLength !== undefined && s.minLength > 0 ? "a non-empty string" : "a string";
    case "integer":
      return describeNumber(s, "a whole number");
    case "number":
      return describeNumber(s, "a number");
    case "boolean":
      return "true or false";
    case "array":
      return "a list";
    case "object":
      return "a mapping";
    case "null":
      return "null";
    default:
      return "any value";
  }
}
