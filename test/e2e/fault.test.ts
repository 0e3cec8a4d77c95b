import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { createGateway } from "../../src/gateway/gateway.js";
import { ConfigError } from "../../src/errors.js";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

/** curl's exit code and output (curl is a real client that reports resets as such). */
function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile("curl", ["-sS", ...args], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

function timeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
}

describe("fault middleware", () => {
  let backend: TestBackend;
  before(async () => {
    backend = await startBackend();
  });
  after(async () => {
    await backend.close();
  });

  async function withFault(fault: Record<string, unknown>, run: (gw: TestGateway) => Promise<void>): Promise<void> {
    const gw = await startGateway({
      admin: { address: "127.0.0.1:0" },
      services: { app: { backends: [backend.address] } },
      middlewares: { chaos: { type: "fault", ...fault } as never },
      routers: { all: { service: "app", middlewares: ["chaos"] } },
    });
    try {
      await run(gw);
    } finally {
      await gw.close();
    }
  }

  async function injected(gw: TestGateway, kind: string): Promise<number | undefined> {
    const res = await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`);
    return sampleValue(parseExposition(res.body, "text"), "divisor_fault_injected_total", { middleware: "chaos", kind });
  }

  test("a delay that the client does not wait for ends when the client leaves, leaving no timer behind", async () => {
    await withFault({ delay: { percentage: 100, fixed: "30s" } }, async (gw) => {
      const idle = timeouts();
      const seenBefore = backend.seen.length;
      const started = performance.now();
      const pending = curl(["-m", "0.4", `${gw.url}/slow`]);
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(timeouts() > idle, "the delay holds a timer while the client waits");
      const res = await pending;
      assert.equal(res.code, 28, "curl gave up waiting (operation timed out)");
      assert.ok(performance.now() - started < 5000);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(timeouts(), idle, "the delay's timer was cleared when the client left");
      assert.equal(backend.seen.length, seenBefore, "the abandoned request never reached the backend");
      assert.equal(await injected(gw, "delay"), 1);
    });
  });

  test("aborts every request with the configured status and body, without reaching the backend, and counts them", async () => {
    await withFault({ abort: { percentage: 100, status: 503, body: "chaos says no\n" } }, async (gw) => {
      const seenBefore = backend.seen.length;
      for (let i = 0; i < 3; i++) {
        const res = await get(`${gw.url}/x`);
        assert.equal(res.status, 503);
        assert.equal(res.body, "chaos says no\n");
      }
      assert.equal(backend.seen.length, seenBefore);
      assert.equal(await injected(gw, "abort"), 3);
    });
  });

  test("aborts exactly the configured share of requests, spread evenly", async () => {
    await withFault({ abort: { percentage: 25, status: 500 } }, async (gw) => {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++) statuses.push((await get(`${gw.url}/`)).status);
      assert.equal(statuses.filter((s) => s === 500).length, 10);
      assert.equal(statuses.filter((s) => s === 200).length, 30);
      assert.deepEqual(statuses.slice(0, 8), [200, 200, 200, 500, 200, 200, 200, 500]);
      assert.equal(await injected(gw, "abort"), 10);
    });
  });

  test("resets the client connection instead of answering when abort.reset is set", async () => {
    await withFault({ abort: { percentage: 100, reset: true } }, async (gw) => {
      const res = await curl([`${gw.url}/`]);
      assert.equal(res.code, 56, `curl reports a failure receiving data (reset): ${res.stderr}`);
      assert.match(res.stderr, /reset/i);
      assert.equal(res.stdout, "");
      assert.equal(await injected(gw, "reset"), 1);
    });
  });

  test("only requests with the configured header and value get faults", async () => {
    await withFault({ match: { header: "X-Chaos", value: "on" }, abort: { percentage: 100, status: 418 } }, async (gw) => {
      assert.equal((await get(`${gw.url}/`)).status, 200);
      assert.equal((await get(`${gw.url}/`, { headers: { "x-chaos": "off" } })).status, 200);
      assert.equal((await get(`${gw.url}/`, { headers: { "x-chaos": "on" } })).status, 418);
      assert.equal(await injected(gw, "abort"), 1);
    });
  });

  test("delays by a fixed time or a random time in a range without blocking other requests", async () => {
    await withFault({ match: { header: "x-slow" }, delay: { percentage: 100, min: "300ms", max: "400ms" } }, async (gw) => {
      const started = performance.now();
      const slow = get(`${gw.url}/`, { headers: { "x-slow": "1" } }).then((r) => ({ status: r.status, ms: performance.now() - started }));
      const fast = await get(`${gw.url}/`);
      const fastMs = performance.now() - started;
      assert.equal(fast.status, 200);
      assert.ok(fastMs < 250, `an undelayed request was served during the delay (${fastMs.toFixed(0)} ms)`);
      const done = await slow;
      assert.equal(done.status, 200);
      assert.ok(done.ms >= 295 && done.ms < 1500, `delayed within the range (${done.ms.toFixed(0)} ms)`);
    });
    await withFault({ delay: { percentage: 100, fixed: 200 }, abort: { percentage: 100, status: 503 } }, async (gw) => {
      const started = performance.now();
      const res = await get(`${gw.url}/`);
      assert.equal(res.status, 503, "the abort applies after the delay");
      assert.ok(performance.now() - started >= 195);
      assert.equal(await injected(gw, "delay"), 1);
      assert.equal(await injected(gw, "abort"), 1);
    });
  });

  test("refuses a fault without delay or abort, an abort with both status and reset, and a delay range without max", () => {
    const build = (fault: Record<string, unknown>) => () =>
      createGateway({
        listeners: [{ address: "127.0.0.1:0" }],
        services: { app: { backends: ["127.0.0.1:1"] } },
        middlewares: { chaos: { type: "fault", ...fault } as never },
        routers: { all: { service: "app", middlewares: ["chaos"] } },
      });
    assert.throws(build({}), (e: unknown) => e instanceof ConfigError && /delay, abort, or both/.test(e.message));
    assert.throws(build({ abort: { percentage: 1, status: 503, reset: true } }), (e: unknown) => e instanceof ConfigError && /either status or reset/.test(e.message));
    assert.throws(build({ delay: { percentage: 1, min: 5 } }), (e: unknown) => e instanceof ConfigError && /min and max go together/.test(e.message));
    assert.throws(build({ abort: { percentage: 120, status: 503 } }), (e: unknown) => e instanceof ConfigError && /middlewares\.chaos\.abort\.percentage/.test(e.message));
  });
});
