/**
 * docs/config-reference.md, generated from the JSON Schema (itself generated from
 * `configSchema`), so the reference can never disagree with what the loader
 * accepts. A test keeps the committed file equal to this output.
 */
import { configJsonSchema, type JsonSchema } from "./json-schema.js";
import { branchesOf, discriminatorOf, isAddress, isDuration } from "./schema-walk.js";

/** One documented key. */
export interface KeyDoc {
  /** `services.<name>.backends[].address` */
  path: string;
  /** Condition under which the key exists, e.g. `algorithm: p2c-ewma`. */
  when?: string;
  type: string;
  required: boolean;
  default?: unknown;
  allowed?: string;
  description?: string;
}

/** A markdown code span; one holding a backtick needs a longer fence. */
function code(v: unknown): string {
  const text = typeof v === "string" ? v : JSON.stringify(v);
  return text.includes("`") ? `\`\` ${text} \`\`` : `\`${text}\``;
}

function typeName(s: JsonSchema): string {
  if (isDuration(s)) return "duration";
  if (isAddress(s)) return "host:port";
  if (s.const !== undefined) return typeof s.const;
  const branches = branchesOf(s);
  if (branches !== undefined) {
    if (branches.every((b) => b.const !== undefined)) return typeof branches[0]!.const;
    return [...new Set(branches.map(typeName))].join(" or ");
  }
  switch (s.type) {
    case "array":
      return s.items === undefined ? "list" : `list of ${typeName(s.items)}`;
    case "object":
      if (typeof s.additionalProperties === "object") return `map of name → ${typeName(s.additionalProperties)}`;
      return "mapping";
    case undefined:
      return "any";
    default:
      return s.type;
  }
}

function allowedValues(s: JsonSchema): string | undefined {
  if (isDuration(s) || isAddress(s)) return undefined;
  const branches = branchesOf(s);
  const parts: string[] = [];
  if (s.const !== undefined) parts.push(code(s.const));
  if (s.enum !== undefined) parts.push(s.enum.map(code).join(", "));
  if (branches?.every((b) => b.const !== undefined)) parts.push(branches.map((b) => code(b.const)).join(", "));
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.minimum !== undefined && s.minimum > Number.MIN_SAFE_INTEGER) parts.push(`≥ ${s.minimum}`);
  if (s.minLength !== undefined && s.minLength > 0) parts.push("non-empty");
  if (s.minItems !== undefined && s.minItems > 0) parts.push(`at least ${s.minItems} item${s.minItems === 1 ? "" : "s"}`);
  if (s.pattern !== undefined) parts.push(`matches ${code(s.pattern)}`);
  if (s.type === "array" && s.items !== undefined && !isObjectLike(s.items)) {
    const items = allowedValues(s.items);
    if (items !== undefined) parts.push(`each: ${items}`);
  }
  if (s.type === "object" && typeof s.additionalProperties === "object" && !isObjectLike(s.additionalProperties)) {
    const names = s.propertyNames === undefined ? undefined : allowedValues(s.propertyNames);
    const values = allowedValues(s.additionalProperties);
    if (names !== undefined) parts.push(`names: ${names}`);
    if (values !== undefined) parts.push(`values: ${values}`);
  }
  return parts.length === 0 ? undefined : parts.join("; ");
}

/** A schema whose keys get their own rows (a mapping, or a union with a mapping in it). */
function isObjectLike(s: JsonSchema): boolean {
  if (s.properties !== undefined || (s.type === "object" && typeof s.additionalProperties === "object")) return true;
  return branchesOf(s)?.some(isObjectLike) ?? false;
}

function row(path: string, s: JsonSchema, required: boolean, when?: string, description = s.description): KeyDoc {
  const doc: KeyDoc = { path, type: typeName(s), required };
  if (when !== undefined) doc.when = when;
  if (s.default !== undefined) doc.default = s.default;
  const allowed = allowedValues(s);
  if (allowed !== undefined) doc.allowed = allowed;
  if (description !== undefined) doc.description = description;
  return doc;
}

function walkChildren(s: JsonSchema, path: string, when: string | undefined, out: KeyDoc[]): void {
  const branches = branchesOf(s);
  if (branches !== undefined) {
    walkUnion(branches, path, when, out);
    return;
  }
  if (s.properties !== undefined) {
    for (const [key, child] of Object.entries(s.properties)) walk(child, `${path}.${key}`, s.required?.includes(key) ?? false, when, out);
  } else if (s.type === "object" && typeof s.additionalProperties === "object" && isObjectLike(s.additionalProperties)) {
    walkChildren(s.additionalProperties, `${path}.<name>`, when, out);
  } else if (s.type === "array" && s.items !== undefined && isObjectLike(s.items)) {
    walkChildren(s.items, `${path}[]`, when, out);
  }
}

function walkUnion(branches: JsonSchema[], path: string, when: string | undefined, out: KeyDoc[]): void {
  const objects = branches.filter((b) => b.properties !== undefined);
  const discriminator = discriminatorOf(objects);
  if (discriminator !== undefined && objects.length === branches.length) {
    // One row for the discriminator listing every variant, then each variant's own keys.
    const values = objects.map((b) => b.properties![discriminator]!.const);
    const variants = objects.flatMap((b, i) => (b.description === undefined ? [] : [`${code(values[i])}: ${b.description}`]));
    const head: KeyDoc = { path: `${path}.${discriminator}`, type: "string", required: true, allowed: values.map(code).join(", ") };
    if (when !== undefined) head.when = when;
    if (variants.length > 0) head.description = variants.join("<br>");
    out.push(head);
    for (const b of objects) {
      const own = `${discriminator}: ${String(b.properties![discriminator]!.const)}`;
      const variant = when === undefined ? own : `${when}, ${own}`;
      for (const [key, child] of Object.entries(b.properties!)) {
        if (key !== discriminator) walk(child, `${path}.${key}`, b.required?.includes(key) ?? false, variant, out);
      }
    }
    return;
  }
  // Alternative mappings (e.g. {exact} | {prefix}): keys shared by all are listed once; a key
  // that picks an alternative takes that alternative's description when it has none.
  const shared = objects.length === 0 ? [] : Object.keys(objects[0]!.properties!).filter((k) => objects.every((b) => k in b.properties!));
  const seen = new Set<string>();
  for (const b of objects) {
    const own = Object.keys(b.properties!).filter((k) => !shared.includes(k));
    for (const [key, child] of Object.entries(b.properties!)) {
      if (seen.has(key)) continue;
      seen.add(key);
      const description = child.description ?? (own.length === 1 && own[0] === key ? b.description : undefined);
      const required = shared.includes(key) && objects.every((o) => o.required?.includes(key));
      out.push(row(`${path}.${key}`, child, required, when, description));
      walkChildren(child, `${path}.${key}`, when, out);
    }
  }
}

function walk(s: JsonSchema, path: string, required: boolean, when: string | undefined, out: KeyDoc[]): void {
  out.push(row(path, s, required, when));
  walkChildren(s, path, when, out);
}

/** Every key of the configuration, in schema order. */
export function configKeyDocs(): KeyDoc[] {
  const root = configJsonSchema();
  const out: KeyDoc[] = [];
  for (const [key, child] of Object.entries(root.properties ?? {})) walk(child, key, root.required?.includes(key) ?? false, undefined, out);
  return out;
}

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

function table(rows: readonly KeyDoc[]): string {
  const lines = ["| key | type | default | allowed values | description |", "| --- | --- | --- | --- | --- |"];
  for (const r of rows) {
    const key = r.when === undefined ? code(r.path) : `${code(r.path)}<br>when ${code(r.when)}`;
    const dflt = r.default !== undefined ? code(r.default) : r.required ? "**required**" : "";
    lines.push(`| ${[key, cell(r.type), cell(dflt), cell(r.allowed ?? ""), cell(r.description ?? "")].join(" | ")} |`);
  }
  return lines.join("\n");
}

const INTRO = `# Configuration reference

<!-- Generated by \`npm run gen\` (scripts/gen-config-docs.ts) from src/config/schema.ts. Do not edit by hand. -->

A Divisor configuration is one YAML (or JSON) document. Every mapping is strict: an
unknown key is an error, never ignored. \`divisor validate -c divisor.yaml\` checks a file
and names the file, line, column and path of every problem.

For completion and checks in your editor, point it at the JSON Schema shipped in the
package, \`schema/divisor.schema.json\` (also printed by \`divisor schema\`). With the
YAML language server, put this first line in your file:

\`\`\`yaml
# yaml-language-server: $schema=./node_modules/divisor/schema/divisor.schema.json
\`\`\`

## Conventions

- **duration**: a number of milliseconds, or a string with a unit: \`"250ms"\`, \`"10s"\`,
  \`"1.5m"\`, \`"2h"\`. Defaults below are shown in milliseconds.
- **host:port**: \`"127.0.0.1:8080"\`, \`"[::1]:8080"\`, \`"*:80"\` for every interface; port 0
  asks the system for a free port.
- **\`<name>\`** in a path stands for a name you choose: letters, digits, \`_\`, \`.\` and \`-\`,
  starting with a letter or digit.
- **\`[]\`** in a path stands for each item of a list.
- Keys marked **required** must be written; others may be left out and take their default.

## Environment variables

String values may refer to environment variables; they are substituted when the file
is loaded, before validation. Keys are never substituted.

| write | gives |
| --- | --- |
| \`\${VAR}\` | the value of \`VAR\`; an error naming the variable and its line when \`VAR\` is not set |
| \`\${VAR:-default}\` | the value of \`VAR\`, or \`default\` when \`VAR\` is unset or empty |
| \`$\${\` | a literal \`\${\` |

In an unquoted value the result is read as YAML would read it there, so
\`maxConnections: \${MAX_CONNECTIONS}\` with \`MAX_CONNECTIONS=100\` is the number 100.
Quote the value (\`via: "\${VIA}"\`) to keep it a string whatever it holds.

\`\`\`yaml
listeners:
  - address: "\${LISTEN_HOST:-0.0.0.0}:\${PORT:-8080}"
services:
  api:
    backends: ["\${API_BACKEND}"]
\`\`\`
`;

/** The whole of docs/config-reference.md. */
export function renderConfigReference(): string {
  const root = configJsonSchema();
  const rows = configKeyDocs();
  const sections = Object.keys(root.properties ?? {}).map((key) => {
    const own = rows.filter((r) => r.path === key || r.path.startsWith(`${key}.`) || r.path.startsWith(`${key}[`));
    return `## ${key}\n\n${table(own)}`;
  });
  return `${INTRO}\n${sections.join("\n\n")}\n`;
}
