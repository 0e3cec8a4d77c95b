/**
 * The configuration schema as JSON Schema (draft 2020-12), for editors and for
 * anything that is not TypeScript. Generated from `configSchema`, never written by
 * hand: schema/divisor.schema.json is this function's output (`npm run gen`).
 */
import { z } from "zod";
import { configSchema } from "./schema.js";

/** The subset of JSON Schema that `z.toJSONSchema` produces for our config. */
export interface JsonSchema {
  $schema?: string;
  $id?: string;
  title?: string;
  description?: string;
  type?: "object" | "array" | "string" | "number" | "integer" | "boolean" | "null";
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  propertyNames?: JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  const?: unknown;
  enum?: unknown[];
  default?: unknown;
  pattern?: string;
  minimum?: number;
  exclusiveMinimum?: number;
  maximum?: number;
  minLength?: number;
  minItems?: number;
}

/** Where editors and `$schema` references find the schema; a URN until the project has a home page. */
export const CONFIG_SCHEMA_ID = "urn:divisor:config";

let cached: JsonSchema | undefined;

/**
 * The JSON Schema of what users write (durations as strings or numbers, defaults
 * optional), with descriptions from the schema's `.meta()`.
 *
 * @example
 * writeFileSync("divisor.schema.json", JSON.stringify(configJsonSchema(), null, 2))
 */
export function configJsonSchema(): JsonSchema {
  if (cached === undefined) {
    const generated = z.toJSONSchema(configSchema, { io: "input", override: completeDefaults }) as JsonSchema;
    // Spread last so zod's keys keep their values; listed first so "$schema" leads the file.
    cached = { $schema: generated.$schema, $id: CONFIG_SCHEMA_ID, title: "Divisor configuration", ...generated };
  }
  return structuredClone(cached);
}

/**
 * zod leaves out a default when the schema under it transforms (a duration's
 * "10s" → 10000), since defaults are output values. Ours are all valid input too,
 * and editors and docs should show them, so put back every one the schema accepts
 * as input. Also drops zod's non-standard `format: "starts_with"` (the pattern
 * beside it says the same), which strict validators reject.
 */
function completeDefaults(ctx: { zodSchema: z.core.$ZodTypes; jsonSchema: Record<string, unknown> }): void {
  const def = ctx.zodSchema._zod.def;
  if (def.type === "default" && ctx.jsonSchema.default === undefined) {
    const value: unknown = def.defaultValue;
    if (z.safeParse(def.innerType, value).success) ctx.jsonSchema.default = structuredClone(value);
  }
  if (ctx.jsonSchema.format === "starts_with") delete ctx.jsonSchema.format;
}

/** The cached schema for read-only use inside this folder (no copy). */
export function sharedConfigJsonSchema(): JsonSchema {
  if (cached === undefined) configJsonSchema();
  return cached!;
}

/** The schema as schema/divisor.schema.json holds it (and `divisor schema` prints it). */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(sharedConfigJsonSchema(), null, 2)}\n`;
}
