/**
 * `divisor explain`: every router checked on its own against one request, saying
 * which condition failed, or which router won over it and why. Not on the hot path.
 */
import { headerFailure } from "./conditions.js";
import { hostMatches } from "./host.js";
import { describePath, matchPath } from "./path.js";
import type { Route, RouteEntry } from "./route.js";
import { precedenceReason } from "./specificity.js";
import type { ExplainCandidate, MatchRequest } from "./table.js";

/** Candidates in the order of `routes` (the table's precedence order). */
export function explainRequest<T>(routes: readonly Route<T>[], req: MatchRequest): ExplainCandidate[] {
  const failures = routes.map((r) => failure(r, req));
  // The winner is the matching entry with the lowest rank (the entry of its most specific matching host).
  let winner: RouteEntry<T> | undefined;
  const matchedEntries = new Map<Route<T>, RouteEntry<T>>();
  routes.forEach((r, i) => {
    if (failures[i] !== undefined) return;
    const entry = bestHostEntry(r, req.host)!;
    matchedEntries.set(r, entry);
    if (winner === undefined || entry.rank < winner.rank) winner = entry;
  });
  return routes.map((r, i) => {
    const why = failures[i];
    if (why !== undefined) return { name: r.name, matched: false, reason: why };
    if (winner!.route === r) return { name: r.name, matched: true, reason: "selected" };
    return { name: r.name, matched: false, reason: `matches, but ${winner!.name} wins with ${precedenceReason(winner!, matchedEntries.get(r)!)}` };
  });
}

function bestHostEntry<T>(r: Route<T>, host: string): RouteEntry<T> | undefined {
  let best: RouteEntry<T> | undefined;
  for (const e of r.entries) if (hostMatches(e.host, host) && (best === undefined || e.rank < best.rank)) best = e;
  return best;
}

/** The first condition of the router the request fails, or undefined when it meets them all. */
function failure<T>(r: Route<T>, req: MatchRequest): string | undefined {
  if (bestHostEntry(r, req.host) === undefined) {
    return `host ${JSON.stringify(req.host)} is not ${r.hosts.map((h) => h.text).join(" or ")}`;
  }
  if (matchPath(r.path, req.path) === false) return `path ${JSON.stringify(req.path)} does not match ${describePath(r.path)}`;
  if (r.methods !== null && !r.methods.includes(req.method)) return `method ${req.method} is not ${r.methods.join(" or ")}`;
  for (const c of r.headers ?? []) {
    const why = headerFailure(c, req);
    if (why !== undefined) return why;
  }
  return undefined;
}
