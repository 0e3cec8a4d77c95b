import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ExpositionWriter } from "../../src/observability/metrics/exposition.js";
import { boundsInMs, HistogramCell } from "../../src/observability/metrics/histogram.js";
import { mergeExpositions } from "../../src/observability/metrics/merge.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

function workerText(requests: number, openMetrics: boolean): string {
  const w = new ExpositionWriter(openMetrics);
  w.family("demo_requests", "counter", "Requests.").sample([["router", "a b{c}"]], requests);
  w.family("demo_up", "gauge", "Up.").sample([], 1);
  const cell = new HistogramCell(boundsInMs([0.1]));
  cell.observe(requests);
  w.family("demo_duration_seconds", "histogram", "Durations.", "seconds").histogram([], cell, [0.1]);
  return w.finish();
}

describe("merging the expositions of worker processes", () => {
  for (const openMetrics of [false, true]) {
    it(`labels every sample with its worker and declares each family once (${openMetrics ? "OpenMetrics" : "text"})`, () => {
      const merged = mergeExpositions(
        new Map([
          ["1", workerText(3, openMetrics)],
          ["2", workerText(5, openMetrics)],
        ]),
        openMetrics,
      );
      const families = parseExposition(merged, openMetrics ? "openmetrics" : "text");
      assert.equal(sampleValue(families, "demo_requests_total", { worker: "1", router: "a b{c}" }), 3);
      assert.equal(sampleValue(families, "demo_requests_total", { worker: "2" }), 5);
      assert.equal(sampleValue(families, "demo_up", { worker: "2" }), 1);
      assert.equal(sampleValue(families, "demo_duration_seconds_count", { worker: "1" }), 1);
      assert.equal(sampleValue(families, "demo_duration_seconds_bucket", { worker: "2", le: "+Inf" }), 1);
      assert.equal(merged.match(/^# TYPE demo_up gauge$/gm)?.length, 1);
      assert.equal(merged.match(/# EOF/g)?.length ?? 0, openMetrics ? 1 : 0);
    });
  }
});
