import { ok } from "../respond.js";
import type { AdminRoute } from "../types.js";

/** GET /api/providers: every provider's state, counts and last error. */
export const providersRoute: AdminRoute = {
  method: "GET",
  path: "/api/providers",
  description: "Every provider (providers:) in order: type, state (starting, ok, refused, failed), last error, last success, updates accepted and refused, source failures, and what its fragment in force holds.",
  handle: (_req, gateway) => ok({ providers: gateway.providers() }),
};
