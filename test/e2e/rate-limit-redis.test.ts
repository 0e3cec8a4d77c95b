import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { freePort, get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { kill, startRedis } from "../helpers/redis.js";

describe("rate-limit middleware with the Redis store", () => {
  let backend: TestBackend;
  let dir: string;
  let port: number;
  let redis: ChildProcess;
  before(async () => {
    backend = await startBackend();
    dir = await mkdtemp(join(tmpdir(), "divisor-redis-"));
    port = await freePort();
    redis = await startRedis(dir, port);
  });
  after(async () => {
    await kill(redis);
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  function config(name: string, extra: Record<string, unknown> = {}): Omit<DivisorConfigInput, "listeners"> {
    return {
      services: { app: { backends: [backend.address] } },
      middlewares: { [name]: { type: "rate-limit", rate: 5, period: "1m", store: { redis: { url: `redis://127.0.0.1:${port}`, timeout: 200 } }, ...extra } as never },
      routers: { all: { service: "app", middlewares: [name] } },
    };
  }

  test("two gateways share one limit exactly", async () => {
    const a = await startGateway(config("shared"));
    const b = await startGateway(config("shared"));
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await get(`${(i % 2 === 0 ? a : b).url}/`)).status);
      assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
      const res = await get(`${b.url}/`);
      assert.equal(res.headers["ratelimit-policy"], '"shared";q=5;w=60');
      assert.match(String(res.headers.ratelimit), /^"shared";r=0;t=\d+$/);
      assert.ok(Number(res.headers["retry-after"]) >= 1);
      // Concurrent requests across both gateways still get exactly the quota.
      const c = await startGateway(config("concurrent"));
      try {
        const all = await Promise.all(Array.from({ length: 20 }, (_, i) => get(`${(i % 2 === 0 ? a : c).url}/`)));
        // Gateway a still runs "shared" (already spent); c runs "concurrent" with its own 5.
        assert.equal(all.filter((r, i) => i % 2 === 1 && r.status === 200).length, 5);
      } finally {
        await c.close();
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("two gateways share one sliding-window limit exactly, with the headers of the memory store", async () => {
    const sliding = { algorithm: "sliding-window", rate: 10, period: "2s" };
    const a = await startGateway(config("sw-shared", sliding));
    const b = await startGateway(config("sw-shared", sliding));
    try {
      // 30 concurrent requests over both gateways, each on its own connection: exactly 10 pass.
      const all = await Promise.all(Array.from({ length: 30 }, (_, i) => get(`${(i % 2 === 0 ? a : b).url}/`)));
      assert.equal(all.filter((r) => r.status === 200).length, 10);
      assert.equal(all.filter((r) => r.status === 429).length, 20);
      for (const res of all) {
        assert.equal(res.headers["ratelimit-policy"], '"sw-shared";q=10;w=2');
        assert.match(String(res.headers.ratelimit), /^"sw-shared";r=\d;t=[1-4]$/);
      }
      const remaining = all.filter((r) => r.status === 200).map((r) => Number(String(r.headers.ratelimit).match(/r=(\d)/)![1]));
      assert.deepEqual(remaining.sort(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], "each allowed request saw the count of the others");
      for (const res of all.filter((r) => r.status === 429)) {
        const retry = Number(res.headers["retry-after"]);
        assert.ok(retry >= 1 && retry <= 4, `retry-after ${retry}`);
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  test("the Redis sliding window answers what the memory one answers", async () => {
    const sliding = { algorithm: "sliding-window", rate: 3, period: "1m" };
    const shared = await startGateway(config("sw-same", sliding));
    const memory = await startGateway({ ...config("sw-same", sliding), middlewares: { "sw-same": { type: "rate-limit", ...sliding } as never } });
    try {
      for (let i = 0; i < 5; i++) {
        const [r, m] = [await get(`${shared.url}/`), await get(`${memory.url}/`)];
        assert.equal(r.status, m.status, `request ${i}`);
        // Same remaining count; t and Retry-After depend on where the fixed windows fall, on
        // Redis's wall clock there and the process's monotonic clock here.
        const remaining = (h: unknown) => String(h).replace(/;t=\d+$/, "");
        assert.equal(remaining(r.headers.ratelimit), remaining(m.headers.ratelimit), `request ${i}`);
        assert.equal(r.headers["retry-after"] === undefined, m.headers["retry-after"] === undefined, `request ${i}`);
      }
    } finally {
      await shared.close();
      await memory.close();
    }
  });

  for (const algorithm of ["gcra", "sliding-window"]) {
    test(`with Redis killed, onStoreFailure decides for ${algorithm}, and Redis coming back restores the limit`, async () => {
      await killedRedis(algorithm);
    });
  }

  async function killedRedis(algorithm: string): Promise<void> {
    const open = await startGateway(config(`open-${algorithm}`, { algorithm, rate: 2, onStoreFailure: "allow" }));
    const closed = await startGateway(config(`closed-${algorithm}`, { algorithm, rate: 2, onStoreFailure: "deny" }));
    let gateways: TestGateway[] = [open, closed];
    try {
      assert.equal((await get(`${open.url}/`)).status, 200);
      assert.equal((await get(`${closed.url}/`)).status, 200);
      await kill(redis);
      for (let i = 0; i < 4; i++) assert.equal((await get(`${open.url}/`)).status, 200, "fail open lets requests through");
      const denied = await get(`${closed.url}/`);
      assert.equal(denied.status, 503, "fail closed refuses");
      assert.equal(denied.headers["retry-after"], "1");
      const text = await open.gateway.metrics();
      assert.match(text, new RegExp(`divisor_rate_limit_store_errors_total\\{middleware="open-${algorithm}"\\} [1-9]`));

      redis = await startRedis(dir, port);
      // The client reconnects in the background (retry every <= 2s).
      let status = 0;
      for (let i = 0; i < 60 && status !== 200; i++) {
        status = (await get(`${closed.url}/`)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(status, 200, "closed recovers once Redis is back");
      assert.equal((await get(`${closed.url}/`)).status, 200);
      assert.equal((await get(`${closed.url}/`)).status, 429, "and the limit applies again");
    } finally {
      await Promise.all(gateways.map((g) => g.close()));
      gateways = [];
    }
  }
});
