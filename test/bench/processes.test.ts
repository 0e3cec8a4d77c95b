import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { describe, it } from "node:test";
import { cpuTicks, descendants, parseMachineBusy, parseProcStat, parseVmHwm, peakRss } from "../../bench/proxy/processes.js";

describe("parseProcStat", () => {
  it("sums user, system and reaped children's CPU ticks", () => {
    const line = "4242 (nginx) S 4241 4242 4242 0 -1 4194624 100 0 0 0 150 40 7 3 20 0 1 0 500 1000 200 0 0";
    assert.deepEqual(parseProcStat(line), { pid: 4242, ppid: 4241, cpuTicks: 150 + 40 + 7 + 3 });
  });

  it("counts fields after the last parenthesis when the command name holds spaces and parentheses", () => {
    const line = "77 (a (b) c) R 1 77 77 0 -1 0 0 0 0 0 11 22 0 0 20 0 1 0 9 9 9";
    assert.deepEqual(parseProcStat(line), { pid: 77, ppid: 1, cpuTicks: 33 });
  });
});

describe("parseVmHwm", () => {
  it("reads the peak resident set in bytes", () => {
    assert.equal(parseVmHwm("Name:\tnode\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40000 kB\n"), 51200 * 1024);
  });

  it("gives 0 for a kernel thread without memory figures", () => {
    assert.equal(parseVmHwm("Name:\tkthreadd\nState:\tS\n"), 0);
  });
});

describe("parseMachineBusy", () => {
  it("counts every tick of the machine but idle and iowait", () => {
    const text = "cpu  1000 5 300 9000 40 7 20 11 0 0\ncpu0 500 0 150 4500 20 3 10 5 0 0\n";
    assert.equal(parseMachineBusy(text), 1000 + 5 + 300 + 7 + 20 + 11);
  });
});

describe("/proc accounting of live processes", () => {
  it("finds a child it started among its descendants, and reads that child's figures", async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      await once(child, "spawn");
      assert.ok(descendants(process.pid).includes(child.pid!));
      assert.ok(cpuTicks([child.pid!]) >= 0);
      assert.ok(peakRss([child.pid!]) > 0);
    } finally {
      child.kill("SIGKILL");
    }
  });

  it("treats a process that no longer exists as costing nothing", () => {
    assert.equal(cpuTicks([2 ** 22 + 1]), 0);
    assert.equal(peakRss([2 ** 22 + 1]), 0);
  });
});
