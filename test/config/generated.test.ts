import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import type { z } from "zod";
import { CONFIG_SCHEMA_ID, configJsonSchemaText } from "../../src/config/json-schema.js";
import { renderConfigReference } from "../../src/config/reference-docs.js";
import { configSchema } from "../../src/config/schema.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "../..");
const read = (path: string) => readFileSync(join(root, path), "utf8");
const STALE = "is stale: run `npm run gen` and commit the result";

/** The zod internals this walk reads; independent of the JSON Schema the docs come from. */
interface Def {
  type: string;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  shape?: Record<string, z.core.$ZodType>;
  valueType?: z.core.$ZodType;
  element?: z.core.$ZodType;
  options?: z.core.$ZodType[];
}
const defOf = (s: z.core.$ZodType) => s._zod.def as unknown as Def;

function unwrap(s: z.core.$ZodType): z.core.$ZodType {
  const def = defOf(s);
  if (def.innerType !== undefined) return unwrap(def.innerType);
  if (def.type === "pipe" && def.in !== undefined) return unwrap(def.in);
  return s;
}

function hasKeys(s: z.core.$ZodType): boolean {
  const def = defOf(unwrap(s));
  return def.type === "object" || (def.type === "union" && def.options!.some(hasKeys));
}

/** Every key path that holds a value rather than more keys, e.g. `services.<name>.backends[].weight`. */
function leafPaths(s: z.core.$ZodType, path: string, out: Set<string>): Set<string> {
  const def = defOf(unwrap(s));
  if (def.type === "object") {
    for (const [key, child] of Object.entries(def.shape!)) leafPaths(child, path === "" ? key : `${path}.${key}`, out);
  } else if (def.type === "record" && hasKeys(def.valueType!)) {
    leafPaths(def.valueType!, `${path}.<name>`, out);
  } else if (def.type === "array" && hasKeys(def.element!)) {
    leafPaths(def.element!, `${path}[]`, out);
  } else if (def.type === "union" && def.options!.some(hasKeys)) {
    for (const option of def.options!.filter(hasKeys)) leafPaths(option, path, out);
  } else {
    out.add(path);
  }
  return out;
}

describe("files generated from the schema", () => {
  it("schema/divisor.schema.json is up to date", () => {
    assert.equal(read("schema/divisor.schema.json"), configJsonSchemaText(), `schema/divisor.schema.json ${STALE}`);
  });

  it("the JSON Schema names itself and its draft", () => {
    const schema = JSON.parse(configJsonSchemaText());
    assert.equal(schema.$id, CONFIG_SCHEMA_ID);
    assert.equal(schema.title, "Divisor configuration");
    assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema");
    assert.equal(schema.properties.listeners.items.properties.timeouts.properties.idle.default, 60_000);
  });

  it("docs/config-reference.md is up to date", () => {
    assert.equal(read("docs/config-reference.md"), renderConfigReference(), `docs/config-reference.md ${STALE}`);
  });

  it("docs/config-reference.md documents every leaf key of the schema", () => {
    const docs = read("docs/config-reference.md");
    const leaves = [...leafPaths(configSchema, "", new Set())];
    assert.ok(leaves.length > 60, `found only ${leaves.length} leaf keys`);
    assert.ok(leaves.includes("services.<name>.balancer.key.name"));
    const missing = leaves.filter((path) => !docs.includes(`| \`${path}\``));
    assert.deepEqual(missing, []);
  });
});
