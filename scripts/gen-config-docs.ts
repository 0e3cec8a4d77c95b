/**
 * Regenerates the files derived from code: docs/config-reference.md and
 * schema/divisor.schema.json from the config schema, deploy/grafana/divisor.json
 * from scripts/grafana-dashboard.ts. Run after changing either: `npm run gen`.
 * Tests fail while any is stale.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { configJsonSchemaText } from "../src/config/json-schema.js";
import { renderConfigReference } from "../src/config/reference-docs.js";
import { dashboardJson } from "./grafana-dashboard.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outputs: [string, string][] = [
  ["docs/config-reference.md", renderConfigReference()],
  ["schema/divisor.schema.json", configJsonSchemaText()],
  ["deploy/grafana/divisor.json", dashboardJson()],
];
for (const [path, text] of outputs) {
  await mkdir(dirname(join(root, path)), { recursive: true });
  await writeFile(join(root, path), text);
  console.log(`wrote ${path}`);
}
