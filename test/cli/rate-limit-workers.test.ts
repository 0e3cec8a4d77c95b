import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { exited, startBuilt, until } from "../helpers/cli.js";
import { freePort, get, startBackend, type TestBackend } from "../helpers/net.js";
import { pidsConnectedTo, workerPids } from "../helpers/process.js";

let dir: string;
let backend: TestBackend;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "divisor-rl-workers-"));
  // Slow enough that concurrent requests hold upstream connections from both workers.
  backend = await startBackend((_req, res) => setTimeout(() => res.end("ok"), 20));
});
after(async () => {
  await backend.close();
  rmSync(dir, { recursive: true, force: true });
});



for (const algorithm of ["gcra", "sliding-window"]) {
  test(`with --workers 2 the in-memory ${algorithm} limit is exact across the workers and survives a reload`, async () => {
    const port = await freePort();
    const adminPort = await freePort();
    const file = join(dir, `${algorithm}.yaml`);
    const N = 10;
    writeFileSync(
      file,
      [
        `listeners: [{ address: "127.0.0.1:${port}" }]`,
        `admin: { address: "127.0.0.1:${adminPort}" }`,
        `services: { app: { backends: ["${backend.address}"] } }`,
        `middlewares: { limit: { type: rate-limit, algorithm: ${algorithm}, rate: ${N}, period: 1h } }`,
        "routers:",
        "  limited: { match: { path: { exact: /limited } }, service: app, middlewares: [limit] }",
        "  free: { service: app }",
      ].join("\n"),
    );
    const { child, logs } = startBuilt(["-c", file, "--workers", "2"]);
    try {
      await until(() => workerPids(logs()).length === 2, "two workers to start");
      const workers = workerPids(logs());
      // 3N requests, each on a new connection, in waves of concurrent ones.
      const statuses: number[] = [];
      const headers: Record<string, unknown>[] = [];
      for (let wave = 0; wave < 3; wave++) {
        const answers = await Promise.all(Array.from({ length: N }, () => get(`http://127.0.0.1:${port}/limited`, { agent: false })));
        for (const a of answers) {
          statuses.push(a.status);
          headers.push(a.headers);
        }
      }
      assert.equal(statuses.filter((s) => s === 200).length, N, `exactly ${N} pass: ${statuses.join(",")}`);
      assert.equal(statuses.filter((s) => s === 429).length, 2 * N);
      const remaining = headers.filter((_h, i) => statuses[i] === 200).map((h) => Number(String(h.ratelimit).match(/;r=(\d+);/)![1]));
      assert.deepEqual(
        remaining.sort((a, b) => a - b),
        Array.from({ length: N }, (_, i) => i),
        "each allowed request saw the count of all the others",
      );
      for (const h of headers) {
        assert.equal(h["ratelimit-policy"], `"limit";q=${N};w=3600`);
        assert.match(String(h.ratelimit), /^"limit";r=\d+;t=\d+$/);
      }
      for (const h of headers.filter((_h, i) => statuses[i] === 429)) assert.ok(Number(h["retry-after"]) >= 1);
      // Both workers served: each holds its own upstream connections (kept alive).
      const seen = new Set<number>();
      for (let round = 0; round < 20 && seen.size < 2; round++) {
        await Promise.all(Array.from({ length: 20 }, () => get(`http://127.0.0.1:${port}/free`, { agent: false })));
        for (const pid of pidsConnectedTo(backend.port)) if (workers.includes(pid)) seen.add(pid);
      }
      assert.equal(seen.size, 2, "both workers proxied requests");
      for (let i = 0; i < 2 * N; i++) assert.equal((await get(`http://127.0.0.1:${port}/limited`, { agent: false })).status, 429);
      // The buckets live in the primary, so its /metrics reports their keys (one client address here).
      const scraped = await get(`http://127.0.0.1:${adminPort}/metrics`);
      assert.match(scraped.body, /^divisor_rate_limit_keys\{middleware="limit"\} 1$/m, "the primary's own family in the merged scrape");

      // The primary keeps the buckets by the middleware's name across a reload of the workers.
      child.kill("SIGHUP");
      await until(() => (logs().match(/configuration reloaded/g) ?? []).length === 2, "both workers to reload");
      for (let i = 0; i < 4; i++) assert.equal((await get(`http://127.0.0.1:${port}/limited`, { agent: false })).status, 429, "still limited after the reload");
    } finally {
      child.kill("SIGTERM");
    }
    assert.equal(await exited(child), 0);
  });
}
