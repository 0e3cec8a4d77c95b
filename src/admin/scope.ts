/**
 * Tenant scoping of the admin API: what a token scoped to one tenant may see and
 * change. Such a token sees its tenant's routers and hosts, the services those
 * routers use and the middlewares they run; everything else does not exist for it
 * (404, never "403: that is someone else's").
 */
import type { DivisorConfig } from "../config/schema.js";
import type { AdminPrincipal } from "./types.js";

/** Services the tenant's routers use, the services of their traffic splits included. */
export function tenantServices(config: DivisorConfig, tenant: string): Set<string> {
  const services = new Set<string>();
  for (const router of Object.values(config.tenants[tenant]?.routers ?? {})) {
    if (router.service !== undefined) services.add(router.service);
    for (const side of router.split?.services ?? []) services.add(side.service);
    for (const rule of router.split?.match ?? []) services.add(rule.service);
  }
  return services;
}

/** The router names the caller may see ("<tenant>/<router>" for a tenant's), top-level routers first. */
export function visibleRouters(config: DivisorConfig, principal: AdminPrincipal): string[] {
  const names: string[] = principal.tenant === undefined ? Object.keys(config.routers) : [];
  for (const [tenant, t] of Object.entries(config.tenants)) {
    if (principal.tenant === undefined || principal.tenant === tenant) for (const local of Object.keys(t.routers)) names.push(`${tenant}/${local}`);
  }
  return names;
}

/** Middlewares the tenant's routers run. */
export function tenantMiddlewares(config: DivisorConfig, tenant: string): Set<string> {
  const names = new Set<string>();
  for (const router of Object.values(config.tenants[tenant]?.routers ?? {})) for (const m of router.middlewares) names.add(m);
  return names;
}

/** The service names the caller may see, in configuration order. */
export function visibleServices(config: DivisorConfig, principal: AdminPrincipal): string[] {
  const all = Object.keys(config.services);
  if (principal.tenant === undefined) return all;
  const mine = tenantServices(config, principal.tenant);
  return all.filter((name) => mine.has(name));
}

/** Whether the caller may see (and, with a writing token, change) the service. */
export function mayUseService(config: DivisorConfig, principal: AdminPrincipal, service: string): boolean {
  if (!Object.hasOwn(config.services, service)) return false;
  return principal.tenant === undefined || tenantServices(config, principal.tenant).has(service);
}
