/** The admin API's documentation matches its routes. */
import assert from "node:assert/strict";
import { readdir, readFile } from "node:fs/promises";
import { test } from "node:test";
import { ADMIN_ROUTES } from "../../src/admin/routes/index.js";

const DOCS = new URL("../../docs/", import.meta.url);

test("every endpoint in docs/admin-api.md's table exists", async () => {
  const doc = await readFile(new URL("admin-api.md", DOCS), "utf8");
  const routes = new Set(ADMIN_ROUTES.map((r) => `${r.method} ${r.path}`));
  let rows = 0;
  for (const m of doc.matchAll(/^\| (GET|PUT|POST|DELETE) \| (.+?) \|/gm)) {
    for (const path of m[2]!.matchAll(/`([^`]+)`/g)) {
      rows++;
      assert.ok(routes.has(`${m[1]} ${path[1]}`), `${m[1]} ${path[1]} is documented but is no admin route`);
    }
  }
  assert.ok(rows >= 12);
});

test("every admin endpoint is documented on a docs/ page", async () => {
  const pages = await Promise.all((await readdir(DOCS)).filter((f) => f.endsWith(".md")).map((f) => readFile(new URL(f, DOCS), "utf8")));
  const all = pages.join("\n");
  for (const route of ADMIN_ROUTES) assert.ok(all.includes(`\`${route.path}\``), `${route.method} ${route.path} is on no docs/ page`);
});
