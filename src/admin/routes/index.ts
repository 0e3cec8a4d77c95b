/** Every admin endpoint; a new one is a file in this folder and a line here. */
import type { AdminRoute } from "../types.js";
import { cachePurge } from "./cache.js";
import { config } from "./config.js";
import { healthz, readyz } from "./health.js";
import { listeners } from "./listeners.js";
import { getLogging, putLogging } from "./logging.js";
import { metrics } from "./metrics.js";
import { allocationProfile, cpuProfile, heapSnapshot } from "./profile.js";
import { providersRoute } from "./providers.js";
import { reloadRoute } from "./reload.js";
import { routers } from "./routers.js";
import { runtimeRoute } from "./runtime.js";
import { deleteSplit, getSplit, putSplit } from "./split.js";
import { backendState, service, services } from "./services.js";

/** GET /api: the endpoints this admin API has, for people and scripts exploring it. */
const index: AdminRoute = {
  method: "GET",
  path: "/api",
  description: "This list of endpoints.",
  tenantScoped: true,
  // A tenant token is shown the endpoints it may call.
  handle: (req) => ({
    status: 200,
    body: {
      endpoints: ADMIN_ROUTES.filter((r) => req.principal.tenant === undefined || r.tenantScoped === true || r.public === true).map((r) => ({
        method: r.method,
        path: r.path,
        description: r.description,
        writes: r.writes === true,
      })),
    },
  }),
};

export const ADMIN_ROUTES: readonly AdminRoute[] = [
  index,
  healthz,
  readyz,
  metrics,
  config,
  routers,
  getSplit,
  putSplit,
  deleteSplit,
  services,
  service,
  backendState,
  listeners,
  providersRoute,
  runtimeRoute,
  reloadRoute,
  cachePurge,
  getLogging,
  putLogging,
  cpuProfile,
  heapSnapshot,
  allocationProfile,
];
