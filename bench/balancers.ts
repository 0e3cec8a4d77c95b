/**
 * Micro-benchmark of the balancers: nanoseconds per select() with 3 and 100
 * backends, and the time to build a consistent-hash table.
 *
 *   node --import tsx bench/balancers.ts
 *
 * Keys rotate over 1024 client IPs; all backends are available and idle (active 0),
 * so least-connections and weighted round-robin scan every backend each call.
 * Times are CPU time of this process, so other work on a shared machine inflates
 * them less than wall-clock time would.
 */
import { balancerSchema, type BalancerConfig } from "../src/config/schema.js";
import { createBalancer } from "../src/service/balancers/index.js";
import type { Balancer, BackendState, SelectContext } from "../src/service/balancers/types.js";

const SIZES = [3, 100];
const CALLS = 1_000_000;

const configs: [string, BalancerConfig][] = [
  ["round-robin", balancerSchema.parse({ algorithm: "round-robin" })],
  ["weighted-round-robin", balancerSchema.parse({ algorithm: "weighted-round-robin" })],
  ["least-connections", balancerSchema.parse({ algorithm: "least-connections" })],
  ["random", balancerSchema.parse({ algorithm: "random" })],
  ["p2c-ewma", balancerSchema.parse({ algorithm: "p2c-ewma" })],
  ["consistent-hash ring", balancerSchema.parse({ algorithm: "consistent-hash", key: { source: "client-ip" }, method: "ring" })],
  ["consistent-hash maglev", balancerSchema.parse({ algorithm: "consistent-hash", key: { source: "client-ip" }, method: "maglev" })],
];

function makeBackends(n: number): BackendState[] {
  const backends: BackendState[] = [];
  for (let i = 0; i < n; i++) {
    const host = `10.1.${i >> 8}.${i & 255}`;
    backends.push({ id: `bench/${host}:80`, address: `${host}:80`, host, port: 80, weight: 1 + (i % 3), active: 0, ewmaMs: 0, available: true, drained: false });
  }
  return backends;
}

const ips: string[] = [];
for (let i = 0; i < 1024; i++) ips.push(`192.168.${i >> 8}.${i & 255}`);
const ctx = { clientIp: ips[0]!, header: () => undefined, cookie: () => undefined } satisfies SelectContext & { clientIp: string };

function run(balancer: Balancer, calls: number): number {
  let sink = 0;
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) {
    ctx.clientIp = ips[i & 1023]!;
    sink += balancer.select(ctx)!.port;
  }
  const used = process.cpuUsage(start);
  if (sink === 0) throw new Error("unreachable");
  return ((used.user + used.system) * 1000) / calls;
}

const rows: string[][] = [["algorithm", ...SIZES.map((n) => `${n} backends ns/select`)]];
for (const [name, config] of configs) {
  const row = [name];
  for (const n of SIZES) {
    const backends = makeBackends(n);
    const balancer = createBalancer(backends, config);
    if (balancer.observe !== undefined) for (const b of backends) balancer.observe(b, 5 + (b.port % 7), true);
    run(balancer, CALLS / 4); // warm up
    row.push(run(balancer, CALLS).toFixed(1));
  }
  rows.push(row);
}

for (const method of ["ring", "maglev"] as const) {
  const config = balancerSchema.parse({ algorithm: "consistent-hash", key: { source: "client-ip" }, method });
  const row = [`build ${method} (ms)`];
  for (const n of SIZES) {
    const backends = makeBackends(n);
    createBalancer(backends, config);
    const start = performance.now();
    createBalancer(backends, config);
    row.push((performance.now() - start).toFixed(2));
  }
  rows.push(row);
}

const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
for (const r of rows) console.log(r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "));
