import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { get, startBackend, startGateway } from "../helpers/net.js";

/** Resources that keep the event loop alive, by type (sockets, timers, servers…). */
function resources(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

test("100 reloads between two configs under sustained load fail no request and leak no socket or timer", async () => {
  const backends = await Promise.all(["a", "b", "c"].map((name) => startBackend((_req, res) => res.end(name))));
  const [a, b, c] = backends.map((x) => x.address) as [string, string, string];
  const configs: DivisorConfigInput[] = [
    {
      listeners: [{ address: "127.0.0.1:0" }],
      services: { one: { backends: [a, b] }, two: { backends: [c] } },
      routers: { all: { service: "one" }, two: { match: { path: { prefix: "/two" } }, service: "two" } },
    },
    {
      listeners: [{ address: "127.0.0.1:0" }],
      services: { one: { backends: [b, c], balancer: { algorithm: "least-connections" } }, three: { backends: [a] } },
      routers: { all: { service: "one" }, three: { match: { path: { prefix: "/two" } }, service: "three" } },
    },
  ];
  const before = resources();
  const gw = await startGateway(configs[0]!);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let failures = 0;
  let served = 0;
  let stop = false;
  const errors: string[] = [];
  const client = async (path: string) => {
    while (!stop) {
      try {
        const res = await get(`${gw.url}${path}`, { agent });
        if (res.status === 200 && ["a", "b", "c"].includes(res.body)) served++;
        else {
          failures++;
          errors.push(`${res.status} ${res.body}`);
        }
      } catch (err) {
        failures++;
        errors.push(String(err));
      }
    }
  };
  const clients = Array.from({ length: 16 }, (_, i) => client(i % 2 === 0 ? "/" : "/two/x"));
  try {
    for (let i = 0; i < 100; i++) {
      await gw.gateway.reload(configs[(i + 1) % 2]!);
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    stop = true;
    await Promise.all(clients);
    agent.destroy();
    await gw.close();
    for (const x of backends) await x.close();
  }
  assert.equal(failures, 0, errors.slice(0, 5).join("\n"));
  assert.ok(served > 500, `only ${served} requests were served during the reloads`);
  // Give closed sockets a tick to be released, then compare with the start.
  await new Promise((r) => setTimeout(r, 50));
  const after = resources();
  for (const type of ["TCPSocketWrap", "TCPServerWrap", "Timeout"]) {
    assert.ok((after.get(type) ?? 0) <= (before.get(type) ?? 0), `${type}: ${before.get(type) ?? 0} before, ${after.get(type) ?? 0} after`);
  }
});
