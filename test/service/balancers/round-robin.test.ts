import assert from "node:assert/strict";
import { test } from "node:test";
import { createRoundRobin } from "../../../src/service/balancers/round-robin.js";
import { countPicks, makeBackends, makeContext, selectMany } from "./helpers.js";

const config = { algorithm: "round-robin" } as const;
const ctx = makeContext();

test("sends each backend exactly the same number of requests, whatever the weights", () => {
  const backends = makeBackends([1, 5, 10]);
  const balancer = createRoundRobin(backends, config);
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 3000)), [1000, 1000, 1000]);
});

test("takes the backends in order, one after the other", () => {
  const backends = makeBackends([1, 1, 1]);
  const balancer = createRoundRobin(backends, config);
  const order = selectMany(() => balancer.select(ctx), 7).map((b) => backends.indexOf(b!));
  assert.deepEqual(order, [0, 1, 2, 0, 1, 2, 0]);
});

test("skips an unavailable backend and takes it back in turn when it returns", () => {
  const backends = makeBackends([1, 1, 1]);
  const balancer = createRoundRobin(backends, config);
  backends[1]!.available = false;
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 100)), [50, 0, 50]);
  backends[1]!.available = true;
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 300)), [100, 100, 100]);
});

test("skips a drained backend (weight 0)", () => {
  const backends = makeBackends([1, 0, 1]);
  const balancer = createRoundRobin(backends, config);
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 10)), [5, 0, 5]);
});

test("a retry excluding a backend goes to the next one in turn", () => {
  const backends = makeBackends([1, 1, 1]);
  const balancer = createRoundRobin(backends, config);
  const first = balancer.select(ctx)!;
  assert.equal(balancer.select(ctx, first), backends[1]);
  assert.equal(balancer.select(ctx, backends[2]), backends[0]);
});
