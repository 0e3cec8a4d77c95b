import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ExpositionWriter, wantsOpenMetrics } from "../../src/observability/metrics/exposition.js";
import { boundsInMs, HistogramCell } from "../../src/observability/metrics/histogram.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

function sample(openMetrics: boolean): string {
  const w = new ExpositionWriter(openMetrics);
  w.family("demo_requests", "counter", 'Requests, with a "quote" and a \\ backslash\nand a newline.');
  w.sample([["router", 'we"ird\\name\nx']], 3);
  w.family("demo_up", "gauge", "Up.").sample([], 1);
  const cell = new HistogramCell(boundsInMs([0.01, 0.1]));
  cell.observe(5); // 0.005 s: first bucket
  cell.observe(50); // 0.05 s: second bucket
  cell.observe(5000); // 5 s: +Inf
  w.family("demo_duration_seconds", "histogram", "Durations.", "seconds").histogram([["router", "a"]], cell, [0.01, 0.1]);
  return w.finish();
}

describe("exposition", () => {
  it("escapes label values and help text so the reference parser reads them back", () => {
    const families = parseExposition(sample(false), "text");
    assert.equal(sampleValue(families, "demo_requests_total", { router: 'we"ird\\name\nx' }), 3);
    assert.equal(families.find((f) => f.name === "demo_requests")?.help, 'Requests, with a "quote" and a \\ backslash\nand a newline.');
  });

  it("writes histograms with cumulative buckets, a +Inf bucket, the sum in seconds and the count", () => {
    const families = parseExposition(sample(false), "text");
    assert.equal(sampleValue(families, "demo_duration_seconds_bucket", { le: "0.01" }), 1);
    assert.equal(sampleValue(families, "demo_duration_seconds_bucket", { le: "0.1" }), 2);
    assert.equal(sampleValue(families, "demo_duration_seconds_bucket", { le: "+Inf" }), 3);
    assert.equal(sampleValue(families, "demo_duration_seconds_count"), 3);
    assert.equal(sampleValue(families, "demo_duration_seconds_sum"), 5.055);
  });

  it("names counter families without _total and ends with # EOF in OpenMetrics, which the strict parser accepts", () => {
    const text = sample(true);
    assert.match(text, /^# TYPE demo_requests counter$/m);
    assert.match(text, /^# UNIT demo_duration_seconds seconds$/m);
    assert.ok(text.endsWith("# EOF\n"));
    const families = parseExposition(text, "openmetrics");
    assert.equal(sampleValue(families, "demo_requests_total"), 3);
  });

  it("names counter families with _total in the text format", () => {
    assert.match(sample(false), /^# TYPE demo_requests_total counter$/m);
  });

  it("picks OpenMetrics only when the Accept header asks for it", () => {
    assert.equal(wantsOpenMetrics("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"), true);
    assert.equal(wantsOpenMetrics("text/plain"), false);
    assert.equal(wantsOpenMetrics(undefined), false);
  });
});
