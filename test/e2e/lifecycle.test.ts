import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import { RawClient, freePort, get, simpleConfig, startBackend, startGateway, statusLines } from "../helpers/net.js";

describe("graceful shutdown", () => {
  test("finishes every in-flight request, closes idle connections and stops accepting", async () => {
    const backend = await startBackend((req, res) => {
      setTimeout(() => res.end(`done ${req.url}`), 300);
    });
    const gw = await startGateway(simpleConfig([backend.address]));
    try {
      const idle = new RawClient(gw.port);
      await idle.ready;
      idle.write("GET /warm HTTP/1.1\r\nHost: x\r\n\r\n");
      await idle.waitFor((t) => t.endsWith("done /warm"));

      const inflight = Array.from({ length: 10 }, (_, i) => get(`${gw.url}/r${i}`));
      await new Promise((r) => setTimeout(r, 50));
      const closing = gw.gateway.close({ gracePeriodMs: 5000 });

      // The idle keep-alive connection is closed at once, without a response.
      await idle.waitClosed(2000);
      // New connections are refused while draining.
      await assert.rejects(
        new Promise((resolve, reject) => {
          const s = net.connect(gw.port, "127.0.0.1");
          s.once("connect", () => {
            s.destroy();
            resolve(undefined);
          });
          s.once("error", reject);
        }),
      );
      const results = await Promise.all(inflight);
      assert.deepEqual(
        results.map((r) => r.body),
        Array.from({ length: 10 }, (_, i) => `done /r${i}`),
      );
      // Each drained response told the client the connection is closing.
      for (const r of results) assert.equal(r.headers.connection, "close");
      await closing;
    } finally {
      await backend.close();
    }
  });

  test("closes connections still busy when the grace period ends", async () => {
    const backend = await startBackend(() => {
      // never answers
    });
    const gw = await startGateway(simpleConfig([backend.address]));
    try {
      const client = new RawClient(gw.port);
      await client.ready;
      client.write("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n");
      await new Promise((r) => setTimeout(r, 50));
      const started = Date.now();
      await gw.gateway.close({ gracePeriodMs: 300 });
      await client.waitClosed(2000);
      assert.ok(Date.now() - started < 2000);
    } finally {
      await backend.close();
    }
  });
});

describe("reload", () => {
  test("swaps routers atomically and keeps backend connection pools", async () => {
    const a = await startBackend((_req, res) => res.end("a"));
    const b = await startBackend((_req, res) => res.end("b"));
    const gw = await startGateway({
      services: { a: { backends: [a.address] }, b: { backends: [b.address] } },
      routers: { all: { service: "a" } },
    });
    try {
      const client = new RawClient(gw.port);
      await client.ready;
      client.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      await client.waitFor((t) => t.endsWith("a"));
      const aConnections = a.connections;
      await gw.gateway.reload({
        listeners: [{ address: "127.0.0.1:0" }],
        services: { a: { backends: [a.address] }, b: { backends: [b.address] } },
        routers: { all: { service: "a" }, bee: { match: { path: { prefix: "/b" } }, service: "b" } },
      });
      // The same client connection now sees the new table.
      client.write("GET /b HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const text = await client.waitClosed();
      assert.equal(statusLines(text).length, 3);
      assert.ok(text.endsWith("a"));
      assert.match(text, /\r\n\r\nb/);
      assert.equal(a.connections, aConnections, "the kept backend's pooled connection was not reused");
    } finally {
      await gw.close();
      await a.close();
      await b.close();
    }
  });

  test("a config refused while compiling (a bad router regex) leaves the running backends untouched", async () => {
    const a = await startBackend((_req, res) => res.end("a"));
    const gw = await startGateway({ services: { app: { backends: [{ address: a.address, weight: 3 }] } }, routers: { all: { service: "app" } } });
    try {
      await assert.rejects(
        gw.gateway.reload({
          listeners: [{ address: "127.0.0.1:0" }],
          services: { app: { backends: [{ address: a.address, weight: 7 }] } },
          routers: { all: { service: "app", match: { path: { regex: "(" } } } },
        }),
        (err: Error & { code?: string }) => err.code === "ERR_CONFIG_INVALID",
      );
      assert.equal(gw.gateway.backends()[0]!.weight, 3);
      assert.equal((await get(`${gw.url}/`)).body, "a");
    } finally {
      await gw.close();
      await a.close();
    }
  });

  test("adds and removes listeners without disturbing the ones that stay", async () => {
    const a = await startBackend((req, res) => setTimeout(() => res.end(`a${req.url}`), req.url === "/slow" ? 200 : 0));
    const [p1, p2] = [await freePort(), await freePort()];
    const base = { services: { app: { backends: [a.address] } }, routers: { all: { service: "app" } } };
    const gw = await startGateway({ ...base, listeners: [{ address: `127.0.0.1:${p1}` }] });
    try {
      await gw.gateway.reload({ ...base, listeners: [{ address: `127.0.0.1:${p1}` }, { address: `127.0.0.1:${p2}` }] });
      const stays = new RawClient(p2);
      await stays.ready;
      stays.write("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n");
      await stays.waitFor((t) => t.endsWith("a/1"));
      // A request in flight on the listener being removed still completes.
      const inflight = get(`http://127.0.0.1:${p1}/slow`, { agent: false });
      await new Promise((r) => setTimeout(r, 50));
      await gw.gateway.reload({ ...base, listeners: [{ address: `127.0.0.1:${p2}` }] });
      assert.equal((await inflight).body, "a/slow");
      await assert.rejects(get(`http://127.0.0.1:${p1}/`, { agent: false }));
      // The listener that stays keeps its keep-alive connection.
      stays.write("GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const text = await stays.waitClosed();
      assert.equal(statusLines(text).length, 2);
      assert.ok(text.endsWith("a/2"));
    } finally {
      await gw.close();
      await a.close();
    }
  });

  test("refuses an invalid config and keeps serving the old one", async () => {
    const a = await startBackend((_req, res) => res.end("a"));
    const gw = await startGateway(simpleConfig([a.address]));
    try {
      await assert.rejects(
        gw.gateway.reload({ listeners: [{ address: "127.0.0.1:0" }], routers: { all: { service: "missing" } } }),
        (err: Error & { code?: string }) => err.code === "ERR_CONFIG_INVALID" && /missing/.test(err.message),
      );
      assert.equal((await get(`${gw.url}/`)).body, "a");
    } finally {
      await gw.close();
      await a.close();
    }
  });
});
