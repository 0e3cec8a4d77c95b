import assert from "node:assert/strict";
import http from "node:http";
import { describe, test } from "node:test";
import { freePort, get, startBackend, startGateway, type TestBackend } from "../helpers/net.js";

/** A keep-alive client that fires `total` GETs, `concurrency` at a time, and counts statuses. */
async function load(url: string, total: number, concurrency: number, during?: (done: number) => void): Promise<Map<number, number>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const statuses = new Map<number, number>();
  let started = 0;
  let done = 0;
  const worker = async () => {
    while (started < total) {
      started++;
      let status: number;
      try {
        status = (await get(url, { agent })).status;
      } catch {
        status = 0; // connection error seen by the client
      }
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      done++;
      during?.(done);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  agent.destroy();
  return statuses;
}

describe("retries", () => {
  test("killing one of three backends under steady load fails no idempotent request when retries are on", async () => {
    const backends = await Promise.all([1, 2, 3].map(() => startBackend((_req, res) => setTimeout(() => res.end("ok"), 2))));
    // Defaults otherwise: the dead backend's breaker opens after 5 failures, and the
    // retries those and the requests in flight at the kill need stay within the budget.
    const gw = await startGateway({
      services: { app: { backends: backends.map((b) => b.address), retries: { attempts: 2 } } },
      routers: { all: { service: "app" } },
    });
    try {
      let killed = false;
      const statuses = await load(`${gw.url}/`, 1500, 20, (done) => {
        if (done === 300 && !killed) {
          killed = true;
          // Drop every connection it holds, in flight or idle, and stop listening: a crash.
          backends[1]!.server.closeAllConnections();
          backends[1]!.server.close();
        }
      });
      assert.ok(killed);
      assert.deepEqual([...statuses], [[200, 1500]]);
    } finally {
      await gw.close();
      for (const b of backends) await b.close();
    }
  });

  test("without retries, only requests in flight or routed to the dead backend before its breaker opens fail", async () => {
    const backends = await Promise.all([1, 2, 3].map(() => startBackend((_req, res) => setTimeout(() => res.end("ok"), 2))));
    const gw = await startGateway({
      services: { app: { backends: backends.map((b) => b.address), retries: { attempts: 0 } } },
      routers: { all: { service: "app" } },
    });
    try {
      let killed = false;
      const statuses = await load(`${gw.url}/`, 600, 20, (done) => {
        if (done === 100 && !killed) {
          killed = true;
          backends[1]!.server.closeAllConnections();
          backends[1]!.server.close();
        }
      });
      // In flight at the kill (up to 20 clients, a third of them on the dead backend) plus the
      // 5 consecutive failures that open its breaker.
      const failed = statuses.get(502) ?? 0;
      assert.ok(failed > 0 && failed <= 20 + 5, JSON.stringify([...statuses]));
      assert.equal((statuses.get(200) ?? 0) + (statuses.get(502) ?? 0), 600);
    } finally {
      await gw.close();
      for (const b of backends) await b.close();
    }
  });

  test("retries a configured status on another backend, replaying the request body", async () => {
    const seen: string[] = [];
    const failing = await startBackend((req, res) => {
      req.resume();
      req.on("end", () => {
        seen.push("failing");
        res.writeHead(503).end("down");
      });
    });
    const healthy = await startBackend((req, res) => {
      let body = "";
      req.on("data", (c) => {
        body += c;
      });
      req.on("end", () => {
        seen.push("healthy");
        res.end(`got ${body}`);
      });
    });
    const gw = await startGateway({
      services: { app: { backends: [failing.address, healthy.address], balancer: { algorithm: "round-robin" }, retries: { attempts: 1, onStatus: [503] } } },
      routers: { all: { service: "app" } },
    });
    try {
      for (let i = 0; i < 4; i++) {
        const res = await get(`${gw.url}/`, { method: "PUT" }, "payload");
        assert.equal(res.status, 200);
        assert.equal(res.body, "got payload");
      }
      assert.ok(seen.includes("failing"), "the failing backend was never tried");
    } finally {
      await gw.close();
      await failing.close();
      await healthy.close();
    }
  });

  test("does not retry once more body went out than bufferBody can replay", async () => {
    const failing = await startBackend((req, res) => {
      req.resume();
      req.on("end", () => res.writeHead(503).end("down"));
    });
    const healthy = await startBackend((req, res) => {
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    const gw = await startGateway({
      services: {
        app: { backends: [failing.address, healthy.address], balancer: { algorithm: "round-robin" }, retries: { attempts: 1, onStatus: [503], bufferBody: 10 } },
      },
      routers: { all: { service: "app" } },
    });
    try {
      const statuses = new Set<number>();
      for (let i = 0; i < 4; i++) statuses.add((await get(`${gw.url}/`, { method: "PUT" }, "x".repeat(100))).status);
      assert.deepEqual([...statuses].sort(), [200, 503]);
    } finally {
      await gw.close();
      await failing.close();
      await healthy.close();
    }
  });

  test("does not retry a POST unless the router opts in", async () => {
    let posts = 0;
    const refusedPort = await freePort();
    const healthy = await startBackend((req, res) => {
      posts++;
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    const config = (optIn: boolean) => ({
      services: { app: { backends: [`127.0.0.1:${refusedPort}`, healthy.address], balancer: { algorithm: "round-robin" as const } } },
      routers: { all: { service: "app", retryNonIdempotent: optIn } },
    });
    const strict = await startGateway(config(false));
    try {
      const statuses = new Set<number>();
      for (let i = 0; i < 4; i++) statuses.add((await get(`${strict.url}/`, { method: "POST" }, "x")).status);
      assert.deepEqual([...statuses].sort(), [200, 502]);
    } finally {
      await strict.close();
    }
    const optedIn = await startGateway(config(true));
    try {
      for (let i = 0; i < 4; i++) assert.equal((await get(`${optedIn.url}/`, { method: "POST" }, "x")).status, 200);
    } finally {
      await optedIn.close();
      await healthy.close();
    }
    assert.ok(posts >= 6);
  });

  test("retries.timeout bounds all tries together", async () => {
    let tries = 0;
    const hanging = await Promise.all(
      [1, 2, 3].map(() =>
        startBackend(() => {
          tries++; // never answers
        }),
      ),
    );
    const gw = await startGateway({
      services: { app: { backends: hanging.map((b) => b.address), timeouts: { response: "300ms" }, retries: { attempts: 2, timeout: "450ms" } } },
      routers: { all: { service: "app" } },
    });
    try {
      const started = Date.now();
      const res = await get(`${gw.url}/`);
      const took = Date.now() - started;
      assert.equal(res.status, 504);
      assert.equal(tries, 2, "a third try would start after the overall timeout");
      assert.ok(took < 800, `took ${took} ms; three tries of 300 ms would take 900`);
    } finally {
      await gw.close();
      for (const b of hanging) await b.close();
    }
  });

  test("a retry storm stays within the retry budget", async () => {
    let hits = 0;
    const all503: TestBackend[] = await Promise.all(
      [1, 2, 3].map(() =>
        startBackend((_req, res) => {
          hits++;
          res.writeHead(503).end("overloaded");
        }),
      ),
    );
    const gw = await startGateway({
      services: {
        app: {
          backends: all503.map((b) => b.address),
          retries: { attempts: 2, onStatus: [503], budget: { ratio: 0.2, minPerSecond: 1 } },
        },
      },
      routers: { all: { service: "app" } },
    });
    try {
      const requests = 400;
      const statuses = await load(`${gw.url}/`, requests, 10);
      assert.deepEqual([...statuses], [[503, requests]]);
      const retries = hits - requests;
      // At most 1/s × 10 s + 20% of the requests, whatever `attempts` would allow (2 × 400).
      assert.ok(retries <= 10 + 0.2 * requests, `${retries} retries for ${requests} requests`);
      assert.ok(retries > 0);
    } finally {
      await gw.close();
      for (const b of all503) await b.close();
    }
  });
});

test("a killed backend is marked down by its checks, and after a restart comes back through slow start, with no failed request", async () => {
  const answer: http.RequestListener = (req, res) => (req.url === "/healthz" ? res.end("ok") : setTimeout(() => res.end("ok"), 2));
  const backends = await Promise.all([1, 2, 3].map(() => startBackend(answer)));
  const victim = backends[1]!;
  const gw = await startGateway({
    services: {
      app: {
        backends: backends.map((b) => b.address),
        retries: { attempts: 2 },
        healthCheck: { path: "/healthz", interval: "50ms", jitter: 0, fall: 2, rise: 2, timeout: "100ms" },
        slowStart: "500ms",
      },
    },
    routers: { all: { service: "app" } },
  });
  const state = () => gw.gateway.backends().find((b) => b.address === victim.address)!;
  let restarted: http.Server | undefined;
  try {
    let phase = 0;
    const statuses = await load(`${gw.url}/`, 3000, 16, (done) => {
      if (done === 300 && phase === 0) {
        phase = 1;
        victim.server.closeAllConnections();
        victim.server.close();
      }
    });
    assert.deepEqual([...statuses], [[200, 3000]]);
    const deadline = Date.now() + 3000;
    while (state().healthy !== false && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(state().healthy, false, "the checks marked the dead backend down");
    // Restart it on the same port.
    restarted = http.createServer(answer);
    await new Promise<void>((r) => restarted!.listen(victim.port, "127.0.0.1", () => r()));
    while (!state().available && Date.now() < deadline + 3000) await new Promise((r) => setTimeout(r, 20));
    assert.equal(state().available, true, "back up after the restart");
    assert.ok(state().weight < 1, `slow start begins below the configured weight, got ${state().weight}`);
    assert.deepEqual([...(await load(`${gw.url}/`, 300, 8))], [[200, 300]]);
  } finally {
    await gw.close();
    restarted?.closeAllConnections();
    restarted?.close();
    for (const b of backends) if (b !== victim) await b.close();
  }
});
