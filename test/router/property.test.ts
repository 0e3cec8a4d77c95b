/**
 * Property test: for random tables and requests, RouterTable.match agrees with a
 * naive reference — a linear scan of every router, ranked by the precedence that
 * docs/routing.md documents, written here from the docs and not from the source.
 * The seed is fixed so failures reproduce; ROUTER_SEED=<n> explores other seeds.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { HeaderMatch, PathMatch } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { seededRandom as rng } from "../service/balancers/helpers.js";
import { buildTable, type RouterInput, request, type TenantInput } from "./fixtures.js";

// ---------------------------------------------------------------- the reference

interface RefRoute {
  name: string;
  hosts: string[];
  path: PathMatch | undefined;
  methods: string[] | undefined;
  headers: HeaderMatch[] | undefined;
  priority: number;
}

/** [kind, labels]: exact [2,0] > wildcard [1, labels of the suffix] > any [0,0]; undefined when no match. */
function refHost(pattern: string, host: string): number[] | undefined {
  if (pattern === "*") return [0, 0];
  if (pattern.startsWith("*.")) {
    const suffix = pattern.slice(2);
    return host.endsWith(`.${suffix}`) && host.length > suffix.length + 1 ? [1, suffix.split(".").length] : undefined;
  }
  return host === pattern ? [2, 0] : undefined;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Path rank [kind, d1, d2, d3] (exact 4 > pattern 3 > prefix 2 > regex 1 > none 0) and params, or undefined. */
function refPath(m: PathMatch | undefined, path: string): { rank: number[]; params: Record<string, string> | null } | undefined {
  if (m === undefined || ("prefix" in m && m.prefix === "/")) return { rank: [0, 0, 0, 0], params: null };
  if ("exact" in m) return path === m.exact ? { rank: [4, 0, 0, 0], params: null } : undefined;
  if ("prefix" in m) {
    const p = m.prefix.endsWith("/") ? m.prefix.slice(0, -1) : m.prefix;
    return path === p || path.startsWith(`${p}/`) ? { rank: [2, p.length, 0, 0], params: null } : undefined;
  }
  if ("regex" in m) {
    const r = new RegExp(m.regex).exec(path);
    if (r === null) return undefined;
    const params = r.groups === undefined ? null : Object.fromEntries(Object.entries(r.groups).filter(([, v]) => v !== undefined) as [string, string][]);
    return { rank: [1, 0, 0, 0], params };
  }
  const want = m.pattern.slice(1).split("/");
  const wildcard = want.at(-1) === "*";
  if (wildcard) want.pop();
  if (!path.startsWith("/")) return undefined;
  const got = path.slice(1).split("/");
  if (wildcard ? got.length < want.length : got.length !== want.length) return undefined;
  const params: Record<string, string> = {};
  let literals = 0;
  for (let i = 0; i < want.length; i++) {
    const w = want[i]!;
    if (w.startsWith(":")) {
      if (got[i] === "") return undefined;
      params[w.slice(1)] = decode(got[i]!);
    } else if (w !== got[i]) return undefined;
    else literals++;
  }
  if (wildcard) params["*"] = got.slice(want.length).join("/");
  const any = Object.keys(params).length > 0;
  return { rank: [3, literals, want.length, wildcard ? 0 : 1], params: any ? params : null };
}

function refHeaders(conds: HeaderMatch[] | undefined, headers: Record<string, string>): boolean {
  for (const c of conds ?? []) {
    const v = headers[c.name.toLowerCase()];
    if ("value" in c && v !== c.value) return false;
    if ("regex" in c && (v === undefined || !new RegExp(c.regex).test(v))) return false;
    if ("present" in c && (v !== undefined) !== c.present) return false;
  }
  return true;
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
}

/** Linear scan: the matching router with the highest [priority, host, path, methods, headers] key, ties by name. */
function refMatch(routes: RefRoute[], host: string, path: string, method: string, headers: Record<string, string>) {
  let best: { name: string; key: number[]; params: Record<string, string> | null } | undefined;
  for (const r of routes) {
    const hostRanks = r.hosts.map((h) => refHost(h, host)).filter((k) => k !== undefined);
    if (hostRanks.length === 0) continue;
    const hostRank = hostRanks.sort(compareKeys).at(-1)!;
    const p = refPath(r.path, path);
    if (p === undefined) continue;
    if (r.methods !== undefined && !r.methods.includes(method)) continue;
    if (!refHeaders(r.headers, headers)) continue;
    const methods = r.methods === undefined ? [0, 0] : [1, -new Set(r.methods).size];
    const key = [r.priority, ...hostRank, ...p.rank, ...methods, r.headers?.length ?? 0];
    const c = best === undefined ? 1 : compareKeys(key, best.key);
    if (c > 0 || (c === 0 && r.name < best!.name)) best = { name: r.name, key, params: p.params };
  }
  return best;
}

// ---------------------------------------------------------------- generators

const HOSTS = ["a.com", "b.a.com", "*.a.com", "*.b.a.com", "*", "*.com", "d.org"];
const REQUEST_HOSTS = ["a.com", "b.a.com", "x.b.a.com", "y.a.com", "d.org", "z.com", "c.org", "x.c.org", "other.net", ""];
const SEGMENTS = ["x", "y", "z", ""];
const REGEXES = ["^/x", "y$", "^/(?<first>[a-z]+)/", "^/x/(?<n>[a-z]*)$", "z"];
const HEADER_CONDITIONS: HeaderMatch[] = [
  { name: "x-a", value: "1" },
  { name: "X-A", regex: "^[12]$" },
  { name: "x-b", present: true },
  { name: "x-b", present: false },
];
const METHODS = ["GET", "POST", "PUT"];

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)]!;
}

function randomSegments(r: () => number, max: number): string[] {
  return Array.from({ length: Math.floor(r() * (max + 1)) }, () => pick(r, SEGMENTS));
}

function randomPath(r: () => number): PathMatch | undefined {
  const kind = Math.floor(r() * 6);
  const segs = randomSegments(r, 3);
  if (kind === 0) return undefined;
  if (kind === 1) return { exact: `/${segs.join("/")}` };
  if (kind === 2) return { prefix: `/${segs.join("/")}${r() < 0.2 ? "/" : ""}` };
  if (kind === 3) return { regex: pick(r, REGEXES) };
  const pattern = segs.map((s, i) => (r() < 0.4 ? `:p${i}` : s));
  if (r() < 0.4) pattern.push("*");
  return { pattern: `/${pattern.join("/")}` };
}

function randomRouter(r: () => number, hostsPool: readonly string[] | undefined): RouterInput {
  const match: RouterInput["match"] & object = {};
  if (hostsPool !== undefined && r() < 0.7) match.hosts = Array.from({ length: 1 + Math.floor(r() * 2) }, () => pick(r, hostsPool));
  const path = randomPath(r);
  if (path !== undefined) match.path = path;
  if (r() < 0.3) match.methods = METHODS.filter(() => r() < 0.5).concat(pick(r, METHODS));
  if (r() < 0.3) match.headers = Array.from({ length: 1 + Math.floor(r() * 2) }, () => pick(r, HEADER_CONDITIONS));
  const router: RouterInput = { match, service: "s" };
  if (r() < 0.2) router.priority = pick(r, [-1, 0, 1, 2]);
  return router;
}

function randomRequestPath(r: () => number): string {
  if (r() < 0.05) return "*";
  const segs = randomSegments(r, 4).map((s) => (r() < 0.05 ? "%7A" : r() < 0.03 ? ".." : s));
  return `/${segs.join("/")}`;
}

// ---------------------------------------------------------------- the property

test("match agrees with a linear scan in documented precedence order on random tables and requests", () => {
  const seed = Number(process.env.ROUTER_SEED ?? 20261122);
  const r = rng(seed);
  let tables = 0;
  let matched = 0;
  for (let t = 0; tables < 300 && t < 3000; t++) {
    const routers: Record<string, RouterInput> = {};
    const count = 1 + Math.floor(r() * 8);
    for (let i = 0; i < count; i++) routers[`r${i}`] = randomRouter(r, HOSTS);
    const tenants: Record<string, TenantInput> = {};
    if (r() < 0.3) {
      tenants.t = { hosts: ["c.org", "*.c.org"], routers: {} };
      for (let i = 0; i < 1 + Math.floor(r() * 3); i++) tenants.t.routers![`u${i}`] = randomRouter(r, ["c.org", "x.c.org", "*.c.org"]);
    }
    let table: ReturnType<typeof buildTable>;
    try {
      table = buildTable(routers, tenants);
    } catch (err) {
      if (err instanceof ConfigError && err.issues.every((i) => i.message.includes("matches exactly the same requests"))) continue;
      throw err;
    }
    tables++;
    const ref: RefRoute[] = [
      ...Object.entries(routers).map(([name, c]) => ({ name, hosts: c.match?.hosts ?? ["*"], path: c.match?.path, methods: c.match?.methods, headers: c.match?.headers, priority: c.priority ?? 0 })),
      ...Object.entries(tenants.t?.routers ?? {}).map(([name, c]) => ({ name: `t/${name}`, hosts: c.match?.hosts ?? tenants.t!.hosts, path: c.match?.path, methods: c.match?.methods, headers: c.match?.headers, priority: c.priority ?? 0 })),
    ];
    for (let q = 0; q < 40; q++) {
      const host = pick(r, REQUEST_HOSTS);
      const path = randomRequestPath(r);
      const method = pick(r, METHODS);
      const headers: Record<string, string> = {};
      if (r() < 0.5) headers["x-a"] = pick(r, ["1", "2", "3"]);
      if (r() < 0.5) headers["x-b"] = "on";
      const expected = refMatch(ref, host, path, method, headers);
      const req = request(host, path, method, headers);
      const got = table.match(req);
      const context = `seed ${seed}, table ${t}: ${JSON.stringify({ routers, tenants })}\nrequest ${JSON.stringify({ host, path, method, headers })}`;
      assert.equal(got?.route.name, expected?.name, context);
      assert.deepEqual(got?.params, expected?.params, context);
      const chosen = table.explain(req).candidates.filter((c) => c.matched);
      assert.deepEqual(
        chosen.map((c) => c.name),
        expected === undefined ? [] : [expected.name],
        `explain disagrees; ${context}`,
      );
      if (expected !== undefined) matched++;
    }
  }
  assert.equal(tables, 300, "too many generated tables were ambiguous");
  assert.ok(matched > 2000, `only ${matched} requests matched a router; the generator is too sparse`);
});
