/**
 * Instructions per proxied request, counted by valgrind's callgrind: unlike CPU
 * time, the count does not move with whatever else runs on the machine, so small
 * differences between two configurations (metrics on and off) can be trusted.
 *
 *   npm run bench:instructions [-- --requests 20000 --rounds 3]
 *
 * For each variant it runs the built gateway under callgrind twice, once with
 * WARM requests and once with WARM + N, over one keep-alive connection, and
 * divides the difference of the totals by N: start-up and JIT warm-up cancel out.
 * Work that follows the clock (timers, event-loop wake-ups) does not cancel, so the
 * count still moves a few percent with the machine's load: rounds alternate the
 * variants and the medians are compared.
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { divisorYaml, type DivisorVariant } from "./proxy/configs.js";
import { freePort } from "./proxy/net.js";

const ROOT = resolve(import.meta.dirname, "..");
const BUNDLE = join(ROOT, "dist/cli/divisor-bundle.cjs");
const WARM = 5000;

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i < 0 ? fallback : Number(process.argv[i + 1]);
}

/** Sends `n` GETs one after another on one keep-alive connection. */
function sendRequests(port: number, n: number): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    const request = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    let done = 0;
    let pending = "";
    socket.on("connect", () => socket.write(request));
    socket.on("data", (chunk: Buffer) => {
      pending += chunk.toString("latin1");
      for (;;) {
        const i = pending.indexOf("hello world!");
        if (i < 0) break;
        pending = pending.slice(i + 12);
        if (++done === n) {
          socket.end();
          resolvePromise();
          return;
        }
        socket.write(request);
      }
    });
    socket.on("error", reject);
  });
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        r(true);
      });
      s.on("error", () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`the gateway did not listen on ${port} within ${timeoutMs} ms`);
}

/** Total instructions of one gateway run under callgrind that served `n` requests. */
async function countRun(dir: string, variant: DivisorVariant, backendPort: number, n: number): Promise<number> {
  const port = await freePort();
  const conf = join(dir, `${variant}-${n}.yaml`);
  writeFileSync(conf, divisorYaml(port, backendPort, variant));
  const out = join(dir, `${variant}-${n}.callgrind`);
  const child = spawn(
    "valgrind",
    ["--tool=callgrind", `--callgrind-out-file=${out}`, process.execPath, "--max-semi-space-size=1", "--single-threaded", BUNDLE, "start", "-c", conf],
    { stdio: "ignore" },
  );
  try {
    await waitForPort(port, 120_000);
    await sendRequests(port, n);
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  const summary = /^summary: (\d+)/m.exec(readFileSync(out, "utf8"));
  if (summary === null) throw new Error(`no summary line in ${out}`);
  return Number(summary[1]);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function main(): Promise<void> {
  const n = argValue("--requests", 20000);
  const rounds = argValue("--rounds", 3);
  execFileSync("valgrind", ["--version"]);
  const dir = mkdtempSync(join(tmpdir(), "divisor-instructions-"));
  const backend = http.createServer((_req, res) => res.end("hello world!"));
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", () => r()));
  const backendPort = (backend.address() as net.AddressInfo).port;
  const variants = ["default", "no-metrics"] as const;
  try {
    // Rounds alternate the variants, so a change in the machine's load weighs on both alike.
    const perRequest = new Map<DivisorVariant, number[]>(variants.map((v) => [v, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const variant of variants) {
        const warm = await countRun(dir, variant, backendPort, WARM);
        const full = await countRun(dir, variant, backendPort, WARM + n);
        perRequest.get(variant)!.push((full - warm) / n);
        console.log(`round ${round}: ${variant.padEnd(12)} ${Math.round((full - warm) / n).toLocaleString("en-US")} instructions per request`);
      }
    }
    for (const variant of variants) {
      console.log(`median ${variant.padEnd(12)} ${Math.round(median(perRequest.get(variant)!)).toLocaleString("en-US")} instructions per request`);
    }
    const ratio = median(perRequest.get("default")!) / median(perRequest.get("no-metrics")!);
    console.log(`metrics on / off: ${ratio.toFixed(3)}x instructions per request (target ≤ 1.05x: ${ratio <= 1.05 ? "PASS" : "FAIL"})`);
  } finally {
    backend.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
