// Micro-benchmark of the router table: compile time and ns per match, hits and misses,
// for 10,000 hosts x 1 router, 1 host x 10,000 paths (exact, prefix, pattern), and regexes.
// Run: node --import tsx bench/router.ts
import type { RouterConfig } from "../src/config/schema.js";
import { compileRouterTable, type RouteDefinition } from "../src/router/compile.js";
import type { MatchRequest, RouterTable } from "../src/router/table.js";

const N = 10_000;
const ROUNDS = 1_000_000;

const noHeaders = (_name: string): string | undefined => undefined;
const req = (host: string, path: string, method = "GET"): MatchRequest => ({ host, path, method, header: noHeaders });

function def(name: string, match: RouterConfig["match"]): RouteDefinition<string> {
  return { name, tenant: undefined, config: { match, middlewares: [], service: "s" }, target: name };
}

function compile(defs: RouteDefinition<string>[]): { table: RouterTable<string>; ms: number } {
  const t0 = process.hrtime.bigint();
  const table = compileRouterTable(defs, {});
  return { table, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
}

/** CPU ns per match over ROUNDS matches cycling through `reqs`; checks every answer once first. */
function measure(table: RouterTable<string>, reqs: MatchRequest[], expectHit: boolean): number {
  for (const r of reqs) {
    if ((table.match(r) !== undefined) !== expectHit) throw new Error(`unexpected ${expectHit ? "miss" : "hit"} for ${r.host}${r.path}`);
  }
  let sink = 0;
  const mask = reqs.length - 1; // reqs.length is a power of two
  for (let i = 0; i < ROUNDS / 4; i++) sink += table.match(reqs[i & mask]!) === undefined ? 0 : 1; // warm-up
  // CPU time rather than wall time: the machine is shared, and time spent descheduled is not the router's.
  const t0 = process.cpuUsage();
  for (let i = 0; i < ROUNDS; i++) sink += table.match(reqs[i & mask]!) === undefined ? 0 : 1;
  const used = process.cpuUsage(t0);
  const ns = ((used.user + used.system) * 1000) / ROUNDS;
  if (sink < 0) console.log(sink);
  return ns;
}

function sample(n: number, make: (i: number) => MatchRequest): MatchRequest[] {
  return Array.from({ length: n }, (_, i) => make(i));
}

function report(label: string, ms: number, hit: number, miss: number): void {
  console.log(`${label.padEnd(44)} compile ${ms.toFixed(1).padStart(6)} ms   hit ${hit.toFixed(0).padStart(5)} ns/match   miss ${miss.toFixed(0).padStart(5)} ns/match`);
}

// 10,000 hosts with one router each, plus a wildcard and an any-host fallback that never match the probes.
{
  const defs = Array.from({ length: N }, (_, i) => def(`h${i}`, { hosts: [`svc${i}.example.com`], path: { prefix: "/" } }));
  defs.push(def("wild", { hosts: ["*.internal.test"] }), def("health", { path: { exact: "/__health" } }));
  const { table, ms } = compile(defs);
  const hits = sample(1024, (i) => req(`svc${(i * 7919) % N}.example.com`, "/api/users/42"));
  const misses = sample(1024, (i) => req(`svc${i}.example.org`, "/api/users/42"));
  report("10,000 hosts x 1 router", ms, measure(table, hits, true), measure(table, misses, false));
}

// One host, 10,000 paths: a third exact, a third prefixes, a third patterns (some starting with a parameter).
{
  const defs: RouteDefinition<string>[] = [];
  for (let i = 0; i < N; i++) {
    const kind = i % 3;
    if (kind === 0) defs.push(def(`e${i}`, { hosts: ["api.test"], path: { exact: `/svc${i}/health` } }));
    else if (kind === 1) defs.push(def(`p${i}`, { hosts: ["api.test"], path: { prefix: `/svc${i}/api` } }));
    else if (i % 10 === 2) defs.push(def(`o${i}`, { hosts: ["api.test"], path: { pattern: `/:org/svc${i}/items/:id` } }));
    else defs.push(def(`u${i}`, { hosts: ["api.test"], path: { pattern: `/svc${i}/users/:id/*` } }));
  }
  const { table, ms } = compile(defs);
  const hits = sample(1024, (j) => {
    const i = (j * 7919) % N;
    const kind = i % 3;
    if (kind === 0) return req("api.test", `/svc${i}/health`);
    if (kind === 1) return req("api.test", `/svc${i}/api/v1/orders`);
    if (i % 10 === 2) return req("api.test", `/acme/svc${i}/items/9`);
    return req("api.test", `/svc${i}/users/42/profile/photo`);
  });
  const misses = sample(1024, (j) => req("api.test", j % 2 === 0 ? `/svc${j}/unknown/path` : `/nothing/here/at/all/${j}`));
  report("1 host x 10,000 paths (exact/prefix/pattern)", ms, measure(table, hits, true), measure(table, misses, false));
}

// Regexes are tried one by one after the trie: cost grows with their number.
for (const count of [10, 100]) {
  const defs = Array.from({ length: count }, (_, i) => def(`r${i}`, { hosts: ["api.test"], path: { regex: `^/r${i}/[0-9]+$` } }));
  const { table, ms } = compile(defs);
  const hits = sample(1024, (j) => req("api.test", `/r${j % count}/${j}`));
  const misses = sample(1024, (j) => req("api.test", `/x${j}/1`));
  report(`1 host x ${count} regexes`, ms, measure(table, hits, true), measure(table, misses, false));
}
