import type { BackendState, SelectContext } from "../../../src/service/balancers/types.js";

/** Backends 10.0.0.1:8080, 10.0.0.2:8080, ... of service "svc" with the given weights. */
export function makeBackends(weights: readonly number[], service = "svc"): BackendState[] {
  return weights.map((weight, i) => {
    const host = `10.0.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`;
    return { id: `${service}/${host}:8080`, address: `${host}:8080`, host, port: 8080, weight, active: 0, ewmaMs: 0, available: true, drained: false };
  });
}

/** A request context whose key fields tests change between selects. */
export interface TestContext extends SelectContext {
  clientIp: string;
  headers: Map<string, string>;
  cookies: Map<string, string>;
}

export function makeContext(clientIp = "192.0.2.1"): TestContext {
  const headers = new Map<string, string>();
  const cookies = new Map<string, string>();
  return {
    clientIp,
    headers,
    cookies,
    header: (name) => headers.get(name),
    cookie: (name) => cookies.get(name),
  };
}

/** Mulberry32: a small seeded PRNG, so random balancers give the same run every time. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** How many of `picks` went to each backend, in the order of `backends` (undefined picks are not counted). */
export function countPicks(backends: readonly BackendState[], picks: readonly (BackendState | undefined)[]): number[] {
  const counts = backends.map(() => 0);
  for (const pick of picks) if (pick !== undefined) counts[backends.indexOf(pick)]!++;
  return counts;
}

/** `times` selects with the same context. */
export function selectMany(select: () => BackendState | undefined, times: number): (BackendState | undefined)[] {
  const picks: (BackendState | undefined)[] = [];
  for (let i = 0; i < times; i++) picks.push(select());
  return picks;
}

/** 6 binomial standard deviations of a count with probability p over n draws: a bound no honest run exceeds (p ~ 2e-9). */
export function sixSigma(n: number, p: number): number {
  return 6 * Math.sqrt(n * p * (1 - p));
}
