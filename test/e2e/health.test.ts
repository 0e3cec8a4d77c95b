import assert from "node:assert/strict";
import { test } from "node:test";
import { freePort, get, startBackend, startGateway } from "../helpers/net.js";

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("HTTP checks take a backend out after `fall` failures, before any traffic, and bring it back after `rise`", async () => {
  let healthy = false;
  let checks = 0;
  const sick = await startBackend((req, res) => {
    if (req.url === "/healthz") {
      checks++;
      res.writeHead(healthy ? 200 : 500).end(healthy ? "ok" : "sick");
    } else res.end("sick-backend");
  });
  const fine = await startBackend((req, res) => res.end(req.url === "/healthz" ? "ok" : "fine-backend"));
  const gw = await startGateway({
    services: {
      app: {
        backends: [sick.address, fine.address],
        healthCheck: { path: "/healthz", interval: "50ms", jitter: 0, fall: 2, rise: 2, timeout: "200ms" },
      },
    },
    routers: { all: { service: "app" } },
  });
  const state = () => gw.gateway.backends().find((b) => b.address === sick.address)!;
  try {
    await until(() => state().available === false);
    assert.ok(checks >= 2, "checks ran before any request");
    assert.equal(state().healthy, false);
    assert.equal(state().lastHealthError, "status 500");
    for (let i = 0; i < 6; i++) assert.equal((await get(`${gw.url}/`)).body, "fine-backend");
    healthy = true;
    await until(() => state().available === true);
    const bodies = new Set<string>();
    for (let i = 0; i < 4; i++) bodies.add((await get(`${gw.url}/`)).body);
    assert.deepEqual([...bodies].sort(), ["fine-backend", "sick-backend"]);
  } finally {
    await gw.close();
    await sick.close();
    await fine.close();
  }
});

test("checks one backend once however many routers use its service, honour bodyContains and time out", async () => {
  let checks = 0;
  const slow = await startBackend((req, res) => {
    if (req.url === "/healthz") {
      checks++;
      setTimeout(() => res.end("status: green"), 400);
    } else res.end("x");
  });
  const gw = await startGateway({
    services: { app: { backends: [slow.address], healthCheck: { path: "/healthz", interval: "100ms", jitter: 0, fall: 1, timeout: "150ms", bodyContains: "green" } } },
    routers: { a: { match: { path: { prefix: "/a" } }, service: "app" }, b: { service: "app" } },
  });
  const state = () => gw.gateway.backends()[0]!;
  try {
    await until(() => state().healthy === false);
    assert.match(state().lastHealthError!, /no answer within 150 ms/);
    assert.equal(checks, 1, "one checker per backend, not per router");
  } finally {
    await gw.close();
    await slow.close();
  }
  const red = await startBackend((_req, res) => res.end("status: red"));
  const gw2 = await startGateway({
    services: { app: { backends: [red.address], healthCheck: { interval: "50ms", jitter: 0, fall: 1, bodyContains: "green" } } },
    routers: { all: { service: "app" } },
  });
  try {
    await until(() => gw2.gateway.backends()[0]!.healthy === false);
    assert.equal(gw2.gateway.backends()[0]!.lastHealthError, 'body lacks "green"');
  } finally {
    await gw2.close();
    await red.close();
  }
});

test("TCP checks mark a closed port down; a reload keeps the checker's state and one that drops the backend stops it", async () => {
  const port = await freePort();
  const up = await startBackend((_req, res) => res.end("up"));
  const config = (backends: string[]) => ({
    listeners: [{ address: "127.0.0.1:0" }],
    services: { app: { backends, healthCheck: { type: "tcp" as const, interval: "50ms", jitter: 0, fall: 1, rise: 1 } } },
    routers: { all: { service: "app" } },
  });
  const gw = await startGateway(config([`127.0.0.1:${port}`, up.address]));
  const dead = () => gw.gateway.backends().find((b) => b.address === `127.0.0.1:${port}`);
  try {
    await until(() => dead()?.healthy === false);
    assert.match(dead()!.lastHealthError!, /ECONNREFUSED/);
    await gw.gateway.reload(config([`127.0.0.1:${port}`, up.address]));
    assert.equal(dead()!.healthy, false, "a reload that keeps the backend keeps its health");
    assert.equal((await get(`${gw.url}/`)).body, "up");
    await gw.gateway.reload(config([up.address]));
    assert.equal(dead(), undefined);
  } finally {
    await gw.close();
    await up.close();
  }
});

test("closing the gateway stops every checker: no timer or socket is left", async () => {
  const before = process.getActiveResourcesInfo().filter((r) => r === "Timeout" || r === "TCPSocketWrap").length;
  const b = await startBackend((_req, res) => res.end("ok"));
  const gw = await startGateway({
    services: { app: { backends: [b.address], healthCheck: { interval: "20ms", jitter: 0 } } },
    routers: { all: { service: "app" } },
  });
  await new Promise((r) => setTimeout(r, 100));
  await gw.close();
  await b.close();
  await new Promise((r) => setTimeout(r, 50));
  const after = process.getActiveResourcesInfo().filter((r) => r === "Timeout" || r === "TCPSocketWrap").length;
  assert.ok(after <= before, `${before} timers/sockets before, ${after} after`);
});

test("slow start ramps a recovered backend's weight from 10% to its configured weight over the window", async () => {
  let healthy = true;
  const flappy = await startBackend((req, res) => {
    if (req.url === "/healthz") res.writeHead(healthy ? 200 : 500).end();
    else res.end("flappy");
  });
  const steady = await startBackend((_req, res) => res.end("steady"));
  const gw = await startGateway({
    services: {
      app: {
        backends: [
          { address: flappy.address, weight: 10 },
          { address: steady.address, weight: 10 },
        ],
        balancer: { algorithm: "weighted-round-robin" },
        healthCheck: { path: "/healthz", interval: "30ms", jitter: 0, fall: 1, rise: 1 },
        slowStart: "600ms",
      },
    },
    routers: { all: { service: "app" } },
  });
  const weight = () => gw.gateway.backends().find((b) => b.address === flappy.address)!;
  try {
    assert.equal(weight().weight, 10, "backends present at start get their full weight at once");
    healthy = false;
    await until(() => !weight().available);
    healthy = true;
    await until(() => weight().available);
    const samples: number[] = [];
    const started = Date.now();
    while (Date.now() - started < 900) {
      samples.push(weight().weight);
      await new Promise((r) => setTimeout(r, 60));
    }
    assert.ok(samples[0]! < 5, `weight right after recovery: ${samples[0]}`);
    for (let i = 1; i < samples.length; i++) assert.ok(samples[i]! >= samples[i - 1]!, `not monotonic: ${samples.join(", ")}`);
    assert.equal(samples.at(-1), 10);
  } finally {
    await gw.close();
    await flappy.close();
    await steady.close();
  }
});
