import { didYouMeanSuffix } from "../../config/suggest.js";
import { CACHE_STORE, type KeptCache } from "../../middleware/cache/index.js";
import { adminError, ok } from "../respond.js";
import type { AdminRoute } from "../types.js";

/** DELETE /api/cache/:middleware?key=… or ?prefix=…: forget stored responses. */
export const cachePurge: AdminRoute = {
  method: "DELETE",
  path: "/api/cache/:middleware",
  description:
    "Purge a cache middleware's stored responses: ?key=<host><path>[?query] removes that key (all its variants), ?prefix=<start of keys> every key starting so, e.g. ?prefix=example.com/assets/ (URL-encode the value). Answers {middleware, purged: number of keys}. Under --workers every worker purges its memory store, and purged adds up theirs.",
  writes: true,
  // Each worker purges its own memory store (with Redis the first one finds the keys): the keys purged add up.
  mergeWorkerBodies: (bodies) => {
    const first = bodies[0] as { middleware: string; purged: number };
    return { middleware: first.middleware, purged: bodies.reduce<number>((sum, b) => sum + ((b as { purged?: number }).purged ?? 0), 0) };
  },
  handle: async (req, gateway) => {
    const name = req.params.middleware!;
    const caches = Object.entries(gateway.config.middlewares)
      .filter(([, m]) => m.type === "cache")
      .map(([n]) => n);
    if (!caches.includes(name)) {
      return adminError(404, "ERR_ADMIN_UNKNOWN_CACHE", `no cache middleware "${name}"${didYouMeanSuffix(name, caches)}; cache middlewares: ${caches.length === 0 ? "none" : caches.join(", ")}`);
    }
    const key = req.query.get("key");
    const prefix = req.query.get("prefix");
    if ((key === null) === (prefix === null) || key === "") {
      return adminError(400, "ERR_ADMIN_BAD_QUERY", "give exactly one of ?key=<host><path>[?query] (one key) or ?prefix=<start of keys> (prefix= with nothing purges everything)");
    }
    const kept = gateway.middlewareState(name)?.get(CACHE_STORE) as KeptCache | undefined;
    if (kept === undefined) return ok({ middleware: name, purged: 0 });
    try {
      const purged = key !== null ? await kept.store.delete(key) : await kept.store.deletePrefix(prefix!);
      return ok({ middleware: name, purged });
    } catch (err) {
      return adminError(503, "ERR_ADMIN_CACHE_STORE", `the cache store of "${name}" failed: ${(err as Error).message}; try again`);
    }
  },
};
