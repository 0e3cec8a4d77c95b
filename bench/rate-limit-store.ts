/**
 * Per-decision cost of the in-memory rate limit: in one process (GcraStore.decide)
 * and under --workers (a worker's ClusterStore asking the primary over the cluster
 * IPC channel), sequential (one decision in flight, the latency) and with 100 in
 * flight (batched into one message per event-loop turn, the throughput).
 *
 *   node --import tsx bench/rate-limit-store.ts
 */
import cluster from "node:cluster";
import { ClusterStore, PrimaryRateLimits } from "../src/middleware/rate-limit/cluster.js";
import { GcraStore } from "../src/middleware/rate-limit/memory.js";

const KEYS = Array.from({ length: 1000 }, (_, i) => `10.0.${i >> 8}.${i & 255}`);
const spec = { name: "bench", algorithm: "gcra", rate: 1_000_000, period: 1000, burst: 1_000_000, maxKeys: 100_000 } as const;

function report(what: string, n: number, ns: bigint): void {
  console.log(`${what.padEnd(44)} ${(Number(ns) / n).toFixed(0).padStart(7)} ns/decision`);
}

if (cluster.isPrimary) {
  const n = 2_000_000;
  const memory = new GcraStore(spec.rate, spec.period, spec.burst, spec.maxKeys);
  for (let i = 0; i < 100_000; i++) memory.decide(KEYS[i % 1000]!, performance.now());
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) memory.decide(KEYS[i % 1000]!, performance.now());
  report("single process (memory, no IPC)", n, process.hrtime.bigint() - t0);
  const limits = new PrimaryRateLimits(cluster);
  cluster.fork().on("exit", () => limits.close());
} else {
  const store = new ClusterStore(spec);
  const sequential = async (n: number) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) await store.decide(KEYS[i % 1000]!);
    return process.hrtime.bigint() - t0;
  };
  const inFlight = async (n: number, width: number) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i += width) await Promise.all(Array.from({ length: width }, (_, j) => store.decide(KEYS[(i + j) % 1000]!)));
    return process.hrtime.bigint() - t0;
  };
  await sequential(2000);
  report("--workers, one decision in flight", 20_000, await sequential(20_000));
  await inFlight(10_000, 100);
  report("--workers, 100 in flight (batched)", 200_000, await inFlight(200_000, 100));
  process.exit(0);
}
