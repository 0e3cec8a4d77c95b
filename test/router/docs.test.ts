/** The example in docs/routing.md is a real configuration and its table of outcomes is checked here. */
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { test } from "node:test";
import { parse } from "yaml";
import { buildTable, type RouterInput, winner } from "./fixtures.js";

test("the routing example in docs/routing.md routes each listed request as documented", async () => {
  const doc = await readFile(new URL("../../docs/routing.md", import.meta.url), "utf8");
  const section = doc.slice(doc.indexOf("### Example"));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)![1]!;
  const table = buildTable((parse(yaml) as { routers: Record<string, RouterInput> }).routers);
  const rows = [...section.matchAll(/^\| `([A-Z]+) ([^/`]+)(\/[^`]*)`(?: with `([^:`]+): ([^`]*)`)? \| `([^`]+)` \|/gm)];
  assert.ok(rows.length >= 6, "the example lists its requests");
  for (const [, method, host, path, header, value, expected] of rows) {
    const headers = header === undefined ? {} : { [header]: value! };
    assert.equal(winner(table, host!, path!, method, headers), expected, `${method} ${host}${path}`);
  }
});
