import type { DivisorConfig } from "../../config/schema.js";
import { redactSecrets } from "../redact.js";
import { ok } from "../respond.js";
import { tenantMiddlewares, tenantServices } from "../scope.js";
import type { AdminPrincipal, AdminRoute } from "../types.js";

function pick<T>(record: Readonly<Record<string, T>>, names: ReadonlySet<string>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const name of Object.keys(record)) if (names.has(name)) out[name] = record[name]!;
  return out;
}

/** The whole configuration, or for a tenant token: its tenant and what its routers use. */
function visibleConfig(config: DivisorConfig, principal: AdminPrincipal): unknown {
  const tenant = principal.tenant;
  if (tenant === undefined) return config;
  return {
    tenant,
    tenants: pick(config.tenants, new Set([tenant])),
    services: pick(config.services, tenantServices(config, tenant)),
    middlewares: pick(config.middlewares, tenantMiddlewares(config, tenant)),
  };
}

/** GET /api/config: the configuration in force (defaults filled in), secrets redacted. */
export const config: AdminRoute = {
  method: "GET",
  path: "/api/config",
  description: "The configuration in force, with defaults filled in and secrets redacted; a tenant token gets its tenant, the services its routers use and the middlewares they run.",
  tenantScoped: true,
  handle: (req, gateway) => ok(redactSecrets(visibleConfig(gateway.config, req.principal))),
};
