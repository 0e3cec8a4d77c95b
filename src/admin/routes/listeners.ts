import { ok } from "../respond.js";
import type { AdminRoute } from "../types.js";

/** GET /api/listeners: where the gateway accepts connections, and how busy each listener is. */
export const listeners: AdminRoute = {
  method: "GET",
  path: "/api/listeners",
  description: "Every listener: name, configured and bound address, protocol, open connections, connections accepted, requests in flight.",
  handle: (_req, gateway) => ok({ listeners: gateway.listeners() }),
};
