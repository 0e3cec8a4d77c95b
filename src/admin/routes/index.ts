/** Every admin endpoint; a new one is a file in this folder and a line here. */
import type { AdminRoute } from "../types.js";
import { healthz, readyz } from "./health.js";
import { getLogging, putLogging } from "./logging.js";
import { metrics } from "./metrics.js";

/** GET /api: the endpoints this admin API has, for people and scripts exploring it. */
const index: AdminRoute = {
  method: "GET",
  path: "/api",
  description: "This list of endpoints.",
  tenantScoped: true,
  handle: () => ({
    status: 200,
    body: {
      endpoints: ADMIN_ROUTES.map((r) => ({ method: r.method, path: r.path, description: r.description, writes: r.writes === true })),
    },
  }),
};

export const ADMIN_ROUTES: readonly AdminRoute[] = [index, healthz, readyz, metrics, getLogging, putLogging];
