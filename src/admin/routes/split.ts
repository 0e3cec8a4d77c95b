import { didYouMeanSuffix } from "../../config/suggest.js";
import { type SplitSnapshot, SplitWeightsError, splitWeightsExample } from "../../gateway/split-weights.js";
import { adminError, ok } from "../respond.js";
import { visibleRouters } from "../scope.js";
import type { AdminGateway, AdminRequest, AdminResponse, AdminRoute } from "../types.js";

function view(s: SplitSnapshot) {
  return { router: s.router, tenant: s.tenant, services: s.services, overridden: s.overridden, overriddenAt: s.overriddenAt };
}

/**
 * Run `change` on the router named in the path, once the caller may see it: a router
 * of another tenant does not exist for a tenant token (404, never 403). The
 * gateway's refusals (no split, bad weights) come back with their own status and code.
 */
function onRouter(req: AdminRequest, gateway: AdminGateway, change: (router: string) => SplitSnapshot | AdminResponse): AdminResponse {
  const router = req.params.router!;
  const names = visibleRouters(gateway.config, req.principal);
  if (!names.includes(router)) {
    const hint = router.includes("/") ? "" : " (a tenant's router is <tenant>/<router>, URL-encoded: acme%2Fshop)";
    return adminError(404, "ERR_ADMIN_UNKNOWN_ROUTER", `no router "${router}"${didYouMeanSuffix(router, names)}${hint}; routers: ${names.join(", ") || "none"}`);
  }
  try {
    const result = change(router);
    return "status" in result ? result : ok(view(result));
  } catch (err) {
    if (err instanceof SplitWeightsError) return adminError(err.status, err.code, err.message);
    throw err;
  }
}

/** GET /api/routers/:router/split: the weights in force. */
export const getSplit: AdminRoute = {
  method: "GET",
  path: "/api/routers/:router/split",
  description:
    "A split router's services with the weight in force and the configured one, and whether the weights were set through this API (overridden, overriddenAt). Tenant routers are <tenant>/<router>, URL-encoded.",
  tenantScoped: true,
  handle: (req, gateway) => onRouter(req, gateway, (router) => gateway.split(router)),
};

/** PUT /api/routers/:router/split: other weights, at once (a blue/green flip). */
export const putSplit: AdminRoute = {
  method: "PUT",
  path: "/api/routers/:router/split",
  description:
    'Put other weights in force on a split router, with {"weights": {"blue": 0, "green": 100}} naming every service of the split (whole numbers, one above 0). The next request is chosen by them; requests in flight finish where they are; sticky users of a service at 0 move. Kept across reloads that leave the router\'s split in the configuration unchanged.',
  writes: true,
  tenantScoped: true,
  handle: (req, gateway) =>
    onRouter(req, gateway, (router) => {
      const example = `{"weights": ${splitWeightsExample(gateway.split(router).services.map((s) => s.service))}}`;
      let body: unknown;
      try {
        body = JSON.parse(req.body.toString("utf8"));
      } catch {
        return adminError(400, "ERR_ADMIN_BAD_BODY", `the body is ${req.body.length === 0 ? "empty" : "not JSON"}; expected a JSON body like ${example}`);
      }
      if (typeof body !== "object" || body === null || !("weights" in body)) {
        return adminError(400, "ERR_ADMIN_BAD_BODY", `the body has no "weights"; expected a JSON body like ${example}`);
      }
      return gateway.setSplitWeights(router, (body as { weights: Record<string, number> }).weights);
    }),
};

/** DELETE /api/routers/:router/split: the configuration's weights again. */
export const deleteSplit: AdminRoute = {
  method: "DELETE",
  path: "/api/routers/:router/split",
  description: "Put the configuration's weights back in force on a split router (after a PUT); a no-op when they are in force already.",
  writes: true,
  tenantScoped: true,
  handle: (req, gateway) => onRouter(req, gateway, (router) => gateway.clearSplitWeights(router)),
};
