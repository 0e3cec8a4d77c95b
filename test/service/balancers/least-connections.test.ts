import assert from "node:assert/strict";
import { test } from "node:test";
import { createLeastConnections } from "../../../src/service/balancers/least-connections.js";
import type { BackendState } from "../../../src/service/balancers/types.js";
import { countPicks, makeBackends, makeContext, selectMany } from "./helpers.js";

const config = { algorithm: "least-connections" } as const;
const ctx = makeContext();

test("picks the backend with the fewest exchanges in flight", () => {
  const backends = makeBackends([1, 1, 1]);
  const balancer = createLeastConnections(backends, config);
  backends[0]!.active = 5;
  backends[1]!.active = 3;
  backends[2]!.active = 4;
  assert.equal(balancer.select(ctx), backends[1]);
  backends[1]!.active = 9;
  assert.equal(balancer.select(ctx), backends[2]);
});

test("compares in-flight exchanges relative to weight", () => {
  const backends = makeBackends([1, 3]);
  const balancer = createLeastConnections(backends, config);
  backends[0]!.active = 1; // (1+1)/1 = 2
  backends[1]!.active = 4; // (4+1)/3 = 1.67
  assert.equal(balancer.select(ctx), backends[1]);
  backends[1]!.active = 6; // (6+1)/3 = 2.33
  assert.equal(balancer.select(ctx), backends[0]);
});

test("fills backends in proportion to their weights while exchanges pile up", () => {
  const backends = makeBackends([1, 3, 4]);
  const balancer = createLeastConnections(backends, config);
  for (let i = 0; i < 800; i++) balancer.select(ctx)!.active++;
  const active = backends.map((b) => b.active);
  // Each pick keeps (active+1)/weight level to within one exchange.
  assert.ok(Math.abs(active[0]! - 100) <= 1 && Math.abs(active[1]! - 300) <= 1 && Math.abs(active[2]! - 400) <= 1, `active ${active}`);
});

test("spreads an idle service round-robin instead of always picking the first backend", () => {
  const backends = makeBackends([1, 1, 1]);
  const balancer = createLeastConnections(backends, config);
  const order = selectMany(() => balancer.select(ctx), 6).map((b) => backends.indexOf(b!));
  assert.deepEqual(order, [0, 1, 2, 0, 1, 2]);
});

test("sends requests that finish at once evenly to equal backends", () => {
  const backends = makeBackends([2, 2, 2, 2]);
  const balancer = createLeastConnections(backends, config);
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 400)), [100, 100, 100, 100]);
});

test("sends new requests to the backend whose exchanges finished", () => {
  const backends = makeBackends([1, 1]);
  const balancer = createLeastConnections(backends, config);
  const inFlight: BackendState[] = [];
  for (let i = 0; i < 20; i++) {
    const backend = balancer.select(ctx)!;
    backend.active++;
    inFlight.push(backend);
  }
  assert.deepEqual(backends.map((b) => b.active), [10, 10]);
  for (const backend of inFlight) if (backend === backends[1]) backend.active--;
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 1)), [0, 1]);
});

test("ignores an unavailable backend even when it is idle", () => {
  const backends = makeBackends([1, 1]);
  const balancer = createLeastConnections(backends, config);
  backends[1]!.active = 50;
  backends[0]!.available = false;
  assert.equal(balancer.select(ctx), backends[1]);
});
