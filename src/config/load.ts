/**
 * Loading a configuration: YAML (or JSON) text → environment substitution →
 * schema → cross-reference checks. Every problem found is reported at once, in a
 * single ConfigError whose issues name file, line, column, document path, what
 * was found and what is expected.
 */
import { readFileSync } from "node:fs";
import { type Document, LineCounter, parseDocument, visit, type YAMLError } from "yaml";
import { ConfigError, type ConfigIssue } from "../errors.js";
import { type Env, substituteEnv } from "./env.js";
import { type PathIssue, schemaIssues } from "./issues.js";
import { formatPath } from "./path.js";
import { referenceIssues } from "./references.js";
import type { DivisorConfig } from "./schema.js";
import { locate } from "./yaml-locate.js";

export interface LoadOptions {
  /** Variables for `${VAR}` substitution; default `process.env`. */
  env?: Env;
}

type Position = Pick<ConfigIssue, "line" | "column">;

/**
 * Validates `input` (parsed YAML or a config-as-code object), or throws a
 * ConfigError listing the schema and reference problems together.
 */
/**
 * Configs this module produced: deeply frozen, so they cannot have changed since,
 * and validating one again (the CLI loads a file, then createGateway validates what
 * it is given) returns it as it is instead of running the schema twice at start-up.
 */
const validated = new WeakSet<object>();

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value;
}

function check(input: unknown, file: string, position: (issue: PathIssue) => Position, earlier: ConfigIssue[] = []): DivisorConfig {
  if (earlier.length === 0 && typeof input === "object" && input !== null && validated.has(input)) return input as DivisorConfig;
  const { data, issues } = schemaIssues(input);
  const found = [...issues, ...referenceIssues(input)].map((i) => ({ file, ...position(i), path: formatPath(i.path), message: i.message }));
  // A value whose variable is unset still holds "${VAR}"; the schema's complaint about it would repeat the same problem.
  const taken = new Set(earlier.map((i) => i.path));
  const all = [...earlier, ...found.filter((i) => !taken.has(i.path))];
  if (all.length > 0 || data === undefined) {
    all.sort((a, b) => a.line - b.line || a.column - b.column);
    throw new ConfigError(all);
  }
  validated.add(deepFreeze(data));
  return data;
}

function yamlIssue(error: YAMLError, file: string, lines: LineCounter): ConfigIssue {
  const { line, col } = lines.linePos(error.pos[0]);
  // With prettyErrors off, yaml's messages carry no position or source excerpt of their own.
  const message =
    error.code === "MULTIPLE_DOCS" ? "a configuration is a single YAML document; remove the second one (after ---)" : error.message;
  return { file, line, column: col, path: "", message: `YAML syntax: ${message}` };
}

/** Aliases (`*name`) with no anchor (`&name`) before them; yaml only notices when converting. */
function unresolvedAliases(doc: Document, file: string, lines: LineCounter): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  visit(doc, {
    Alias(_key, node) {
      if (node.resolve(doc) !== undefined) return;
      const { line, col } = lines.linePos(node.range?.[0] ?? 0);
      issues.push({ file, line, column: col, path: "", message: `YAML syntax: alias *${node.source} has no anchor &${node.source} before it` });
    },
  });
  return issues;
}

/**
 * Parses and validates a YAML (or JSON) configuration; `file` names it in errors.
 *
 * @example
 * const config = parseConfigText("listeners:\n  - address: 127.0.0.1:8080\n", "divisor.yaml")
 * config.listeners[0].timeouts.idle // 60000
 */
export function parseConfigText(text: string, file: string, options: LoadOptions = {}): DivisorConfig {
  const { doc, input, at, envIssues } = parseYaml(text, file, options);
  if (input === null || input === undefined) {
    throw new ConfigError([{ file, line: 1, column: 1, path: "", message: 'the document is empty; expected a mapping with at least "listeners"' }]);
  }
  return check(input, file, (i) => at(locate(doc, i.path, i.target)), envIssues);
}

/** The keys a fragment (a provider's file or document) may have. */
export const FRAGMENT_KEYS = ["routers", "services", "middlewares", "tenants"] as const;

/**
 * Parses and checks a fragment: a YAML (or JSON) document whose top-level keys are
 * among routers, services, middlewares and tenants, each entry checked against the
 * schema with file:line:column like a configuration. Names it refers to (a router's
 * service) are checked later, once merged with the configuration. Returns the document
 * as written (an empty one is an empty fragment).
 *
 * @example
 * parseFragmentText("routers:\n  api: { service: api }\n", "conf.d/api.yaml") // { routers: { api: { service: "api" } } }
 */
export function parseFragmentText(text: string, file: string, options: LoadOptions = {}): Record<string, unknown> {
  const { doc, input, at, envIssues } = parseYaml(text, file, options);
  if (input === null || input === undefined) return {};
  if (typeof input !== "object" || Array.isArray(input)) {
    throw new ConfigError([{ file, line: 1, column: 1, path: "", message: `expected a mapping with some of ${FRAGMENT_KEYS.join(", ")}` }]);
  }
  const record = input as Record<string, unknown>;
  const issues: ConfigIssue[] = [...envIssues];
  for (const key of Object.keys(record)) {
    if ((FRAGMENT_KEYS as readonly string[]).includes(key)) continue;
    issues.push({ file, ...at(locate(doc, [key], "key")), path: key, message: `unknown key "${key}": a fragment holds only ${FRAGMENT_KEYS.join(", ")} (listeners, admin and the rest belong in the main configuration)` });
  }
  const taken = new Set(issues.map((i) => i.path));
  for (const i of checkFragment(record)) {
    const path = formatPath(i.path);
    if (!taken.has(path)) issues.push({ file, ...at(locate(doc, i.path, i.target)), path, message: i.message });
  }
  if (issues.length > 0) {
    issues.sort((a, b) => a.line - b.line || a.column - b.column);
    throw new ConfigError(issues);
  }
  return record;
}

/**
 * Checks a fragment given as data (an etcd document, ...): the same checks as
 * parseFragmentText, problems located by path only, `source` naming it.
 */
export function validateFragment(input: Record<string, unknown>, source: string): void {
  const issues = checkFragment(input).map((i) => ({ file: source, line: 0, column: 0, path: formatPath(i.path), message: i.message }));
  if (issues.length > 0) throw new ConfigError(issues);
}

/** A fragment's schema problems: it is checked inside a minimal configuration, so its paths are the configuration's. */
function checkFragment(input: Record<string, unknown>): PathIssue[] {
  const fragment: Record<string, unknown> = {};
  for (const key of FRAGMENT_KEYS) if (key in input) fragment[key] = input[key];
  return schemaIssues({ listeners: [{ address: "127.0.0.1:0" }], ...fragment }).issues;
}

function parseYaml(text: string, file: string, options: LoadOptions) {
  const lines = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter: lines, prettyErrors: false, merge: true, uniqueKeys: true });
  const syntax = [...doc.errors, ...doc.warnings].map((e) => yamlIssue(e, file, lines));
  if (syntax.length === 0) syntax.push(...unresolvedAliases(doc, file, lines));
  if (syntax.length > 0) throw new ConfigError(syntax);

  const at = (offset: number): Position => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  const envIssues = substituteEnv(doc, text, options.env ?? process.env).map((i) => ({
    file,
    ...at(i.offset),
    path: formatPath(i.path),
    message: i.message,
  }));

  let input: unknown;
  try {
    input = doc.toJS({ maxAliasCount: 1000 });
  } catch (err) {
    throw new ConfigError([{ file, line: 1, column: 1, path: "", message: `YAML: ${(err as Error).message}` }]);
  }
  return { doc, input, at, envIssues };
}

/**
 * Reads and validates a configuration file (YAML; JSON is YAML too).
 *
 * @example
 * const config = await loadConfigFile("divisor.yaml")
 */
export async function loadConfigFile(path: string, options: LoadOptions = {}): Promise<DivisorConfig> {
  let text: string;
  try {
    // Sync on purpose: a config file is small, and node:fs/promises would add ~1 MB of RSS to the gateway.
    text = readFileSync(path, "utf8");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new ConfigError([{ file: path, line: 0, column: 0, path: "", message: `cannot read the configuration file: ${reason}` }]);
  }
  return parseConfigText(text, path, options);
}

/**
 * Validates a configuration written as code (`defineConfig({...})`); issues have
 * no line numbers (line and column 0).
 *
 * @example
 * const config = validateConfig({ listeners: [{ address: "127.0.0.1:8080" }] })
 */
export function validateConfig(input: unknown, file = "<config>"): DivisorConfig {
  return check(input, file, () => ({ line: 0, column: 0 }));
}
