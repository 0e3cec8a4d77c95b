/**
 * Turns zod's issues into plain-English problems located by document path: what
 * was found, what is expected, and a "did you mean" for near-miss keys and values.
 * Union failures are narrowed to the branch the user meant instead of listing
 * every branch's complaint.
 */
import type { z } from "zod";
import type { JsonSchema } from "./json-schema.js";
import { sharedConfigJsonSchema } from "./json-schema.js";
import type { PathSegment } from "./path.js";
import { branchesOf, describeSchema, isRecord, knownKeys, listValues, pickBranch, schemaAt } from "./schema-walk.js";
import { configSchema, type DivisorConfig } from "./schema.js";
import { didYouMean, didYouMeanSuffix } from "./suggest.js";

/** Which node of the document an issue points at. */
export type IssueTarget =
  /** the value at the path */
  | "value"
  /** the key of the last path segment (unknown keys, bad names) */
  | "key"
  /** the mapping that should contain the last path segment (missing keys) */
  | "parent";

/** A problem located by path only; load.ts turns it into a ConfigIssue with line and column. */
export interface PathIssue {
  path: PathSegment[];
  target: IssueTarget;
  message: string;
  /** Set on a missing required key: its name. */
  missing?: string;
  /** Set on an unknown key that looks like a typo: the known key it is close to. */
  suggests?: string;
}

type ZodIssue = z.core.$ZodIssue;

/** Returned by our error map so we can tell zod's generic wording from the schema's own messages. */
const GENERIC = "\u0000generic";

interface Context {
  /** Absolute path of the value the issue's relative path starts from. */
  base: PathSegment[];
  /** Schema of that value (a union branch when we narrowed one). */
  schema: JsonSchema | undefined;
  /** That value. */
  input: unknown;
}

/**
 * Validates `input` against the config schema.
 *
 * @example
 * const { data, issues } = schemaIssues(YAML.parse(text))
 */
export function schemaIssues(input: unknown): { data: DivisorConfig; issues: [] } | { data: undefined; issues: PathIssue[] } {
  const result = configSchema.safeParse(input, { reportInput: true, error: () => GENERIC });
  if (result.success) return { data: result.data, issues: [] };
  const out: PathIssue[] = [];
  const ctx: Context = { base: [], schema: sharedConfigJsonSchema(), input };
  for (const issue of result.error.issues) convert(issue, ctx, out);
  return { data: undefined, issues: tidy(out) };
}

/**
 * Drops repeats, and a "missing key" when the same mapping has an unknown key that
 * is a typo of it: `adress: x` is one mistake, not two.
 */
function tidy(issues: PathIssue[]): PathIssue[] {
  const seen = new Set<string>();
  const typos = new Set<string>();
  for (const i of issues) if (i.suggests !== undefined) typos.add(JSON.stringify([...i.path.slice(0, -1), i.suggests]));
  return issues.filter((i) => {
    const key = `${JSON.stringify(i.path)}\u0000${i.message}`;
    if (seen.has(key) || (i.missing !== undefined && typos.has(JSON.stringify(i.path)))) return false;
    seen.add(key);
    return true;
  });
}

/** The value at `path` under `root`, or undefined. */
export function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let v = root;
  for (const seg of path) {
    if (!isRecord(v) && !Array.isArray(v)) return undefined;
    v = (v as Record<PathSegment, unknown>)[seg];
  }
  return v;
}

/** A short rendering of a value for "found ...". */
export function describeFound(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v);
  if (Array.isArray(v)) return v.length === 0 ? "an empty list" : `a list of ${v.length} item${v.length === 1 ? "" : "s"}`;
  if (isRecord(v)) return "a mapping";
  if (v === undefined) return "nothing";
  return String(v);
}

function withFound(message: string, input: unknown): string {
  if (input === undefined) return message;
  return `${message}${message.startsWith("expected") ? "," : ";"} found ${describeFound(input)}`;
}

function relPath(issue: ZodIssue): PathSegment[] {
  return issue.path.filter((p): p is PathSegment => typeof p === "string" || typeof p === "number");
}

function convert(issue: ZodIssue, ctx: Context, out: PathIssue[]): void {
  const rel = relPath(issue);
  const path = [...ctx.base, ...rel];
  const schema = ctx.schema === undefined ? undefined : schemaAt(ctx.schema, rel, ctx.input);
  const input = "input" in issue ? issue.input : valueAt(ctx.input, rel);
  const custom = issue.message !== GENERIC;
  const push = (message: string, target: IssueTarget = "value", at = path) => out.push({ path: at, target, message });

  switch (issue.code) {
    case "invalid_type": {
      if (input === undefined && typeof path.at(-1) === "string") {
        const expected = schema === undefined ? "" : ` (expected ${describeSchema(schema)})`;
        out.push({ path, target: "parent", message: `missing required key ${JSON.stringify(path.at(-1))}${expected}`, missing: String(path.at(-1)) });
        return;
      }
      const expected = schema === undefined ? TYPE_NAMES[issue.expected] ?? issue.expected : describeSchema(schema);
      push(custom ? withFound(issue.message, input) : `expected ${expected}, found ${describeFound(input)}`);
      return;
    }
    case "unrecognized_keys": {
      const known = schema === undefined ? [] : knownKeys(pickBranch(schema, input));
      for (const key of issue.keys) out.push(unknownKey([...path, key], known));
      return;
    }
    case "invalid_union":
      convertUnion(issue, ctx, { rel, path, schema, input }, out);
      return;
    case "invalid_key": {
      const inner = issue.issues[0];
      const reason = inner === undefined || inner.message === GENERIC ? "not a valid name" : inner.message;
      push(`invalid name ${JSON.stringify(path.at(-1))}: ${reason}`, "key");
      return;
    }
    case "too_small":
    case "too_big":
      push(withFound(custom ? issue.message : sizeMessage(issue, schema), input));
      return;
    case "invalid_format":
      push(withFound(custom ? issue.message : formatMessage(issue), input));
      return;
    case "invalid_value": {
      const expected = issue.values.length === 1 ? JSON.stringify(issue.values[0]) : `one of ${listValues(issue.values)}`;
      const hint = typeof input === "string" ? didYouMeanSuffix(input, issue.values.filter((v) => typeof v === "string")) : "";
      push(custom ? withFound(issue.message, input) : `expected ${expected}, found ${describeFound(input)}${hint}`);
      return;
    }
    case "not_multiple_of":
      push(withFound(custom ? issue.message : `expected a multiple of ${issue.divisor}`, input));
      return;
    default: {
      // custom refinements and anything zod adds later: their message is the schema's own
      const message = custom ? issue.message : "invalid value";
      // a refinement of a secret (password hash, API key) sets params.secret: never echo its value
      const secret = issue.code === "custom" && (issue.params as { secret?: unknown } | undefined)?.secret === true;
      push(secret || (typeof input === "object" && input !== null) ? message : withFound(message, input));
    }
  }
}

const TYPE_NAMES: Record<string, string> = {
  string: "a string",
  number: "a number",
  int: "a whole number",
  boolean: "true or false",
  object: "a mapping",
  array: "a list",
  record: "a mapping",
};

function unknownKey(path: PathSegment[], known: readonly string[]): PathIssue {
  const key = String(path.at(-1));
  const suggests = didYouMean(key, known);
  const head = `unknown key ${JSON.stringify(key)}`;
  if (suggests !== undefined) return { path, target: "key", message: `${head} (did you mean ${JSON.stringify(suggests)}?)`, suggests };
  return { path, target: "key", message: known.length === 0 ? head : `${head}; expected one of ${listValues(known)}` };
}

function sizeMessage(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig, schema: JsonSchema | undefined): string {
  const small = issue.code === "too_small";
  const limit = Number(small ? issue.minimum : (issue as z.core.$ZodIssueTooBig).maximum);
  const inclusive = issue.inclusive !== false;
  const bound = small ? (inclusive ? "at least" : "more than") : inclusive ? "at most" : "less than";
  switch (issue.origin) {
    case "array":
    case "set":
      return `expected a list with ${bound} ${limit} item${limit === 1 ? "" : "s"}`;
    case "string":
      return small && inclusive && limit === 1 ? "expected a non-empty string" : `expected a string of ${bound} ${limit} characters`;
    default: {
      const noun = schema?.type === "integer" ? "a whole number" : "a number";
      if (small && limit === 0) return `expected ${noun} ${inclusive ? "of 0 or more" : "greater than 0"}`;
      return `expected ${noun} of ${bound} ${limit}`;
    }
  }
}

function formatMessage(issue: z.core.$ZodIssueInvalidStringFormat): string {
  if (issue.format === "starts_with") return `expected a string starting with ${JSON.stringify((issue as z.core.$ZodIssueStringStartsWith).prefix)}`;
  if (issue.format === "regex" && issue.pattern !== undefined) return `expected a string matching ${issue.pattern}`;
  return `expected a valid ${issue.format}`;
}

interface Located {
  rel: PathSegment[];
  path: PathSegment[];
  schema: JsonSchema | undefined;
  input: unknown;
}

function isTypeMismatch(errors: readonly ZodIssue[]): boolean {
  const only = errors.length === 1 ? errors[0]! : undefined;
  return only !== undefined && only.path.length === 0 && (only.code === "invalid_type" || only.code === "invalid_value");
}

function convertUnion(issue: z.core.$ZodIssueInvalidUnion, ctx: Context, at: Located, out: PathIssue[]): void {
  if (issue.discriminator !== undefined && issue.errors.length === 0) {
    convertDiscriminator(issue.discriminator, ("options" in issue ? issue.options : undefined) ?? [], ctx, at, out);
    return;
  }
  const branches = at.schema === undefined ? undefined : branchesOf(at.schema);
  const push = (message: string, target: IssueTarget = "value", path = at.path) => out.push({ path, target, message });
  if (branches === undefined || branches.length !== issue.errors.length) {
    push(`expected ${at.schema === undefined ? "a different value" : describeSchema(at.schema)}, found ${describeFound(at.input)}`);
    return;
  }
  const recurse = (i: number) => {
    const inner: Context = { base: at.path, schema: branches[i], input: at.input };
    for (const e of issue.errors[i]!) convert(e, inner, out);
  };
  const matched = issue.errors.flatMap((errors, i) => (isTypeMismatch(errors) ? [] : [i]));
  if (matched.length === 0) {
    const constants = branches.every((b) => typeof b.const === "string") ? branches.map((b) => b.const as string) : [];
    const hint = typeof at.input === "string" ? didYouMeanSuffix(at.input, constants) : "";
    push(`expected ${describeSchema(at.schema!)}, found ${describeFound(at.input)}${hint}`);
    return;
  }
  if (matched.length === 1 || !isRecord(at.input)) {
    recurse(fewestErrors(issue.errors, matched));
    return;
  }
  // Several mappings would do (e.g. path: {exact} | {prefix} | ...): the keys the user wrote pick one.
  const keySets = matched.map((i) => new Set(knownKeys(branches[i]!)));
  const all = new Set(keySets.flatMap((s) => [...s]));
  const distinguishing = [...all].filter((k) => !keySets.every((s) => s.has(k)));
  const written = Object.keys(at.input);
  const selected = matched.filter((_, n) => written.some((k) => distinguishing.includes(k) && keySets[n]!.has(k)));
  if (selected.length === 1 || distinguishing.length === 0) {
    recurse(selected.length === 1 ? selected[0]! : fewestErrors(issue.errors, matched));
    return;
  }
  const unknown = written.filter((k) => !all.has(k));
  for (const key of unknown) out.push(unknownKey([...at.path, key], [...all]));
  if (selected.length === 0) {
    const typo = unknown.some((k) => didYouMean(k, distinguishing) !== undefined);
    if (!typo) push(`expected one of the keys ${listValues(distinguishing)}`);
  } else {
    const present = written.filter((k) => distinguishing.includes(k));
    push(`expected only one of the keys ${listValues(distinguishing)}, found ${listValues(present, "and")}`);
  }
}

function fewestErrors(errors: readonly (readonly ZodIssue[])[], candidates: readonly number[]): number {
  return candidates.reduce((best, i) => (errors[i]!.length < errors[best]!.length ? i : best), candidates[0]!);
}

function convertDiscriminator(discriminator: string, options: readonly unknown[], ctx: Context, at: Located, out: PathIssue[]): void {
  const parentRel = at.rel.slice(0, -1);
  const parentPath = at.path.slice(0, -1);
  const parent = valueAt(ctx.input, parentRel);
  const union = ctx.schema === undefined ? undefined : schemaAt(ctx.schema, parentRel, ctx.input);
  const allowed = `one of ${listValues(options)}`;
  const written = isRecord(parent) ? parent[discriminator] : undefined;
  if (written !== undefined) {
    const strings = options.filter((o): o is string => typeof o === "string");
    const hint = typeof written === "string" ? didYouMeanSuffix(written, strings) : "";
    out.push({ path: at.path, target: "value", message: `unknown ${discriminator} ${describeFound(written)}${hint}; expected ${allowed}` });
    return;
  }
  const known = union === undefined ? [] : knownKeys(union);
  const unknown = isRecord(parent) ? Object.keys(parent).filter((k) => !known.includes(k)) : [];
  for (const key of unknown) out.push(unknownKey([...parentPath, key], known));
  if (!unknown.some((k) => didYouMean(k, known) === discriminator)) {
    out.push({ path: at.path, target: "parent", message: `missing required key ${JSON.stringify(discriminator)} (expected ${allowed})`, missing: discriminator });
  }
}
