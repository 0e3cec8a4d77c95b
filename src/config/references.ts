/**
 * Checks that need the whole configuration: names that refer to other entries
 * (a router's service and middlewares) and listeners that would collide. The
 * schema checks each entry alone; this checks how they fit together.
 */
import type { ConfigIssue } from "../errors.js";
import type { PathIssue } from "./issues.js";
import { formatPath, type PathSegment } from "./path.js";
import { isRecord } from "./schema-walk.js";
import type { DivisorConfig } from "./schema.js";
import { didYouMean } from "./suggest.js";

/**
 * Problems between entries of a validated configuration, located by path only
 * (`file` is "<config>", line and column 0; the YAML loader fills them in).
 * A service that no router uses is fine.
 *
 * @example
 * checkReferences(config) // [{ path: "routers.web.service", message: 'unknown service "apii" (did you mean "api"?)', ... }]
 */
export function checkReferences(config: DivisorConfig): ConfigIssue[] {
  return referenceIssues(config).map((i) => ({ file: "<config>", line: 0, column: 0, path: formatPath(i.path), message: i.message }));
}

/**
 * The same checks on a document that may not have passed the schema yet, so they
 * can be reported together with schema problems; malformed parts are skipped.
 */
export function referenceIssues(input: unknown): PathIssue[] {
  if (!isRecord(input)) return [];
  const out: PathIssue[] = [];
  const services = isRecord(input.services) ? input.services : {};
  const middlewares = isRecord(input.middlewares) ? input.middlewares : {};
  checkRouters(input.routers, ["routers"], services, middlewares, out);
  if (isRecord(input.tenants)) {
    for (const [tenant, spec] of Object.entries(input.tenants)) {
      if (isRecord(spec)) checkRouters(spec.routers, ["tenants", tenant, "routers"], services, middlewares, out);
    }
  }
  checkListeners(input.listeners, out);
  if (Array.isArray(input.listeners)) {
    input.listeners.forEach((listener, i) => {
      if (!isRecord(listener) || !isRecord(listener.tcp) || typeof listener.tcp.service !== "string") return;
      const name = listener.tcp.service;
      if (Object.hasOwn(services, name)) return;
      out.push({ path: ["listeners", i, "tcp", "service"], target: "value", message: unknownName("service", name, services) });
    });
  }
  checkAccessSample(input, out);
  checkMiddlewareServices(middlewares, services, out);
  checkProviders(input, services, out);
  return out;
}

/** Providers have distinct names, and services' discovery names one of them. */
function checkProviders(input: Record<string, unknown>, services: Record<string, unknown>, out: PathIssue[]): void {
  const names: Record<string, number> = {};
  if (Array.isArray(input.providers)) {
    input.providers.forEach((entry, i) => {
      if (!isRecord(entry) || typeof entry.type !== "string") return;
      const name = typeof entry.name === "string" ? entry.name : entry.type;
      const first = names[name];
      if (first === undefined) {
        names[name] = i;
        return;
      }
      out.push({
        path: ["providers", i, ...(typeof entry.name === "string" ? ["name"] : [])],
        target: "value",
        message: `provider name ${JSON.stringify(name)} is already used by providers[${first}]; give each provider a distinct name`,
      });
    });
  }
  for (const [name, spec] of Object.entries(services)) {
    if (!isRecord(spec) || !isRecord(spec.discovery) || typeof spec.discovery.provider !== "string") continue;
    if (Object.hasOwn(names, spec.discovery.provider)) continue;
    out.push({ path: ["services", name, "discovery", "provider"], target: "value", message: unknownName("provider", spec.discovery.provider, names) });
  }
}

/** Middlewares that send to a service of their own (a mirror's shadow) name one that exists. */
function checkMiddlewareServices(middlewares: Record<string, unknown>, services: Record<string, unknown>, out: PathIssue[]): void {
  for (const [name, spec] of Object.entries(middlewares)) {
    if (isRecord(spec) && spec.type === "mirror" && typeof spec.service === "string" && !Object.hasOwn(services, spec.service)) {
      out.push({ path: ["middlewares", name, "service"], target: "value", message: unknownName("service", spec.service, services) });
    }
  }
}

/** Sampling rules of the access log name routers and tenants that exist. */
function checkAccessSample(input: Record<string, unknown>, out: PathIssue[]): void {
  const logging = input.logging;
  const access = isRecord(logging) ? logging.access : undefined;
  if (!isRecord(access) || !Array.isArray(access.sample)) return;
  const tenants = isRecord(input.tenants) ? input.tenants : {};
  // Tenants' routers are named "tenant/router", as the access log's router field says.
  const routers: Record<string, unknown> = { ...(isRecord(input.routers) ? input.routers : {}) };
  for (const [tenant, spec] of Object.entries(tenants)) {
    if (isRecord(spec) && isRecord(spec.routers)) for (const local of Object.keys(spec.routers)) routers[`${tenant}/${local}`] = spec.routers[local];
  }
  access.sample.forEach((rule, i) => {
    if (!isRecord(rule)) return;
    const check = (key: "routers" | "tenants", kind: string, defined: Record<string, unknown>) => {
      const names = rule[key];
      if (!Array.isArray(names)) return;
      names.forEach((name, j) => {
        if (typeof name === "string" && !Object.hasOwn(defined, name)) {
          out.push({ path: ["logging", "access", "sample", i, key, j], target: "value", message: unknownName(kind, name, defined) });
        }
      });
    };
    check("routers", "router", routers);
    check("tenants", "tenant", tenants);
  });
}

function unknownName(kind: string, name: string, defined: Record<string, unknown>): string {
  const names = Object.keys(defined);
  const head = `unknown ${kind} ${JSON.stringify(name)}`;
  const suggestion = didYouMean(name, names);
  if (suggestion !== undefined) return `${head} (did you mean ${JSON.stringify(suggestion)}?)`;
  if (names.length === 0) return `${head}; no ${kind}s are defined`;
  const shown = names.slice(0, 10).map((n) => JSON.stringify(n));
  return `${head}; defined ${kind}s: ${shown.join(", ")}${names.length > 10 ? ", ..." : ""}`;
}

function checkRouters(
  routers: unknown,
  base: PathSegment[],
  services: Record<string, unknown>,
  middlewares: Record<string, unknown>,
  out: PathIssue[],
): void {
  if (!isRecord(routers)) return;
  for (const [name, router] of Object.entries(routers)) {
    if (!isRecord(router)) continue;
    const path = [...base, name];
    const { service } = router;
    if (typeof service === "string" && !Object.hasOwn(services, service)) {
      out.push({ path: [...path, "service"], target: "value", message: unknownName("service", service, services) });
    }
    checkSplit(router.split, [...path, "split"], services, out);
    const used = Array.isArray(router.middlewares) ? router.middlewares : [];
    // A redirect, or a user plugin (which may answer every request itself), can stand in for a service.
    let answers = false;
    used.forEach((middleware, i) => {
      if (typeof middleware !== "string") return;
      if (!Object.hasOwn(middlewares, middleware)) {
        out.push({ path: [...path, "middlewares", i], target: "value", message: unknownName("middleware", middleware, middlewares) });
        return;
      }
      const spec = middlewares[middleware];
      if (isRecord(spec) && (spec.type === "redirect" || spec.type === "plugin")) answers = true;
    });
    if (service === undefined && router.split === undefined && !answers) {
      out.push({
        path: [...path, "service"],
        target: "parent",
        message: 'missing key "service": a router needs a service (or a split) unless one of its middlewares is a redirect or a plugin',
      });
    }
  }
}

/** The services a router's split names (by weight and in match rules) exist. */
function checkSplit(split: unknown, path: PathSegment[], services: Record<string, unknown>, out: PathIssue[]): void {
  if (!isRecord(split)) return;
  for (const key of ["services", "match"] as const) {
    const list = split[key];
    if (!Array.isArray(list)) continue;
    list.forEach((entry, i) => {
      if (isRecord(entry) && typeof entry.service === "string" && !Object.hasOwn(services, entry.service)) {
        out.push({ path: [...path, key, i, "service"], target: "value", message: unknownName("service", entry.service, services) });
      }
    });
  }
}

function checkListeners(listeners: unknown, out: PathIssue[]): void {
  if (!Array.isArray(listeners)) return;
  const seen = new Map<string, number>();
  listeners.forEach((listener, i) => {
    if (!isRecord(listener) || typeof listener.address !== "string") return;
    const address = listener.address.toLowerCase();
    // Port 0 asks the OS for a free port, so any number of listeners may use it.
    if (Number(address.slice(address.lastIndexOf(":") + 1)) === 0) return;
    const first = seen.get(address);
    if (first === undefined) {
      seen.set(address, i);
      return;
    }
    out.push({
      path: ["listeners", i, "address"],
      target: "value",
      message: `address ${JSON.stringify(listener.address)} is already used by listeners[${first}]`,
    });
  });
}
