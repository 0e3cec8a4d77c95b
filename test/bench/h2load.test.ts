import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseH2loadOutput } from "../../bench/proxy/h2load.js";
import { errorCount } from "../../bench/proxy/wrk.js";

const REPORT = `finished in 5.00s, 12345.60 req/s, 1.20MB/s
requests: 61728 total, 61800 started, 61728 done, 61720 succeeded, 8 failed, 3 errored, 1 timeout
status codes: 61715 2xx, 0 3xx, 4 4xx, 1 5xx
traffic: 6.00MB (6291456) total, 1.00MB (1048576) headers (space savings 90.00%), 740.00KB (757760) data
`;

describe("parseH2loadOutput", () => {
  it("reads throughput, request counts and error kinds from h2load's report and percentiles from its log", () => {
    const log = Array.from({ length: 100 }, (_, i) => `1796305447020258\t200\t${(i + 1) * 1000}`).join("\n");
    const r = parseH2loadOutput(REPORT, `${log}\n`);
    assert.equal(r.requests, 61720, "succeeded requests");
    assert.equal(r.requestsPerSecond, 12345.6, "req/s");
    assert.equal(r.seconds, 5, "duration");
    assert.equal(r.p50Ms, 51, "median of 1..100 ms");
    assert.equal(r.p99Ms, 100, "99th percentile");
    assert.equal(r.badStatus, 5, "4xx and 5xx");
    assert.equal(errorCount(r), 5 + 3 + 8 + 1, "bad statuses, errored, failed and timed-out requests");
  });

  it("refuses a report it cannot read", () => {
    assert.throws(() => parseH2loadOutput("no connections\n", ""), /unreadable h2load output/);
  });
});
