import assert from "node:assert/strict";
import { test } from "node:test";
import { BreakerState, CircuitBreaker, type BreakerConfig } from "../../src/service/breaker.js";

const config: BreakerConfig = {
  enabled: true,
  consecutiveFailures: 3,
  errorRatio: 0.5,
  minRequests: 10,
  window: 10_000,
  openDuration: 1_000,
  maxOpenDuration: 3_000,
  halfOpenRequests: 1,
  maxEjectedShare: 0.5,
  failureStatuses: [502, 503, 504],
};

test("opens after consecutive failures and goes half-open after openDuration", () => {
  const b = new CircuitBreaker(config);
  b.onFailure(0);
  b.onFailure(1);
  assert.equal(b.state, BreakerState.Closed);
  b.onFailure(2);
  assert.equal(b.state, BreakerState.Open);
  assert.equal(b.allowRequest(), false);
  b.sweep(999);
  assert.equal(b.state, BreakerState.Open);
  b.sweep(1_002);
  assert.equal(b.state, BreakerState.HalfOpen);
});

test("half-open lets halfOpenRequests trials through; a success closes it", () => {
  const b = new CircuitBreaker(config);
  for (let i = 0; i < 3; i++) b.onFailure(i);
  b.sweep(2_000);
  assert.equal(b.allowRequest(), true);
  assert.equal(b.allowRequest(), false, "only one trial");
  b.onSuccess(2_001);
  assert.equal(b.state, BreakerState.Closed);
  assert.equal(b.opens, 0);
});

test("a failed trial reopens it for twice as long, capped at maxOpenDuration", () => {
  const b = new CircuitBreaker(config);
  for (let i = 0; i < 3; i++) b.onFailure(i);
  assert.equal(b.openUntil, 2 + 1_000);
  b.sweep(1_100);
  b.allowRequest();
  b.onFailure(1_100);
  assert.equal(b.state, BreakerState.Open);
  assert.equal(b.openUntil, 1_100 + 2_000);
  b.sweep(3_200);
  b.allowRequest();
  b.onFailure(3_200);
  assert.equal(b.openUntil, 3_200 + 3_000, "capped");
});

test("opens on the error ratio over the window once minRequests were seen", () => {
  const b = new CircuitBreaker({ ...config, consecutiveFailures: 100 });
  for (let i = 0; i < 9; i++) {
    if (i % 2 === 0) b.onFailure(i);
    else b.onSuccess(i);
  }
  assert.equal(b.state, BreakerState.Closed, "9 requests are below minRequests");
  b.onFailure(10); // 6 failures of 10
  assert.equal(b.state, BreakerState.Open);
});

test("does not open when the service may not lose another backend", () => {
  const b = new CircuitBreaker(config);
  b.mayOpen = () => false;
  for (let i = 0; i < 10; i++) b.onFailure(i);
  assert.equal(b.state, BreakerState.Closed);
});

test("a disabled breaker never opens", () => {
  const b = new CircuitBreaker({ ...config, enabled: false });
  for (let i = 0; i < 10; i++) b.onFailure(i);
  assert.equal(b.state, BreakerState.Closed);
});
