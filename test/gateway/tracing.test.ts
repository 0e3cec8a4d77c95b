import assert from "node:assert/strict";
import { test } from "node:test";
import { validateConfig } from "../../src/config/load.js";
import { TracingOwner } from "../../src/gateway/tracing.js";

const tracingOf = (endpoint: string) =>
  validateConfig({ listeners: [{ address: "127.0.0.1:0" }], services: { a: { backends: ["127.0.0.1:9"] } }, routers: { r: { service: "a" } }, tracing: { endpoint } })
    .tracing;

test("a reload with the same tracing config keeps its tracer; a changed one gets a new tracer only once committed", async () => {
  const owner = new TracingOwner();
  assert.equal(owner.tracer, null);
  const first = await owner.prepare(tracingOf("http://127.0.0.1:9/v1/traces"));
  assert.notEqual(first.tracer, null);
  assert.equal(owner.tracer, null, "not in force before commit");
  first.commit();
  assert.equal(owner.tracer, first.tracer);

  const same = await owner.prepare(tracingOf("http://127.0.0.1:9/v1/traces"));
  assert.equal(same.tracer, first.tracer);

  const changed = await owner.prepare(tracingOf("http://127.0.0.1:10/v1/traces"));
  assert.notEqual(changed.tracer, first.tracer);
  changed.abort();
  assert.equal(owner.tracer, first.tracer, "a refused reload leaves the tracer in force");

  const off = await owner.prepare(undefined);
  assert.equal(off.tracer, null);
  off.commit();
  assert.equal(owner.tracer, null);
  assert.notEqual(owner.stats, null, "the tracer's counters outlive the provider");
  await owner.close();
});
