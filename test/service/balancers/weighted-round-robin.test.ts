import assert from "node:assert/strict";
import { test } from "node:test";
import { createWeightedRoundRobin } from "../../../src/service/balancers/weighted-round-robin.js";
import { countPicks, makeBackends, makeContext, selectMany } from "./helpers.js";

const config = { algorithm: "weighted-round-robin" } as const;
const ctx = makeContext();

test("interleaves weights 5,1,1 as a a b a c a a, like nginx", () => {
  const backends = makeBackends([5, 1, 1]);
  const balancer = createWeightedRoundRobin(backends, config);
  const names = selectMany(() => balancer.select(ctx), 14).map((b) => "abc"[backends.indexOf(b!)]);
  assert.equal(names.join(" "), "a a b a c a a a a b a c a a");
});

test("gives each backend exactly its weight in every period of sum(weights) requests", () => {
  const weights = [3, 2, 1, 4, 7];
  const period = weights.reduce((a, b) => a + b, 0);
  const backends = makeBackends(weights);
  const balancer = createWeightedRoundRobin(backends, config);
  for (let p = 0; p < 50; p++) {
    assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), period)), weights, `period ${p}`);
  }
});

test("shares by weight among the backends that remain when one is unavailable", () => {
  const backends = makeBackends([3, 2, 1]);
  const balancer = createWeightedRoundRobin(backends, config);
  backends[0]!.available = false;
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 300)), [0, 200, 100]);
});

test("a failed exchange lowers the backend's share for a while, then it recovers", () => {
  const backends = makeBackends([5, 1, 1]);
  const balancer = createWeightedRoundRobin(backends, config);
  selectMany(() => balancer.select(ctx), 7);
  balancer.observe!(backends[0]!, 3, false);
  const afterFailure = countPicks(backends, selectMany(() => balancer.select(ctx), 7));
  assert.ok(afterFailure[0]! < 5, `a got ${afterFailure[0]} of 7 right after failing`);
  selectMany(() => balancer.select(ctx), 70);
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 700)), [500, 100, 100]);
});

test("a successful exchange changes nothing", () => {
  const backends = makeBackends([5, 1, 1]);
  const balancer = createWeightedRoundRobin(backends, config);
  balancer.observe!(backends[0]!, 3, true);
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 7)), [5, 1, 1]);
});
