/**
 * Builds the router table from validated configuration, rejecting what the schema
 * cannot see: invalid regexes and patterns, tenant routers reaching outside their
 * tenant's hosts, two tenants claiming the same host, and routers that match
 * exactly the same requests with the same priority.
 */
import type { DivisorConfig, RouterConfig, TenantConfig } from "../config/schema.js";
import { ConfigError, type ConfigIssue } from "../errors.js";
import { compileHeaders } from "./conditions.js";
import { type HostPattern, hostCovers, parseHostPattern } from "./host.js";
import { compilePath } from "./path.js";
import { Route } from "./route.js";
import { RouterTable } from "./table.js";

/** One router to put in the table. */
export interface RouteDefinition<T> {
  /** Router name; tenant routers are named "<tenant>/<router>". */
  name: string;
  tenant: string | undefined;
  /** As validated by the schema. */
  config: RouterConfig;
  /** Opaque payload for the engine (its compiled pipeline). */
  target: T;
}

type Report = (path: string, message: string) => void;

const ANY_HOST = [parseHostPattern("*")];

/**
 * Builds the immutable table. Throws `ConfigError` listing every problem, each with
 * its path in the document (e.g. "routers.api.match.path.regex"), file "<config>"
 * and line 0: the config loader maps paths to lines.
 *
 * @example
 * const table = compileRouterTable(routeDefinitions(config, (name) => pipelines.get(name)!), config.tenants);
 * table.match({ host: "api.example.com", path: "/v1/users", method: "GET", header: () => undefined });
 */
export function compileRouterTable<T>(routes: RouteDefinition<T>[], tenants: Record<string, TenantConfig>): RouterTable<T> {
  const issues: ConfigIssue[] = [];
  const report: Report = (path, message) => issues.push({ file: "<config>", line: 0, column: 0, path, message });
  const tenantHosts = compileTenants(tenants, report);
  const compiled: Route<T>[] = [];
  const where = new Map<Route<T>, string>();
  const names = new Set<string>();
  for (const def of routes) {
    const path = documentPath(def);
    if (names.has(def.name)) report(path, `router name "${def.name}" is used twice`);
    names.add(def.name);
    const before = issues.length;
    const route = compileRoute(def, path, tenantHosts, report);
    compiled.push(route);
    // A router with its own problems is left out of the ambiguity check: its match is not what was meant.
    if (issues.length === before) where.set(route, path);
  }
  findAmbiguities([...where.keys()], where, report);
  if (issues.length > 0) throw new ConfigError(issues);
  return new RouterTable(compiled);
}

/**
 * Definitions for every router of a validated config: top-level routers, then each
 * tenant's routers (named "<tenant>/<router>"), each with a target from `makeTarget`.
 */
export function routeDefinitions<T>(config: DivisorConfig, makeTarget: (name: string, tenant: string | undefined, router: RouterConfig) => T): RouteDefinition<T>[] {
  const defs: RouteDefinition<T>[] = [];
  for (const [name, router] of Object.entries(config.routers)) {
    defs.push({ name, tenant: undefined, config: router, target: makeTarget(name, undefined, router) });
  }
  for (const [tenant, t] of Object.entries(config.tenants)) {
    for (const [local, router] of Object.entries(t.routers)) {
      const name = `${tenant}/${local}`;
      defs.push({ name, tenant, config: router, target: makeTarget(name, tenant, router) });
    }
  }
  return defs;
}

/** "routers.api" or "tenants.acme.routers.api". */
function documentPath(def: RouteDefinition<unknown>): string {
  if (def.tenant === undefined) return `routers.${def.name}`;
  const prefix = `${def.tenant}/`;
  const local = def.name.startsWith(prefix) ? def.name.slice(prefix.length) : def.name;
  return `tenants.${def.tenant}.routers.${local}`;
}

/** Each tenant's hosts; the same host pattern in two tenants is an error. */
function compileTenants(tenants: Record<string, TenantConfig>, report: Report): Map<string, HostPattern[]> {
  const owners = new Map<string, string>();
  const out = new Map<string, HostPattern[]>();
  for (const [tenant, config] of Object.entries(tenants)) {
    const hosts = uniqueHosts(config.hosts);
    hosts.forEach((h, i) => {
      const owner = owners.get(h.text);
      if (owner === undefined) owners.set(h.text, tenant);
      else report(`tenants.${tenant}.hosts[${i}]`, `host "${h.text}" already belongs to tenant "${owner}"; a host belongs to one tenant`);
    });
    out.set(tenant, hosts);
  }
  return out;
}

function uniqueHosts(patterns: readonly string[]): HostPattern[] {
  const seen = new Map<string, HostPattern>();
  for (const p of patterns) {
    const h = parseHostPattern(p);
    if (!seen.has(h.text)) seen.set(h.text, h);
  }
  return [...seen.values()];
}

function compileRoute<T>(def: RouteDefinition<T>, path: string, tenantHosts: Map<string, HostPattern[]>, report: Report): Route<T> {
  const match = def.config.match ?? {};
  let scope: HostPattern[] | undefined;
  if (def.tenant !== undefined) {
    scope = tenantHosts.get(def.tenant);
    if (scope === undefined) report(path, `tenant "${def.tenant}" is not defined`);
  }
  let hosts = scope ?? ANY_HOST;
  if (match.hosts !== undefined) {
    if (match.hosts.length === 0) report(`${path}.match.hosts`, "lists no host; leave hosts out to match any host (or the tenant's)");
    hosts = uniqueHosts(match.hosts);
    if (scope !== undefined) {
      const tenantScope = scope;
      match.hosts.forEach((text, i) => {
        const h = parseHostPattern(text);
        if (!tenantScope.some((t) => hostCovers(t, h))) {
          report(`${path}.match.hosts[${i}]`, `"${h.text}" is outside the hosts of tenant "${def.tenant}" (${tenantScope.map((t) => t.text).join(", ")})`);
        }
      });
    }
  }
  const compiledPath = compilePath(match.path, (key, message) => report(`${path}.match.path.${key}`, message));
  let methods: string[] | null = null;
  if (match.methods !== undefined) {
    if (match.methods.length === 0) report(`${path}.match.methods`, "lists no method; leave methods out to match any method");
    methods = [...new Set(match.methods)];
  }
  const headers = compileHeaders(match.headers, (i, message) => report(`${path}.match.headers[${i}].regex`, message));
  return new Route(def.name, def.tenant, def.target, def.config, hosts, compiledPath, methods, headers);
}

/** Two routers with the same host pattern, path, methods, headers and priority can never be told apart. */
function findAmbiguities<T>(routes: readonly Route<T>[], where: Map<Route<T>, string>, report: Report): void {
  const seen = new Map<string, Route<T>>();
  for (const r of routes) {
    const reported = new Set<Route<T>>();
    const methods = r.methods === null ? "*" : [...r.methods].sort().join(",");
    const headers = (r.headers ?? []).map((h) => JSON.stringify([h.name, h.kind, h.value, h.present])).sort().join(",");
    for (const h of r.hosts) {
      const key = [h.text, r.priority, r.path.canonical, methods, headers].join("\n");
      const other = seen.get(key);
      if (other === undefined) seen.set(key, r);
      else if (other !== r && !reported.has(other)) {
        reported.add(other);
        report(
          `${where.get(r)}.match`,
          `matches exactly the same requests as router "${other.name}" (host ${h.text}, path ${r.path.kind === "none" ? "any" : r.path.value}) with the same priority; give one a priority or change its match`,
        );
      }
    }
  }
}
