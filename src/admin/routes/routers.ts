import type { SplitSnapshot } from "../../gateway/split-weights.js";
import { redactSecrets } from "../redact.js";
import { ok } from "../respond.js";
import type { AdminRoute } from "../types.js";

/** A split router's weights in force (null for a router without a split). */
function splitView(split: SplitSnapshot | undefined) {
  if (split === undefined) return null;
  return { services: split.services.map((s) => ({ service: s.service, weight: s.weight })), overridden: split.overridden };
}

/** GET /api/routers: the compiled router table in precedence order. */
export const routers: AdminRoute = {
  method: "GET",
  path: "/api/routers",
  description:
    "The compiled router table in precedence order (the order a request tries them): name, tenant, effective hosts, match, priority, middlewares, service, and for a split router its services with the weights in force.",
  tenantScoped: true,
  handle: (req, gateway) => {
    const tenant = req.principal.tenant;
    const splits = new Map(gateway.splits().map((s) => [s.router, s]));
    const rows = gateway
      .table()
      .routers.routes.map((r, i) => ({
        rank: i + 1,
        name: r.name,
        tenant: r.tenant ?? null,
        hosts: r.hosts.map((h) => h.text),
        match: r.config.match,
        priority: r.priority,
        middlewares: r.config.middlewares,
        service: r.config.service ?? null,
        split: splitView(splits.get(r.name)),
      }))
      .filter((r) => tenant === undefined || r.tenant === tenant);
    // Header conditions may compare secrets (an API key header): redacted like the config.
    return ok({ routers: redactSecrets(rows) });
  },
};
