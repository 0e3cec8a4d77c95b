import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { adminCall } from "../helpers/admin.js";
import { exited, startBuilt, until } from "../helpers/cli.js";
import { freePort, get, startBackend, type TestBackend } from "../helpers/net.js";
import { workerPids } from "../helpers/process.js";

let dir: string;
let backend: TestBackend;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "divisor-cache-workers-"));
  backend = await startBackend((_req, res) => {
    res.writeHead(200, { "cache-control": "max-age=600" });
    res.end("cached");
  });
});
after(async () => {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});

test("with --workers 2 a purge through the primary's admin API empties every worker's memory store", async () => {
  const port = await freePort();
  const adminPort = await freePort();
  const file = join(dir, "cache.yaml");
  writeFileSync(
    file,
    [
      `listeners: [{ address: "127.0.0.1:${port}" }]`,
      `admin: { address: "127.0.0.1:${adminPort}" }`,
      `services: { app: { backends: ["${backend.address}"] } }`,
      "middlewares: { page: { type: cache } }",
      "routers: { all: { service: app, middlewares: [page] } }",
    ].join("\n"),
  );
  const { child, logs } = startBuilt(["-c", file, "--workers", "2"]);
  try {
    await until(() => workerPids(logs()).length === 2, "two workers to start");
    const hits = () => backend.seen.filter((r) => r.url === "/w").length;
    const round = async () => {
      const answers = await Promise.all(Array.from({ length: 20 }, () => get(`http://127.0.0.1:${port}/w`, { agent: false })));
      for (const a of answers) assert.equal(a.body, "cached");
      return answers.filter((a) => String(a.headers["cache-status"]).includes("hit")).length;
    };
    // Each worker has its own store: at most one miss per worker (concurrent misses coalesce).
    for (let i = 0; i < 5 && hits() < 2; i++) await round();
    assert.equal(hits(), 2, "each worker stored the response once");
    assert.equal(await round(), 20);
    const purged = await adminCall(`http://127.0.0.1:${adminPort}`, "DELETE", `/api/cache/page?key=${encodeURIComponent("127.0.0.1/w")}`);
    assert.equal(purged.status, 200);
    // One key in each worker's store: the answer adds them up.
    assert.deepEqual(purged.body, { middleware: "page", purged: 2 });
    for (let i = 0; i < 5 && hits() < 4; i++) await round();
    assert.equal(hits(), 4, "both workers missed again after the purge");
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited(child), 0);
});
