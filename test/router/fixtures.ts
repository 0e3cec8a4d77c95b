/** Helpers for router tests: tables from config as a user writes it, and requests. */
import { z } from "zod";
import { routerSchema, tenantSchema } from "../../src/config/schema.js";
import { compileRouterTable, type RouteDefinition } from "../../src/router/compile.js";
import type { MatchRequest, RouterTable } from "../../src/router/table.js";

export type RouterInput = z.input<typeof routerSchema>;
export type TenantInput = z.input<typeof tenantSchema>;

/** Validates routers and tenants with the real schema and compiles them; each target is the router's name. */
export function buildTable(routers: Record<string, RouterInput>, tenants: Record<string, TenantInput> = {}): RouterTable<string> {
  const parsedTenants = z.record(z.string(), tenantSchema).parse(tenants);
  const defs: RouteDefinition<string>[] = Object.entries(routers).map(([name, r]) => ({ name, tenant: undefined, config: routerSchema.parse(r), target: name }));
  for (const [tenant, t] of Object.entries(parsedTenants)) {
    for (const [local, r] of Object.entries(t.routers)) defs.push({ name: `${tenant}/${local}`, tenant, config: r, target: `${tenant}/${local}` });
  }
  return compileRouterTable(defs, parsedTenants);
}

/** A request; header names are matched case-insensitively like the codec does. */
export function request(host: string, path: string, method = "GET", headers: Record<string, string> = {}): MatchRequest {
  const lower = new Map(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { host, path, method, header: (name) => lower.get(name) };
}

/** Name of the router that wins, or undefined. */
export function winner(table: RouterTable<string>, host: string, path: string, method = "GET", headers: Record<string, string> = {}): string | undefined {
  return table.match(request(host, path, method, headers))?.route.name;
}
