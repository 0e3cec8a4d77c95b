import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import type http from "node:http";
import { afterEach, describe, test } from "node:test";
import { promisify } from "node:util";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { createGateway } from "../../src/gateway/gateway.js";
import { adminCall } from "../helpers/admin.js";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** curl -i: status, lowercased headers (repeats joined by ", ") and body. */
async function curl(url: string, args: string[] = []): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const { stdout } = await run("curl", ["-s", "-i", ...args, url]);
  const split = stdout.indexOf("\r\n\r\n");
  const lines = stdout.slice(0, split).split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(lines[0]!.split(" ")[1]), headers, body: stdout.slice(split + 4) };
}

interface Setup {
  backend: TestBackend;
  gw: TestGateway;
  admin: string;
  /** Requests the backend saw for a path. */
  hits(path: string): number;
  config: Omit<DivisorConfigInput, "listeners">;
}

const running: Setup[] = [];
afterEach(async () => {
  for (const s of running.splice(0)) {
    await s.gw.close();
    await s.backend.close();
  }
});

async function setup(handler: http.RequestListener, cache: Record<string, unknown> = {}): Promise<Setup> {
  const backend = await startBackend(handler);
  const config = {
    admin: { address: "127.0.0.1:0" },
    services: { app: { backends: [backend.address] } },
    middlewares: { cache: { type: "cache", ...cache } as never },
    routers: { all: { service: "app", middlewares: ["cache"] } },
  } as Omit<DivisorConfigInput, "listeners">;
  const gw = await startGateway(config);
  const a = gw.gateway.adminAddress!;
  const s: Setup = {
    backend,
    gw,
    admin: `http://127.0.0.1:${a.port}`,
    hits: (path) => backend.seen.filter((r) => r.url === path).length,
    config,
  };
  running.push(s);
  return s;
}

async function cacheRequests(admin: string, result: string): Promise<number> {
  const text = (await get(`${admin}/metrics`)).body;
  return sampleValue(parseExposition(text, "text"), "divisor_cache_requests_total", { middleware: "cache", result }) ?? 0;
}

describe("cache middleware", () => {
  test("a miss is stored and the next request is a hit with Age and Cache-Status, without reaching the backend", async () => {
    let n = 0;
    const s = await setup((_req, res) => {
      n++;
      res.writeHead(200, { "cache-control": "max-age=60", "content-type": "text/plain", "x-version": String(n) });
      res.end(`v${n}`);
    });
    const first = await curl(`${s.gw.url}/a`);
    assert.equal(first.status, 200);
    assert.equal(first.body, "v1");
    assert.equal(first.headers["cache-status"], "divisor; fwd=uri-miss; fwd-status=200; stored");
    const second = await curl(`${s.gw.url}/a`);
    assert.equal(second.body, "v1");
    assert.equal(second.headers["x-version"], "1");
    assert.equal(second.headers["content-type"], "text/plain");
    assert.equal(second.headers["content-length"], "2");
    assert.match(second.headers["cache-status"]!, /^divisor; hit; ttl=(59|60)$/);
    assert.match(second.headers.age!, /^[01]$/);
    const head = await curl(`${s.gw.url}/a`, ["-I"]);
    assert.equal(head.status, 200);
    assert.equal(head.headers["content-length"], "2");
    assert.equal(s.hits("/a"), 1);
    assert.equal(await cacheRequests(s.admin, "hit"), 2);
    assert.equal(await cacheRequests(s.admin, "miss"), 1);
    // Another query string is another key.
    assert.equal((await curl(`${s.gw.url}/a?x=1`)).body, "v2");
  });

  test("Age counts the time the response spent in the cache and the Age the backend sent", async () => {
    const s = await setup((_req, res) => {
      res.writeHead(200, { "cache-control": "max-age=600", age: "100" });
      res.end("aged");
    });
    await get(`${s.gw.url}/aged`);
    await sleep(1100);
    const res = await get(`${s.gw.url}/aged`);
    assert.ok(Number(res.headers.age) >= 101, `Age ${res.headers.age}`);
    assert.match(String(res.headers["cache-status"]), /ttl=(49[0-9])/);
  });

  test("answers a client's If-None-Match from the cache with 304", async () => {
    const s = await setup((_req, res) => {
      res.writeHead(200, { "cache-control": "max-age=60", etag: '"v1"' });
      res.end("body");
    });
    await get(`${s.gw.url}/c`);
    const res = await curl(`${s.gw.url}/c`, ["-H", 'If-None-Match: "v1"']);
    assert.equal(res.status, 304);
    assert.equal(res.body, "");
    assert.equal(res.headers["content-length"], undefined);
    assert.equal(res.headers.etag, '"v1"');
    assert.equal(s.hits("/c"), 1);
  });

  test("keeps one variant per Vary value (a custom header and Accept-Encoding)", async () => {
    const s = await setup((req, res) => {
      res.writeHead(200, { "cache-control": "max-age=60", vary: "X-Lang, Accept-Encoding" });
      res.end(`${req.headers["x-lang"]}|${req.headers["accept-encoding"] ?? ""}`);
    });
    const ask = (lang: string, enc?: string) => curl(`${s.gw.url}/v`, ["-H", `X-Lang: ${lang}`, ...(enc === undefined ? [] : ["-H", `Accept-Encoding: ${enc}`])]);
    assert.equal((await ask("en")).body, "en|");
    assert.equal((await ask("fr")).body, "fr|");
    assert.equal((await ask("en", "gzip")).body, "en|gzip");
    assert.equal(s.hits("/v"), 3);
    const en = await ask("en");
    assert.equal(en.body, "en|");
    assert.match(en.headers["cache-status"]!, /hit/);
    assert.equal((await ask("fr")).body, "fr|");
    assert.equal((await ask("en", "gzip")).body, "en|gzip");
    assert.equal(s.hits("/v"), 3);
    const other = await ask("de");
    assert.match(other.headers["cache-status"]!, /fwd=vary-miss/);
  });

  test("key.headers makes a request header select variants as if the backend had sent Vary", async () => {
    const s = await setup(
      (req, res) => {
        res.writeHead(200, { "cache-control": "max-age=60" });
        res.end(String(req.headers["x-tenant"]));
      },
      { key: { headers: ["x-tenant"] } },
    );
    assert.equal((await curl(`${s.gw.url}/t`, ["-H", "x-tenant: a"])).body, "a");
    assert.equal((await curl(`${s.gw.url}/t`, ["-H", "x-tenant: b"])).body, "b");
    assert.equal((await curl(`${s.gw.url}/t`, ["-H", "x-tenant: a"])).body, "a");
    assert.equal(s.hits("/t"), 2);
  });

  test("does not store no-store, private, Set-Cookie or unmarked responses, nor answer Authorization from a plain entry", async () => {
    const policies: Record<string, string | undefined> = {
      "/no-store": "max-age=60, no-store",
      "/private": "private, max-age=60",
      "/cookie": "max-age=60",
      "/plain": undefined,
      "/auth": "max-age=60",
      "/auth-public": "public, max-age=60",
    };
    const s = await setup((req, res) => {
      const headers: Record<string, string> = {};
      const cc = policies[req.url!];
      if (cc !== undefined) headers["cache-control"] = cc;
      if (req.url === "/cookie") headers["set-cookie"] = "a=1";
      res.writeHead(200, headers);
      res.end("x");
    });
    for (const path of ["/no-store", "/private", "/cookie", "/plain"]) {
      const first = await curl(`${s.gw.url}${path}`);
      assert.doesNotMatch(first.headers["cache-status"]!, /stored/, path);
      await curl(`${s.gw.url}${path}`);
      assert.equal(s.hits(path), 2, path);
    }
    const detail = await curl(`${s.gw.url}/private`);
    assert.match(detail.headers["cache-status"]!, /detail=private/);
    await curl(`${s.gw.url}/auth`, ["-H", "Authorization: Bearer x"]);
    await curl(`${s.gw.url}/auth`, ["-H", "Authorization: Bearer x"]);
    assert.equal(s.hits("/auth"), 2);
    await curl(`${s.gw.url}/auth-public`, ["-H", "Authorization: Bearer x"]);
    await curl(`${s.gw.url}/auth-public`, ["-H", "Authorization: Bearer y"]);
    assert.equal(s.hits("/auth-public"), 1);
  });

  test("a request's no-store bypasses the cache and its no-cache revalidates", async () => {
    const s = await setup((_req, res) => {
      res.writeHead(200, { "cache-control": "max-age=60" });
      res.end("r");
    });
    await get(`${s.gw.url}/r`);
    const bypass = await curl(`${s.gw.url}/r`, ["-H", "Cache-Control: no-store"]);
    assert.match(bypass.headers["cache-status"]!, /fwd=bypass/);
    const forced = await curl(`${s.gw.url}/r`, ["-H", "Cache-Control: no-cache"]);
    assert.match(forced.headers["cache-status"]!, /fwd=request; fwd-status=200; stored/);
    assert.equal(s.hits("/r"), 3);
    const onlyCached = await curl(`${s.gw.url}/nothing`, ["-H", "Cache-Control: only-if-cached"]);
    assert.equal(onlyCached.status, 504);
  });

  test("a successful POST invalidates what is stored for its URI", async () => {
    const s = await setup((req, res) => {
      req.resume();
      res.writeHead(200, { "cache-control": "max-age=60" });
      res.end("p");
    });
    await get(`${s.gw.url}/p`);
    await get(`${s.gw.url}/p`);
    assert.equal(s.hits("/p"), 1);
    await curl(`${s.gw.url}/p`, ["-X", "POST", "-d", "x"]);
    await get(`${s.gw.url}/p`);
    assert.equal(s.hits("/p"), 3);
  });

  test("evicts the least recently used responses to stay within maxBytes", async () => {
    const s = await setup(
      (req, res) => {
        res.writeHead(200, { "cache-control": "max-age=60" });
        res.end(`${req.url}`.padEnd(1000, "."));
      },
      { maxBytes: 4200 },
    );
    for (const p of ["/1", "/2", "/3"]) await get(`${s.gw.url}${p}`);
    await get(`${s.gw.url}/1`); // /1 is now the most recently used: /2 goes first
    await get(`${s.gw.url}/4`);
    await get(`${s.gw.url}/1`);
    await get(`${s.gw.url}/3`);
    assert.equal(s.hits("/1"), 1);
    assert.equal(s.hits("/3"), 1);
    await get(`${s.gw.url}/2`);
    assert.equal(s.hits("/2"), 2);
    const m = parseExposition((await get(`${s.admin}/metrics`)).body, "text");
    assert.ok((sampleValue(m, "divisor_cache_evictions_total", { middleware: "cache" }) ?? 0) >= 2);
    assert.ok((sampleValue(m, "divisor_cache_bytes", { middleware: "cache" }) ?? 0) <= 4200);
    assert.equal(sampleValue(m, "divisor_cache_entries", { middleware: "cache" }), 3);
  });

  test("does not store a body larger than maxObjectSize, and streams it whole", async () => {
    const s = await setup(
      (_req, res) => {
        res.writeHead(200, { "cache-control": "max-age=60" });
        res.end("x".repeat(5000));
      },
      { maxObjectSize: 4096 },
    );
    assert.equal((await get(`${s.gw.url}/big`)).body.length, 5000);
    assert.equal((await get(`${s.gw.url}/big`)).body.length, 5000);
    assert.equal(s.hits("/big"), 2);
  });

  test("coalesces concurrent misses into one backend fetch", async () => {
    const s = await setup((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { "cache-control": "max-age=60" });
        res.end("slow");
      }, 300);
    });
    const answers = await Promise.all(Array.from({ length: 20 }, () => curl(`${s.gw.url}/slow`)));
    assert.ok(answers.every((a) => a.status === 200 && a.body === "slow"));
    assert.equal(s.hits("/slow"), 1);
    assert.equal(answers.filter((a) => a.headers["cache-status"]!.includes("collapsed")).length, 19);
    assert.equal(await cacheRequests(s.admin, "coalesced"), 19);
  });

  test("waiters go to the backend themselves when the first response is not storable", async () => {
    const s = await setup((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { "cache-control": "no-store" });
        res.end("nope");
      }, 200);
    });
    const answers = await Promise.all(Array.from({ length: 5 }, () => get(`${s.gw.url}/ns`)));
    assert.ok(answers.every((a) => a.body === "nope"));
    assert.equal(s.hits("/ns"), 5);
  });

  test("revalidates a stale entry with If-None-Match; the backend's 304 reaches the client as the stored 200", async () => {
    let n = 0;
    const s = await setup((req, res) => {
      n++;
      if (req.headers["if-none-match"] === '"e1"') {
        res.writeHead(304, { etag: '"e1"', "cache-control": "max-age=0", "x-refreshed": String(n) });
        res.end();
        return;
      }
      res.writeHead(200, { etag: '"e1"', "cache-control": "max-age=0", "content-type": "text/html", "x-refreshed": "0" });
      res.end("<p>stored</p>");
    });
    const first = await curl(`${s.gw.url}/e`);
    assert.match(first.headers["cache-status"]!, /stored/);
    const second = await curl(`${s.gw.url}/e`);
    assert.equal(second.status, 200);
    assert.equal(second.body, "<p>stored</p>");
    assert.equal(second.headers["content-type"], "text/html");
    assert.equal(second.headers["content-length"], "13");
    assert.equal(second.headers["x-refreshed"], "2");
    assert.match(second.headers["cache-status"]!, /^divisor; fwd=stale; fwd-status=304; ttl=(0|-1); stored$/);
    assert.equal(s.backend.seen[1]!.headers["if-none-match"], '"e1"');
    const head = await curl(`${s.gw.url}/e`, ["-I"]);
    assert.equal(head.status, 200);
    assert.equal(head.headers["content-length"], "13");
    assert.match(head.headers["cache-status"]!, /fwd-status=304/);
    assert.equal(await cacheRequests(s.admin, "revalidated"), 2);
  });

  test("revalidates with If-Modified-Since when there is no ETag, and a 200 replaces the entry", async () => {
    let n = 0;
    const s = await setup((req, res) => {
      n++;
      if (n === 2) {
        assert.equal(req.headers["if-modified-since"], "Tue, 01 Dec 2026 10:00:00 GMT");
        res.writeHead(200, { "last-modified": "Tue, 01 Dec 2026 11:00:00 GMT", "cache-control": "max-age=60" });
        res.end("new");
        return;
      }
      res.writeHead(200, { "last-modified": "Tue, 01 Dec 2026 10:00:00 GMT", "cache-control": "no-cache" });
      res.end("old");
    });
    assert.equal((await get(`${s.gw.url}/lm`)).body, "old");
    assert.equal((await get(`${s.gw.url}/lm`)).body, "new");
    assert.equal((await get(`${s.gw.url}/lm`)).body, "new");
    assert.equal(n, 2);
  });

  test("stale-while-revalidate serves the stale entry at once and refreshes it in the background", async () => {
    let n = 0;
    const s = await setup((_req, res) => {
      n++;
      res.writeHead(200, { "cache-control": "max-age=0, stale-while-revalidate=30" });
      res.end(`v${n}`);
    });
    assert.equal((await get(`${s.gw.url}/swr`)).body, "v1");
    const stale = await curl(`${s.gw.url}/swr`);
    assert.equal(stale.body, "v1");
    assert.match(stale.headers["cache-status"]!, /^divisor; hit; ttl=(0|-1); detail=stale-while-revalidate$/);
    for (let i = 0; i < 50 && n < 2; i++) await sleep(20);
    assert.equal(n, 2);
    await sleep(50);
    assert.equal((await get(`${s.gw.url}/swr`)).body, "v2");
  });

  test("stale-if-error serves the stale entry when the backend is gone or answers 5xx", async () => {
    let fail = false;
    const s = await setup((_req, res) => {
      if (fail) {
        res.writeHead(503);
        res.end("down");
        return;
      }
      res.writeHead(200, { "cache-control": "max-age=0, stale-if-error=60" });
      res.end("good");
    });
    assert.equal((await get(`${s.gw.url}/sie`)).body, "good");
    fail = true;
    const on5xx = await curl(`${s.gw.url}/sie`);
    assert.equal(on5xx.status, 200);
    assert.equal(on5xx.body, "good");
    assert.match(on5xx.headers["cache-status"]!, /fwd=stale; fwd-status=503; ttl=-?\d+; detail=stale-if-error/);
    await s.backend.close();
    const gone = await curl(`${s.gw.url}/sie`);
    assert.equal(gone.status, 200);
    assert.equal(gone.body, "good");
    assert.match(gone.headers["cache-status"]!, /detail=stale-if-error/);
    // Without stale-if-error the gateway's own 502 comes through.
    const miss = await curl(`${s.gw.url}/other`);
    assert.equal(miss.status, 502);
    assert.ok((await cacheRequests(s.admin, "stale")) >= 2);
  });

  test("the admin API purges one key and every key under a prefix", async () => {
    const s = await setup((_req, res) => {
      res.writeHead(200, { "cache-control": "max-age=60" });
      res.end("x");
    });
    for (const p of ["/img/a.png", "/img/b.png", "/css/c.css"]) await get(`${s.gw.url}${p}`);
    const one = await adminCall(s.admin, "DELETE", `/api/cache/cache?key=${encodeURIComponent("127.0.0.1/css/c.css")}`);
    assert.equal(one.status, 200);
    assert.deepEqual(one.body, { middleware: "cache", purged: 1 });
    const prefix = await adminCall(s.admin, "DELETE", `/api/cache/cache?prefix=${encodeURIComponent("127.0.0.1/img/")}`);
    assert.deepEqual(prefix.body, { middleware: "cache", purged: 2 });
    for (const p of ["/img/a.png", "/img/b.png", "/css/c.css"]) await get(`${s.gw.url}${p}`);
    for (const p of ["/img/a.png", "/img/b.png", "/css/c.css"]) assert.equal(s.hits(p), 2, p);
    const unknown = await adminCall(s.admin, "DELETE", "/api/cache/cahce?key=x");
    assert.equal(unknown.status, 404);
    assert.match(JSON.stringify(unknown.body), /did you mean \\"cache\\"/);
    const neither = await adminCall(s.admin, "DELETE", "/api/cache/cache");
    assert.equal(neither.status, 400);
  });

  test("a reload keeps the stored responses", async () => {
    const s = await setup((_req, res) => {
      res.writeHead(200, { "cache-control": "max-age=60" });
      res.end("kept");
    });
    await get(`${s.gw.url}/k`);
    await s.gw.gateway.reload({ ...s.config, listeners: [{ address: "127.0.0.1:0" }], middlewares: { cache: { type: "cache", maxBytes: "32MiB" } as never } } as DivisorConfigInput);
    const res = await curl(`${s.gw.url}/k`);
    assert.match(res.headers["cache-status"]!, /hit/);
    assert.equal(s.hits("/k"), 1);
  });

  test("stores a chunked response and answers it with Content-Length, also to an HTTP/1.0 client", async () => {
    const s = await setup((_req, res) => {
      res.writeHead(200, { "cache-control": "max-age=60" });
      res.write("part one, ");
      setTimeout(() => res.end("part two"), 20);
    });
    const first = await curl(`${s.gw.url}/chunked`);
    assert.equal(first.headers["transfer-encoding"], "chunked");
    assert.equal(first.body, "part one, part two");
    const hit = await curl(`${s.gw.url}/chunked`, ["--http1.0"]);
    assert.equal(hit.body, "part one, part two");
    assert.equal(hit.headers["content-length"], "18");
    assert.equal(hit.headers["transfer-encoding"], undefined);
    assert.equal(s.hits("/chunked"), 1);
  });

  test("a bad cache configuration is refused with the key's path", () => {
    const config = (cache: Record<string, unknown>) =>
      ({ listeners: [{ address: "127.0.0.1:0" }], services: { app: { backends: ["127.0.0.1:1"] } }, middlewares: { c: { type: "cache", ...cache } }, routers: { all: { service: "app", middlewares: ["c"] } } }) as never;
    assert.throws(() => createGateway(config({ store: "redis" })), (err: unknown) => err instanceof ConfigError && err.message.includes("middlewares.c.redis") && err.message.includes("store: redis needs redis"));
    assert.throws(() => createGateway(config({ methods: ["POST"] })), (err: unknown) => err instanceof ConfigError && err.message.includes("middlewares.c.methods"));
    assert.throws(() => createGateway(config({ maxBytes: "lots" })), (err: unknown) => err instanceof ConfigError && err.message.includes("middlewares.c.maxBytes"));
  });
});
