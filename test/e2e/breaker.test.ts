import assert from "node:assert/strict";
import { test } from "node:test";
import { get, startBackend, startGateway } from "../helpers/net.js";

test("a backend answering 503 is taken out by its breaker, tried again half-open, and back in once it recovers", async () => {
  let broken = true;
  let badHits = 0;
  const bad = await startBackend((_req, res) => {
    badHits++;
    if (broken) res.writeHead(503).end("down");
    else res.end("bad is fine now");
  });
  const good = await Promise.all([1, 2].map(() => startBackend((_req, res) => res.end("good"))));
  const gw = await startGateway({
    services: {
      app: {
        backends: [bad.address, ...good.map((g) => g.address)],
        retries: { attempts: 0 },
        circuitBreaker: { consecutiveFailures: 3, openDuration: "300ms", maxEjectedShare: 0.5 },
      },
    },
    routers: { all: { service: "app" } },
  });
  const state = () => gw.gateway.backends().find((b) => b.address === bad.address)!;
  try {
    // Round-robin: every third request meets the bad backend until its breaker opens.
    for (let i = 0; i < 12; i++) await get(`${gw.url}/`);
    assert.equal(state().breaker, "open");
    assert.equal(state().available, false);
    const hitsWhenOpened = badHits;
    assert.equal(hitsWhenOpened, 3);
    for (let i = 0; i < 20; i++) assert.equal((await get(`${gw.url}/`)).body, "good");
    assert.equal(badHits, hitsWhenOpened, "an open breaker's backend took requests");

    // Half-open after openDuration: one trial, still failing: open again, for longer.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(state().breaker, "half-open");
    for (let i = 0; i < 6; i++) await get(`${gw.url}/`);
    assert.equal(badHits, hitsWhenOpened + 1, "exactly one trial request in half-open");
    assert.equal(state().breaker, "open");
    assert.equal(state().breakerOpens, 2);

    // It recovers: the next trial closes the breaker and it takes its share again.
    broken = false;
    await new Promise((r) => setTimeout(r, 700));
    const bodies = new Set<string>();
    for (let i = 0; i < 9; i++) bodies.add((await get(`${gw.url}/`)).body);
    assert.equal(state().breaker, "closed");
    assert.ok(bodies.has("bad is fine now"));
  } finally {
    await gw.close();
    await bad.close();
    for (const g of good) await g.close();
  }
});

test("breakers never take out more than maxEjectedShare of a service", async () => {
  const backends = await Promise.all([1, 2].map(() => startBackend((_req, res) => res.writeHead(502).end("bad gateway"))));
  const gw = await startGateway({
    services: { app: { backends: backends.map((b) => b.address), retries: { attempts: 0 }, circuitBreaker: { consecutiveFailures: 2, maxEjectedShare: 0.5 } } },
    routers: { all: { service: "app" } },
  });
  try {
    for (let i = 0; i < 20; i++) assert.equal((await get(`${gw.url}/`)).status, 502);
    const open = gw.gateway.backends().filter((b) => b.breaker === "open");
    assert.equal(open.length, 1, "one of two backends may be out, not both");
  } finally {
    await gw.close();
    for (const b of backends) await b.close();
  }
});

test("a service-wide breaker fails fast while the whole service keeps failing, then lets trials through", async () => {
  let broken = true;
  let hits = 0;
  const backends = await Promise.all(
    [1, 2].map(() =>
      startBackend((_req, res) => {
        hits++;
        if (broken) res.writeHead(503).end("down");
        else res.end("up");
      }),
    ),
  );
  const gw = await startGateway({
    services: {
      app: {
        backends: backends.map((b) => b.address),
        retries: { attempts: 0 },
        circuitBreaker: { enabled: false },
        serviceBreaker: { enabled: true, consecutiveFailures: 3, openDuration: "300ms", halfOpenRequests: 1 },
      },
    },
    routers: { all: { service: "app" } },
  });
  const service = () => gw.gateway.services().find((s) => s.name === "app")!;
  try {
    for (let i = 0; i < 3; i++) assert.equal((await get(`${gw.url}/`)).status, 503);
    assert.equal(service().breaker, "open");
    const fast = await get(`${gw.url}/`);
    assert.equal(fast.status, 503);
    assert.match(fast.body, /circuit breaker is open/);
    assert.equal(fast.headers["retry-after"], "1");
    assert.equal(hits, 3, "an open service breaker sent a request on");
    broken = false;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await get(`${gw.url}/`)).body, "up");
    assert.equal(service().breaker, "closed");
  } finally {
    await gw.close();
    for (const b of backends) await b.close();
  }
});
