import assert from "node:assert/strict";
import { test } from "node:test";
import { createRandom } from "../../../src/service/balancers/random.js";
import { countPicks, makeBackends, makeContext, seededRandom, selectMany, sixSigma } from "./helpers.js";

const config = { algorithm: "random" } as const;
const ctx = makeContext();
const N = 100_000;

/** Each count within 6 binomial sigmas of its weight share — and that bound is tighter than ±3 points of share. */
function assertWeightedShares(counts: readonly number[], weights: readonly number[]): void {
  const total = weights.reduce((a, b) => a + b, 0);
  const n = counts.reduce((a, b) => a + b, 0);
  for (let i = 0; i < weights.length; i++) {
    const p = weights[i]! / total;
    const tolerance = sixSigma(n, p);
    assert.ok(tolerance < 0.03 * n, "6 sigma must stay within ±3% of the picks");
    assert.ok(Math.abs(counts[i]! - n * p) <= tolerance, `backend ${i}: ${counts[i]} picks, expected ${n * p} ± ${tolerance.toFixed(0)}`);
  }
}

test("picks each backend in proportion to its weight over 100k requests", () => {
  const weights = [1, 2, 3, 4];
  const backends = makeBackends(weights);
  const balancer = createRandom(backends, config, { random: seededRandom(1) });
  assertWeightedShares(countPicks(backends, selectMany(() => balancer.select(ctx), N)), weights);
});

test("keeps weighted shares among the remaining backends when some are unavailable", () => {
  const weights = [5, 1, 3, 1];
  const backends = makeBackends(weights);
  const balancer = createRandom(backends, config, { random: seededRandom(2) });
  backends[0]!.available = false; // most draws land here first and must be redrawn
  const counts = countPicks(backends, selectMany(() => balancer.select(ctx), N));
  assert.equal(counts[0], 0);
  assertWeightedShares(counts.slice(1), weights.slice(1));
});

test("keeps weighted shares among the others when a retry excludes one", () => {
  const weights = [2, 1, 1];
  const backends = makeBackends(weights);
  const balancer = createRandom(backends, config, { random: seededRandom(3) });
  const counts = countPicks(backends, selectMany(() => balancer.select(ctx, backends[1]), N));
  assert.equal(counts[1], 0);
  assertWeightedShares([counts[0]!, counts[2]!], [2, 1]);
});

test("uses Math.random when no source of chance is given, with the same shares", () => {
  const weights = [1, 3];
  const backends = makeBackends(weights);
  const balancer = createRandom(backends, config);
  assertWeightedShares(countPicks(backends, selectMany(() => balancer.select(ctx), N)), weights);
});
