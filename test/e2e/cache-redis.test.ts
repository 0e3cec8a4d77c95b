import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { adminCall } from "../helpers/admin.js";
import { freePort, get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { kill, startRedis } from "../helpers/redis.js";

describe("cache middleware with the Redis store", () => {
  let backend: TestBackend;
  let dir: string;
  let port: number;
  let redis: ChildProcess;
  let one: TestGateway;
  let two: TestGateway;
  let n = 0;

  before(async () => {
    backend = await startBackend((req, res) => {
      n++;
      const headers: Record<string, string> = { "cache-control": "max-age=60", vary: "x-lang" };
      headers["x-served"] = String(n);
      res.writeHead(200, headers);
      res.end(`${req.url} ${req.headers["x-lang"] ?? "-"} #${n}`);
    });
    dir = await mkdtemp(join(tmpdir(), "divisor-cache-redis-"));
    port = await freePort();
    redis = await startRedis(dir, port);
    const config = {
      admin: { address: "127.0.0.1:0" },
      services: { app: { backends: [backend.address] } },
      middlewares: { shared: { type: "cache", store: "redis", redis: { url: `redis://127.0.0.1:${port}`, timeout: 500 } } as never },
      routers: { all: { service: "app", middlewares: ["shared"] } },
    } as Omit<DivisorConfigInput, "listeners">;
    one = await startGateway(config);
    two = await startGateway(config);
  });
  after(async () => {
    await one?.close();
    await two?.close();
    await kill(redis);
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });

  const ask = (gw: TestGateway, path: string, lang?: string) => get(`${gw.url}${path}`, lang === undefined ? {} : { headers: { "x-lang": lang } });

  test("a response stored through one gateway is a hit on the other, variants and Age included", async () => {
    const first = await ask(one, "/shared", "en");
    assert.match(String(first.headers["cache-status"]), /stored/);
    const other = await ask(two, "/shared", "en");
    assert.equal(other.body, first.body);
    assert.match(String(other.headers["cache-status"]), /^divisor; hit; ttl=/);
    assert.equal(other.headers["x-served"], first.headers["x-served"]);
    assert.ok(other.headers.age !== undefined);
    const fr = await ask(two, "/shared", "fr");
    assert.match(String(fr.headers["cache-status"]), /fwd=vary-miss/);
    assert.match(String((await ask(one, "/shared", "fr")).headers["cache-status"]), /hit/);
    assert.equal(backend.seen.filter((r) => r.url === "/shared").length, 2);
  });

  test("a purge through one gateway's admin API is seen by the other", async () => {
    await ask(one, "/p/a");
    await ask(one, "/p/b");
    assert.match(String((await ask(two, "/p/a")).headers["cache-status"]), /hit/);
    const admin = `http://127.0.0.1:${one.gateway.adminAddress!.port}`;
    const purged = await adminCall(admin, "DELETE", `/api/cache/shared?prefix=${encodeURIComponent("127.0.0.1/p/")}`);
    assert.deepEqual(purged.body, { middleware: "shared", purged: 2 });
    assert.match(String((await ask(two, "/p/a")).headers["cache-status"]), /uri-miss/);
  });

  test("with Redis gone a lookup is a miss and the request is still answered", async () => {
    await kill(redis);
    const res = await ask(two, "/down");
    assert.equal(res.status, 200);
    assert.match(String(res.headers["cache-status"]), /uri-miss/);
    redis = await startRedis(dir, port);
  });
});
