import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { errorCount, parseWrkOutput } from "../../bench/proxy/wrk.js";

const CLEAN = `Running 10s test @ http://127.0.0.1:36591/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   812.00us  301.11us  12.21ms   88.07%
    Req/Sec    61.59k     4.28k    66.09k    75.45%
  Latency Distribution
     50%  750.00us
     75%    0.91ms
     90%    1.21ms
     99%    2.09ms
  612345 requests in 10.00s, 80.12MB read
Requests/sec:  61234.50
Transfer/sec:      8.01MB
`;

const FAILING = `Running 1s test @ http://127.0.0.1:36591/
  1 threads and 2 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.41ms    1.39ms  12.21ms   88.07%
    Req/Sec     1.59k   428.53     2.09k    45.45%
  Latency Distribution
     50%    0.90ms
     75%    1.51ms
     90%    3.21ms
     99%    1.02s
  1736 requests in 1.10s, 0.86MB read
  Socket errors: connect 1, read 12, write 0, timeout 3
  Non-2xx or 3xx responses: 1736
Requests/sec:   1578.38
Transfer/sec:    801.52KB
`;

describe("parseWrkOutput", () => {
  it("reads requests, duration, throughput and percentiles of a clean run", () => {
    const r = parseWrkOutput(CLEAN);
    assert.equal(r.requests, 612345);
    assert.equal(r.seconds, 10);
    assert.equal(r.requestsPerSecond, 61234.5);
    assert.equal(r.p50Ms, 0.75);
    assert.equal(r.p99Ms, 2.09);
    assert.equal(errorCount(r), 0);
  });

  it("counts bad statuses and every kind of socket error", () => {
    const r = parseWrkOutput(FAILING);
    assert.equal(r.badStatus, 1736);
    assert.deepEqual(r.socketErrors, { connect: 1, read: 12, write: 0, timeout: 3 });
    assert.equal(errorCount(r), 1736 + 16);
  });

  it("converts latencies given in seconds to milliseconds", () => {
    assert.equal(parseWrkOutput(FAILING).p99Ms, 1020);
  });

  it("rejects output without a latency distribution", () => {
    assert.throws(() => parseWrkOutput("Running 1s test\n  10 requests in 1.00s, 1KB read\nRequests/sec: 10\n"), /unreadable wrk output/);
  });
});
