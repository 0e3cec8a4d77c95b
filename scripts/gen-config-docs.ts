/**
 * Regenerates the files derived from the config schema:
 * docs/config-reference.md and schema/divisor.schema.json.
 * Run after changing src/config/schema.ts: `npm run gen`. Tests fail while either is stale.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { configJsonSchemaText } from "../src/config/json-schema.js";
import { renderConfigReference } from "../src/config/reference-docs.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outputs: [string, string][] = [
  ["docs/config-reference.md", renderConfigReference()],
  ["schema/divisor.schema.json", configJsonSchemaText()],
];
for (const [path, text] of outputs) {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), text);
  console.log(`wrote ${path}`);
}
