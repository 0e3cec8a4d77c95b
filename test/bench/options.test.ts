import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseBenchOptions } from "../../bench/proxy/options.js";

describe("parseBenchOptions", () => {
  it("runs every target for 10 s with 50 connections by default", () => {
    const o = parseBenchOptions([]);
    assert.deepEqual(o.only, ["direct", "divisor", "divisor-admin", "divisor-bare", "divisor-no-metrics", "divisor-tracing", "divisor-access-log", "divisor-chain", "divisor-cache", "divisor-compress", "divisor-https", "divisor-h2", "divisor-lua", "divisor-plugin", "nginx", "nginx-gzip", "nginx-https", "nginx-h2", "haproxy", "haproxy-https", "haproxy-h2", "node-http-proxy", "fastify-http-proxy"]);
    assert.equal(o.duration, 10);
    assert.equal(o.connections, 50);
    assert.equal(o.scenario, "get");
    assert.equal(o.json, false);
  });

  it("keeps the report's order whatever order --only lists targets in", () => {
    assert.deepEqual(parseBenchOptions(["--only", "nginx, divisor"]).only, ["divisor", "nginx"]);
  });

  it("reads duration, connections, scenario and --json", () => {
    const o = parseBenchOptions(["--duration", "3", "--connections", "10", "--scenario", "post-1k", "--json", "--warmup", "0"]);
    assert.deepEqual([o.duration, o.connections, o.scenario, o.json, o.warmup], [3, 10, "post-1k", true, 0]);
  });

  it("rejects an unknown target, scenario or a duration that is not a positive whole number", () => {
    assert.throws(() => parseBenchOptions(["--only", "caddy"]), /unknown target caddy/);
    assert.throws(() => parseBenchOptions(["--scenario", "put"]), /get or post-1k/);
    assert.throws(() => parseBenchOptions(["--duration", "1.5"]), /positive whole number/);
    assert.throws(() => parseBenchOptions(["--bogus"]), /Unknown option/);
  });
});
