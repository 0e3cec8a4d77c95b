import assert from "node:assert/strict";
import { test } from "node:test";
import { get, startBackend, startGateway } from "../helpers/net.js";

test("a hedged route answers from a second backend when the first is slower than usual, and cancels the slow try", async () => {
  let slowMode = false;
  let slowStarted = 0;
  let slowAborted = 0;
  const maybeSlow = await startBackend((req, res) => {
    if (!slowMode) {
      res.end("first");
      return;
    }
    slowStarted++;
    const timer = setTimeout(() => res.end("first, late"), 1000);
    req.socket.once("close", () => {
      clearTimeout(timer);
      slowAborted++;
    });
  });
  const fast = await startBackend((_req, res) => res.end("second"));
  const gw = await startGateway({
    services: { app: { backends: [maybeSlow.address, fast.address], balancer: { algorithm: "round-robin" } } },
    routers: { all: { service: "app", hedge: { percentile: 90, minDelay: "50ms" } } },
  });
  try {
    // Build up the service's latency history: both answer at once.
    for (let i = 0; i < 20; i++) assert.equal((await get(`${gw.url}/`)).status, 200);
    await new Promise((r) => setTimeout(r, 300)); // the percentile is refreshed by the sweeper
    slowMode = true;
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const started = Date.now();
      const res = await get(`${gw.url}/`);
      times.push(Date.now() - started);
      assert.equal(res.body, "second");
    }
    assert.ok(slowStarted >= 1, "no request met the slow backend");
    assert.ok(Math.max(...times) < 600, `hedged requests took ${times.join(", ")} ms; the slow try takes 1000`);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(slowAborted, slowStarted, "the losing try was not cancelled");
  } finally {
    await gw.close();
    await maybeSlow.close();
    await fast.close();
  }
});

test("routes without hedge, and requests with a body, are never hedged", async () => {
  let hits = 0;
  const slow = await startBackend((req, res) => {
    hits++;
    req.resume();
    setTimeout(() => res.end("slow"), 150);
  });
  const other = await startBackend((_req, res) => {
    hits++;
    res.end("other");
  });
  const gw = await startGateway({
    services: { app: { backends: [slow.address, other.address], balancer: { algorithm: "round-robin" } } },
    routers: { all: { service: "app", hedge: { minDelay: "20ms" } } },
  });
  try {
    for (let i = 0; i < 10; i++) await get(`${gw.url}/`, { method: "PUT" }, "body");
    assert.equal(hits, 10, "a request with a body was hedged");
  } finally {
    await gw.close();
    await slow.close();
    await other.close();
  }
});
