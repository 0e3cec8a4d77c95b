import assert from "node:assert/strict";
import { test } from "node:test";
import { balancerSchema } from "../../../src/config/schema.js";
import { createP2cEwma, type P2cEwmaConfig } from "../../../src/service/balancers/p2c-ewma.js";
import type { BackendState } from "../../../src/service/balancers/types.js";
import { countPicks, makeBackends, makeContext, seededRandom, selectMany } from "./helpers.js";

const config = balancerSchema.parse({ algorithm: "p2c-ewma", decay: "10s" }) as P2cEwmaConfig;
const ctx = makeContext();

/** A balancer on a fake clock (ms) and a seeded source of chance. */
function setup(weights: readonly number[], seed = 1) {
  const backends = makeBackends(weights);
  const clock = { t: 0 };
  const balancer = createP2cEwma(backends, config, { random: seededRandom(seed), now: () => clock.t });
  return { backends, clock, balancer };
}

test("reads the decay time constant from the config, 10s by default", () => {
  assert.equal(config.decay, 10_000);
  assert.equal((balancerSchema.parse({ algorithm: "p2c-ewma" }) as P2cEwmaConfig).decay, 10_000);
});

test("folds latencies into ewmaMs with a weight that fades over the decay time", () => {
  const { backends, clock, balancer } = setup([1, 1]);
  balancer.observe!(backends[0]!, 100, true);
  assert.equal(backends[0]!.ewmaMs, 100); // the first sample is the average
  clock.t = 10_000; // one time constant later the old average keeps weight 1/e
  balancer.observe!(backends[0]!, 10, true);
  assert.ok(Math.abs(backends[0]!.ewmaMs - (100 / Math.E + 10 * (1 - 1 / Math.E))) < 1e-9, `ewma ${backends[0]!.ewmaMs}`);
  balancer.observe!(backends[0]!, 1000, true); // a sample right after barely moves it
  assert.ok(backends[0]!.ewmaMs < 43.2, `ewma ${backends[0]!.ewmaMs}`);
});

test("sends a backend 10x slower than the others under 15% of requests, one at a time", () => {
  const { backends, clock, balancer } = setup([1, 1, 1]);
  const latency = [10, 10, 100];
  const picks: BackendState[] = [];
  for (let i = 0; i < 100_000; i++, clock.t++) {
    const backend = balancer.select(ctx)!;
    picks.push(backend);
    balancer.observe!(backend, latency[backends.indexOf(backend)]!, true);
  }
  const counts = countPicks(backends, picks);
  assert.ok(counts[2]! < 0.15 * picks.length, `slow backend got ${counts}`);
  // Its average fades while it is left alone, so it is tried again now and then:
  // once cold, then about every decay x ln(10) = 23 s of the 100 s simulated.
  assert.ok(counts[2]! >= 4, `slow backend got ${counts[2]} picks in 100 s`);
});

test("under load the slow backend takes some overflow and still stays under 15%", () => {
  const { backends, clock, balancer } = setup([1, 1, 1], 2);
  const latency = [10, 10, 100];
  const ending: BackendState[][] = [];
  const picks: BackendState[] = [];
  for (clock.t = 0; clock.t < 20_000; clock.t++) {
    for (const done of ending[clock.t] ?? []) {
      done.active--;
      balancer.observe!(done, latency[backends.indexOf(done)]!, true);
    }
    for (let k = 0; k < 4; k++) {
      const backend = balancer.select(ctx)!;
      backend.active++;
      picks.push(backend);
      (ending[clock.t + latency[backends.indexOf(backend)]!] ??= []).push(backend);
    }
  }
  const counts = countPicks(backends, picks);
  assert.ok(counts[2]! > 0 && counts[2]! < 0.15 * picks.length, `counts ${counts}`);
  assert.ok(Math.abs(counts[0]! - counts[1]!) < 0.02 * picks.length, `fast backends share evenly: ${counts}`);
});

test("prefers a new backend without samples, so it gets traffic at once", () => {
  const { backends, balancer } = setup([1, 1, 1]);
  balancer.observe!(backends[0]!, 5, true);
  balancer.observe!(backends[1]!, 5, true);
  // The new backend wins every pair it is drawn into: 2 pairs of 3.
  const counts = countPicks(backends, selectMany(() => balancer.select(ctx), 3000));
  assert.ok(counts[2]! > 1800, `counts ${counts}`);
});

test("gives a new backend one exchange at a time until its first answer", () => {
  const { backends, balancer } = setup([1, 1, 1]);
  balancer.observe!(backends[0]!, 500, true);
  balancer.observe!(backends[1]!, 500, true);
  backends[2]!.active = 1;
  const counts = countPicks(backends, selectMany(() => balancer.select(ctx), 300));
  assert.equal(counts[2], 0);
});

test("weighs load: of two equally fast backends, the one with fewer exchanges in flight wins", () => {
  const { backends, balancer } = setup([1, 1]);
  balancer.observe!(backends[0]!, 20, true);
  balancer.observe!(backends[1]!, 20, true);
  backends[0]!.active = 3;
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 100)), [0, 100]);
});

test("divides the cost by weight", () => {
  const { backends, balancer } = setup([1, 3]);
  balancer.observe!(backends[0]!, 20, true);
  balancer.observe!(backends[1]!, 40, true); // twice as slow, three times the weight
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 100)), [0, 100]);
});

test("a fast failure makes a backend look slow, not fast", () => {
  const { backends, balancer } = setup([1, 1]);
  balancer.observe!(backends[0]!, 20, true);
  balancer.observe!(backends[1]!, 20, true);
  balancer.observe!(backends[1]!, 1, false); // e.g. a reset right away
  assert.equal(backends[1]!.ewmaMs, 100); // 5 x the slowest average of the service
  assert.deepEqual(countPicks(backends, selectMany(() => balancer.select(ctx), 100)), [100, 0]);
});

test("draws among the eligible backends only when many are out", () => {
  const { backends, balancer } = setup([1, 1, 1, 1, 1, 1, 1, 1]);
  for (const b of backends) balancer.observe!(b, 10, true);
  for (let i = 0; i < 6; i++) backends[i]!.available = false;
  const counts = countPicks(backends, selectMany(() => balancer.select(ctx), 1000));
  assert.equal(counts[6]! + counts[7]!, 1000);
  assert.ok(counts[6]! > 300 && counts[7]! > 300, `counts ${counts}`);
});
