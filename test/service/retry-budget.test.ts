import assert from "node:assert/strict";
import { test } from "node:test";
import { RetryBudget } from "../../src/service/retry-budget.js";

test("allows retries up to the floor plus the ratio of requests in the window", () => {
  const budget = new RetryBudget(0.2, 1);
  const t = 1_000_000;
  for (let i = 0; i < 100; i++) budget.recordRequest(t);
  let allowed = 0;
  while (budget.tryRetry(t)) allowed++;
  // 1/s × 10 s floor + 20% of 100 requests
  assert.equal(allowed, 30);
});

test("forgets requests and retries older than ten seconds", () => {
  const budget = new RetryBudget(0, 1);
  const t = 2_000_000;
  let allowed = 0;
  while (budget.tryRetry(t)) allowed++;
  assert.equal(allowed, 10);
  assert.equal(budget.tryRetry(t + 5_000), false);
  assert.equal(budget.tryRetry(t + 10_000), true);
});
