import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { validateConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/errors.js";

const base = { listeners: [{ address: "127.0.0.1:0" }], services: { app: { backends: ["127.0.0.1:3000"] } }, routers: { all: { service: "app" } } };

/** The one problem validateConfig reports for this `tracing` block, as "path: message". */
function problem(tracing: unknown): string {
  try {
    validateConfig({ ...base, tracing } as never);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.issues.length, 1, err.message);
    return `${err.issues[0]!.path}: ${err.issues[0]!.message}`;
  }
  assert.fail("expected the tracing config to be refused");
}

describe("tracing config", () => {
  test("absent means off, and an endpoint alone gets every default", () => {
    assert.equal(validateConfig(base).tracing, undefined);
    assert.deepEqual(validateConfig({ ...base, tracing: { endpoint: "http://127.0.0.1:4318/v1/traces" } }).tracing, {
      endpoint: "http://127.0.0.1:4318/v1/traces",
      protocol: "http/protobuf",
      headers: {},
      serviceName: "divisor",
      resourceAttributes: {},
      sampler: { ratio: 1, parentBased: true },
      batching: { maxQueueSize: 2048, maxBatchSize: 512, delay: 1000, exportTimeout: 10_000 },
    });
  });

  test("durations take units", () => {
    const t = validateConfig({ ...base, tracing: { endpoint: "https://otel.example.com/v1/traces", batching: { delay: "5s", exportTimeout: "250ms" } } }).tracing!;
    assert.equal(t.batching.delay, 5000);
    assert.equal(t.batching.exportTimeout, 250);
  });

  test("refuses an endpoint that is not an http(s) URL", () => {
    assert.match(problem({ endpoint: "127.0.0.1:4318" }), /^tracing\.endpoint: expected an http:\/\/ or https:\/\/ URL/);
  });

  test("refuses an endpoint URL that does not parse, instead of failing at start", () => {
    assert.match(problem({ endpoint: "http://127.0.0.1:99999/v1/traces" }), /^tracing\.endpoint: not a valid URL/);
    assert.match(problem({ endpoint: "http://[::1/v1/traces" }), /^tracing\.endpoint: not a valid URL/);
  });

  test("refuses a protocol other than http/protobuf and http/json", () => {
    assert.match(problem({ endpoint: "http://x:4318/v1/traces", protocol: "grpc" }), /^tracing\.protocol: .*http\/protobuf.*http\/json/);
  });

  test("refuses a sampling ratio outside 0..1 and says how to write a percentage", () => {
    assert.match(problem({ endpoint: "http://x:4318/v1/traces", sampler: { ratio: 10 } }), /^tracing\.sampler\.ratio: .*0 \(none\) to 1.*0\.1 for 10%/);
    assert.match(problem({ endpoint: "http://x:4318/v1/traces", sampler: { ratio: -1 } }), /^tracing\.sampler\.ratio: /);
  });

  test("refuses a header name that is not an HTTP token", () => {
    assert.match(problem({ endpoint: "http://x:4318/v1/traces", headers: { "api key": "v" } }), /^tracing\.headers.*: expected an HTTP header name/);
  });

  test("refuses a batch larger than the queue", () => {
    assert.match(problem({ endpoint: "http://x:4318/v1/traces", batching: { maxQueueSize: 10, maxBatchSize: 20 } }), /^tracing\.batching\.maxBatchSize: .*must not exceed/);
  });

  test("refuses unknown keys", () => {
    assert.match(problem({ endpoint: "http://x:4318/v1/traces", ratio: 0.5 }), /^tracing/);
  });
});
