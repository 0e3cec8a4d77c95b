import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { checkGoals, errorLines, type Measured, ratioLines, summaryBlock, type TargetResult } from "../../bench/proxy/report.js";
import { parseWrkOutput } from "../../bench/proxy/wrk.js";

function wrkText(rps: number, extra = ""): string {
  return `  Latency Distribution
     50%  800.00us
     99%    2.00ms
  ${rps * 10} requests in 10.00s, 1MB read
${extra}Requests/sec: ${rps}
`;
}

function target(id: string, rps: number, cpu: number, rssMiB: number, firstMs: number, extra = "", otherLoadCores = 0.05): Measured {
  return {
    ok: true,
    id,
    label: id,
    wrk: parseWrkOutput(wrkText(rps, extra)),
    cpuUsPerRequest: cpu,
    backendCpuUsPerRequest: 7,
    peakRssBytes: rssMiB * 1024 * 1024,
    firstResponseMs: firstMs,
    otherLoadCores,
  };
}

const header = { date: "2026-11-22", connections: 50, duration: 10, scenario: "get", cores: 2, loadAverage: "0.10, 0.20, 0.30", versions: { node: "v20" } };

describe("checkGoals", () => {
  it("passes every target when Divisor is within them", () => {
    const results = [
      target("divisor", 50_000, 18, 40, 90),
      target("divisor-no-metrics", 51_000, 17.5, 40, 90),
      target("divisor-chain", 45_000, 21.6, 41, 92),
      target("divisor-lua", 40_000, 30, 45, 95),
      target("nginx", 60_000, 13, 6, 10),
      target("node-http-proxy", 20_000, 47, 70, 100),
    ];
    assert.deepEqual(
      checkGoals(results).map((g) => [g.value, g.pass]),
      [
        ["1.38x", true],
        ["2.50x", true],
        ["40.0 MB", true],
        ["90.0 ms", true],
        ["1.03x", true],
        ["1.20x", true],
        ["12.0 µs", true],
      ],
    );
  });

  it("fails each target Divisor misses", () => {
    const results = [
      target("divisor", 30_000, 26, 61, 151),
      target("divisor-no-metrics", 40_000, 24, 61, 151),
      target("divisor-chain", 20_000, 33, 62, 155),
      target("divisor-lua", 10_000, 90, 62, 155),
      target("nginx", 60_000, 13, 6, 10),
      target("node-http-proxy", 20_000, 47, 70, 100),
    ];
    assert.deepEqual(
      checkGoals(results).map((g) => g.pass),
      [false, false, false, false, false, false, false],
    );
  });

  it("says a target is not applicable when the peer it compares with was not measured", () => {
    const results: TargetResult[] = [target("divisor", 50_000, 18, 40, 90), { ok: false, id: "nginx", label: "nginx", error: "did not start" }];
    const [cpu, rps] = checkGoals(results);
    assert.equal(cpu!.pass, undefined);
    assert.equal(rps!.value, "n/a");
  });
});

describe("summaryBlock", () => {
  it("prints a row per target, Divisor's ratio to each peer and a verdict per target", () => {
    const text = summaryBlock(header, [target("direct", 70_000, 7, 5, 12), target("divisor", 50_000, 18, 40, 90), target("nginx", 60_000, 12, 6, 10)]);
    assert.match(text, /^== Divisor bench summary \(2026-11-22, 50 conns, 10s, 12-byte GET, proxy on 1 core\) ==/);
    assert.match(text, /^divisor\s+50,000\s+0\.80ms\s+2\.00ms\s+18\.0\s+40\.0 MB\s+90 ms\s+0\.05\s+0$/m);
    assert.match(text, /^ {2}nginx\s+1\.50x\s+0\.83x$/m);
    assert.match(text, /CPU µs\/req ≤ 1\.5x nginx's\s+1\.50x\s+PASS/);
    assert.doesNotMatch(text, /^ {2}direct/m);
  });

  it("shouts when a run had errors or a target could not be measured", () => {
    const results: TargetResult[] = [
      target("divisor", 50_000, 18, 40, 90, "  Socket errors: connect 0, read 3, write 0, timeout 0\n  Non-2xx or 3xx responses: 5\n"),
      { ok: false, id: "haproxy", label: "haproxy", error: "the process exited before answering\nmore" },
    ];
    assert.deepEqual(errorLines(results), [
      "!! divisor had 8 !! (5 status>=400, 3 read) during the measured run",
      "!! haproxy was not measured: the process exited before answering",
    ]);
    assert.match(summaryBlock(header, results), /^haproxy\s.*NOT MEASURED: the process exited before answering$/m);
  });

  it("warns when other work on the machine disturbed a run, and only then", () => {
    const quiet = summaryBlock(header, [target("divisor", 50_000, 18, 40, 90)]);
    assert.doesNotMatch(quiet, /noisy/);
    const noisy = summaryBlock(header, [target("divisor", 50_000, 18, 40, 90, "", 0.6), target("nginx", 60_000, 12, 6, 10)]);
    assert.match(noisy, /^~ noisy: .* during the runs of divisor 0\.60;/m);
  });

  it("notes when Divisor is missing instead of printing ratios", () => {
    assert.deepEqual(ratioLines([target("nginx", 60_000, 12, 6, 10)]), ["ratios: Divisor was not measured"]);
  });

  it("adds like-for-like lines for the HTTPS and compression rows, only for pairs measured on both sides", () => {
    const lines = ratioLines([
      target("divisor", 50_000, 20, 40, 90),
      target("divisor-https", 30_000, 40, 44, 120),
      target("nginx-https", 40_000, 25, 8, 12),
      target("divisor-compress", 5_000, 170, 45, 90),
    ]);
    const i = lines.findIndex((l) => l.startsWith("like for like"));
    assert.ok(i > 0, lines.join("\n"));
    assert.deepEqual(lines.slice(i + 1).map((l) => l.trim().split(/\s+/)), [["divisor-https", "/", "nginx-https", "1.60x", "0.75x"]]);
  });
});

describe("ratioLines with a middleware row", () => {
  it("prints the divisor-plugin row's cost over divisor, and nothing without it", () => {
    const lines = ratioLines([target("divisor", 40_000, 20, 40, 90), target("divisor-plugin", 36_000, 23, 41, 95)]);
    const line = lines.find((l) => l.includes("divisor-plugin / divisor"));
    assert.ok(line !== undefined, `a cost line: ${lines.join("\n")}`);
    assert.match(line, /1\.15x\s+0\.90x\s+\+3\.0 µs\/req/, "CPU and req/s ratios and the extra CPU per request");
    assert.ok(!ratioLines([target("divisor", 40_000, 20, 40, 90)]).some((l) => l.includes("cost over divisor")), "no section without the row");
  });
});
