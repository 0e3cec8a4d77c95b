/**
 * Gateway API (gateway.networking.k8s.io/v1) → routers, splits and middlewares, and
 * the status each object gets back.
 *
 * A GatewayClass is ours when its controllerName is ours; a Gateway when its class is;
 * an HTTPRoute attaches to the listeners of our Gateways that its parentRefs name and
 * that allow it (allowedRoutes.namespaces: Same by default, or All). The gateway's
 * listeners (addresses, ports) come from Divisor's own configuration: a Gateway's
 * listeners select hostnames, protocols and certificates, they do not open ports.
 *
 * Anything the translation cannot honour is reported in the object's status (a False
 * condition whose message names the field), and that rule or route is not served:
 * never served half-right in silence.
 */
import { EXTENSION_GROUP, middlewaresAnnotation } from "./annotations.js";
import { byAge, condition, keyOf, type Condition, type Gateway, type GatewayListener, type HTTPRouteFilter, type HTTPRouteMatch, type HTTPPathModifier, type ParentRef } from "./objects.js";
import { type FragmentBuilder, invalidMiddleware, invalidRouter, type MiddlewareInput, type PathInput, type RouterInput } from "./snapshot.js";

const GROUP = "gateway.networking.k8s.io";

/** A status to write back: the object (kind, namespace, name) and its whole new `status`. */
export interface StatusUpdate {
  kind: "GatewayClass" | "Gateway" | "HTTPRoute" | "Ingress";
  namespace: string | undefined;
  name: string;
  status: Record<string, unknown>;
}

function regexEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A replacement string taken literally by String.prototype.replace. */
function literal(s: string): string {
  return s.replace(/\$/g, "$$$$");
}

function trimSlash(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, "") || "/" : p;
}

/** Whether `host` (exact or "*.x") falls within listener hostname `listener`; the narrower of the two, or undefined. */
function intersect(route: string, listener: string | undefined): string | undefined {
  if (listener === undefined || listener === "") return route;
  if (route === listener) return route;
  const within = (name: string, wildcard: string): boolean => wildcard.startsWith("*.") && name.endsWith(wildcard.slice(1)) && name.length > wildcard.length - 1;
  if (within(route, listener)) return route;
  if (within(listener, route)) return listener;
  return undefined;
}

interface Attachment {
  gateway: Gateway;
  listeners: GatewayListener[];
}

interface RouteParentStatus {
  parentRef: ParentRef;
  controllerName: string;
  conditions: Condition[];
}

function listenerAllows(gw: Gateway, l: GatewayListener, routeNs: string): boolean {
  if (l.protocol !== "HTTP" && l.protocol !== "HTTPS") return false;
  const from = l.allowedRoutes?.namespaces?.from ?? "Same";
  return from === "All" || (from === "Same" && routeNs === (gw.metadata?.namespace ?? "default"));
}

/** Filters → middlewares (named `<router>.f<i>`); an error message when one cannot be honoured. */
function filterMiddlewares(filters: readonly HTTPRouteFilter[], match: HTTPRouteMatch, router: string, out: Record<string, MiddlewareInput>): string[] | string {
  const names: string[] = [];
  const prefix = match.path?.type === undefined || match.path.type === "PathPrefix" ? trimSlash(match.path?.value ?? "/") : undefined;
  const pathRewrite = (mod: HTTPPathModifier, onQuery: boolean): { regex: string; replacement: string } | string => {
    if (mod.type === "ReplaceFullPath") return { regex: onQuery ? "^[^?]*" : "^.*$", replacement: literal(mod.replaceFullPath ?? "/") };
    if (mod.type === "ReplacePrefixMatch") {
      if (prefix === undefined) return "ReplacePrefixMatch needs a PathPrefix match";
      const to = trimSlash(mod.replacePrefixMatch ?? "/");
      if (prefix === "/") return { regex: "^/", replacement: literal(to === "/" ? "/" : `${to}/`) };
      if (to === "/") return { regex: `^${regexEscape(prefix)}/?`, replacement: "/" };
      return { regex: `^${regexEscape(prefix)}`, replacement: literal(to) };
    }
    return `path modifier type ${mod.type} is not supported`;
  };
  for (const [i, f] of filters.entries()) {
    const name = `${router}.f${i}`;
    let mw: MiddlewareInput;
    switch (f.type) {
      case "RequestHeaderModifier":
      case "ResponseHeaderModifier": {
        const m = f.type === "RequestHeaderModifier" ? f.requestHeaderModifier : f.responseHeaderModifier;
        const ops: { set?: Record<string, string>; add?: Record<string, string>; remove?: string[] } = {};
        if (m?.set !== undefined) ops.set = Object.fromEntries(m.set.map((h) => [h.name ?? "", h.value ?? ""]));
        if (m?.add !== undefined) ops.add = Object.fromEntries(m.add.map((h) => [h.name ?? "", h.value ?? ""]));
        if (m?.remove !== undefined) ops.remove = [...m.remove];
        mw = f.type === "RequestHeaderModifier" ? { type: "headers", request: ops } : { type: "headers", response: ops };
        break;
      }
      case "RequestRedirect": {
        const r = f.requestRedirect ?? {};
        if (r.port !== undefined && r.hostname === undefined) return "RequestRedirect.port without hostname is not supported (give hostname too)";
        const status = r.statusCode ?? 302;
        if (status !== 301 && status !== 302 && status !== 303 && status !== 307 && status !== 308) return `RequestRedirect.statusCode ${status} is not supported (301, 302, 303, 307, 308)`;
        // Divisor's routers serve every listener alike, so a scheme redirect attached to the HTTP listener would answer on HTTPS too, in a loop.
        if (r.scheme !== undefined) return "RequestRedirect.scheme is not supported (routes are not told apart by listener, so it would also answer on HTTPS); set redirectToHttps on Divisor's plain-HTTP listener instead";
        const redirect: MiddlewareInput = { type: "redirect", status };
        if (r.hostname !== undefined) redirect.host = r.port === undefined || r.port === 80 ? r.hostname : `${r.hostname}:${r.port}`;
        if (r.path !== undefined) {
          const rw = pathRewrite(r.path, true);
          if (typeof rw === "string") return `RequestRedirect.path: ${rw}`;
          redirect.regex = rw.regex;
          redirect.replacement = rw.replacement;
        }
        mw = redirect;
        break;
      }
      case "URLRewrite": {
        const u = f.urlRewrite ?? {};
        if (u.hostname !== undefined) {
          out[`${name}.host`] = { type: "headers", request: { set: { host: u.hostname } } };
          names.push(`${name}.host`);
        }
        if (u.path === undefined) continue;
        const rw = pathRewrite(u.path, false);
        if (typeof rw === "string") return `URLRewrite.path: ${rw}`;
        mw = u.path.type === "ReplacePrefixMatch" && rw.replacement === "/" && prefix !== "/" ? { type: "strip-prefix", prefixes: [prefix!] } : { type: "rewrite-path", ...rw };
        break;
      }
      case "ExtensionRef": {
        const e = f.extensionRef ?? {};
        if (e.group !== EXTENSION_GROUP || e.kind !== "Middleware" || e.name === undefined) return `ExtensionRef ${e.group}/${e.kind} is not supported (only group ${EXTENSION_GROUP}, kind Middleware, naming a middleware of the gateway's configuration)`;
        names.push(e.name);
        continue;
      }
      default:
        return `filter type ${f.type} is not supported (RequestHeaderModifier, ResponseHeaderModifier, RequestRedirect, URLRewrite, ExtensionRef)`;
    }
    const bad = invalidMiddleware(mw);
    if (bad !== undefined) return `filters[${i}] (${f.type}): ${bad}`;
    out[name] = mw;
    names.push(name);
  }
  return names;
}

function matchOf(m: HTTPRouteMatch): RouterInput["match"] | string {
  const out: NonNullable<RouterInput["match"]> = {};
  const type = m.path?.type ?? "PathPrefix";
  const value = m.path?.value ?? "/";
  let path: PathInput;
  if (type === "Exact") path = { exact: value };
  else if (type === "PathPrefix") path = { prefix: trimSlash(value) };
  else if (type === "RegularExpression") path = { regex: value };
  else return `path match type ${type} is not supported`;
  out.path = path;
  if (m.method !== undefined) out.methods = [m.method];
  if (m.headers !== undefined && m.headers.length > 0) {
    const headers: NonNullable<NonNullable<RouterInput["match"]>["headers"]> = [];
    for (const h of m.headers) {
      if ((h.type ?? "Exact") === "Exact") headers.push({ name: h.name ?? "", value: h.value ?? "" });
      else if (h.type === "RegularExpression") headers.push({ name: h.name ?? "", regex: h.value ?? "" });
      else return `header match type ${h.type} is not supported`;
    }
    out.headers = headers;
  }
  if (m.queryParams !== undefined && m.queryParams.length > 0) return "queryParams matches are not supported (Divisor routers match host, path, method and headers)";
  return out;
}

/** Translate our Gateways and the HTTPRoutes attached to them; returns the statuses to write. */
export function translateGatewayApi(b: FragmentBuilder): StatusUpdate[] {
  const { snapshot, options } = b;
  const now = options.now;
  const controller = options.gatewayApi.controllerName;
  const statuses: StatusUpdate[] = [];
  const ourClasses = new Set<string>();
  for (const gc of snapshot.gatewayClasses) {
    if (gc.spec?.controllerName !== controller || gc.metadata?.name === undefined) continue;
    ourClasses.add(gc.metadata.name);
    statuses.push({
      kind: "GatewayClass",
      namespace: undefined,
      name: gc.metadata.name,
      status: { conditions: [condition("Accepted", true, "Accepted", `handled by ${controller}`, gc.metadata.generation, now)] },
    });
  }
  const gateways = byAge(snapshot.gateways.filter((g) => ourClasses.has(g.spec?.gatewayClassName ?? "")));
  const attached = new Map<Gateway, Map<string, number>>(gateways.map((g) => [g, new Map()]));
  const listenerProblems = new Map<Gateway, Map<string, { reason: string; message: string; kind: "Accepted" | "ResolvedRefs" }>>();

  for (const gw of gateways) {
    const problems = new Map<string, { reason: string; message: string; kind: "Accepted" | "ResolvedRefs" }>();
    listenerProblems.set(gw, problems);
    const ns = gw.metadata?.namespace ?? "default";
    for (const l of gw.spec?.listeners ?? []) {
      const lname = l.name ?? "";
      if (l.protocol !== "HTTP" && l.protocol !== "HTTPS") {
        problems.set(lname, { kind: "Accepted", reason: "UnsupportedProtocol", message: `protocol ${l.protocol} is not supported (HTTP, HTTPS)` });
        continue;
      }
      if (l.protocol !== "HTTPS") continue;
      if ((l.tls?.mode ?? "Terminate") !== "Terminate") {
        problems.set(lname, { kind: "Accepted", reason: "UnsupportedValue", message: `tls.mode ${l.tls?.mode} is not supported (Terminate)` });
        continue;
      }
      for (const ref of l.tls?.certificateRefs ?? []) {
        if ((ref.kind ?? "Secret") !== "Secret" || (ref.group ?? "") !== "") {
          problems.set(lname, { kind: "ResolvedRefs", reason: "InvalidCertificateRef", message: `certificateRef ${ref.group ?? ""}/${ref.kind} is not a Secret` });
          continue;
        }
        if (ref.namespace !== undefined && ref.namespace !== ns) {
          problems.set(lname, { kind: "ResolvedRefs", reason: "RefNotPermitted", message: `certificateRef to namespace ${ref.namespace}: ReferenceGrants are not supported; put the Secret in ${ns}` });
          continue;
        }
        const err = b.useTlsSecret(ns, ref.name ?? "", l.hostname === undefined ? [] : [l.hostname]);
        if (err !== undefined) problems.set(lname, { kind: "ResolvedRefs", reason: "InvalidCertificateRef", message: err });
      }
    }
  }

  for (const route of byAge(snapshot.httpRoutes)) {
    const ns = route.metadata?.namespace ?? "default";
    const rname = route.metadata?.name ?? "";
    const where = keyOf(route);
    const parents: RouteParentStatus[] = [];
    const attachments: Attachment[] = [];
    for (const ref of route.spec?.parentRefs ?? []) {
      if ((ref.group ?? GROUP) !== GROUP || (ref.kind ?? "Gateway") !== "Gateway") continue;
      const gw = gateways.find((g) => g.metadata?.name === ref.name && (g.metadata?.namespace ?? "default") === (ref.namespace ?? ns));
      if (gw === undefined) continue; // not ours: another controller writes that parent's status
      const listeners = (gw.spec?.listeners ?? []).filter(
        (l) => (ref.sectionName === undefined || l.name === ref.sectionName) && (ref.port === undefined || l.port === ref.port) && !listenerProblems.get(gw)?.has(l.name ?? "") && listenerAllows(gw, l, ns),
      );
      const status: RouteParentStatus = { parentRef: ref, controllerName: controller, conditions: [] };
      parents.push(status);
      if (listeners.length === 0) {
        status.conditions.push(condition("Accepted", false, "NotAllowedByListeners", "no listener of the Gateway matches this parentRef and allows routes from this namespace", route.metadata?.generation, now));
        continue;
      }
      attachments.push({ gateway: gw, listeners });
    }
    if (parents.length === 0) continue;

    // Hostnames: each route hostname narrowed by each attached listener's.
    const hosts = new Set<string>();
    let anyHost = false;
    for (const a of attachments) {
      for (const l of a.listeners) {
        const routeHosts = route.spec?.hostnames ?? [];
        if (routeHosts.length === 0) {
          if (l.hostname === undefined || l.hostname === "") anyHost = true;
          else hosts.add(l.hostname);
        } else for (const h of routeHosts) {
          const i = intersect(h.toLowerCase(), l.hostname?.toLowerCase());
          if (i !== undefined) hosts.add(i);
        }
      }
    }
    const accepted = attachments.length > 0 && (anyHost || hosts.size > 0);
    let unsupported: string | undefined;
    let unresolved: { reason: string; message: string } | undefined;
    const annotation = middlewaresAnnotation(route.metadata?.annotations);
    if (typeof annotation === "string") unsupported = annotation;
    const routers: [string, RouterInput][] = [];
    const middlewares: Record<string, MiddlewareInput> = {};
    const middlewareNames = typeof annotation === "string" ? [] : annotation;
    if (accepted && unsupported === undefined) {
      rules: for (const [ri, rule] of (route.spec?.rules ?? []).entries()) {
        if (rule.timeouts !== undefined) {
          unsupported = `rules[${ri}].timeouts are not supported (set the service's timeouts in Divisor's configuration)`;
          break;
        }
        const split: { service: string; weight: number }[] = [];
        for (const [bi, ref] of (rule.backendRefs ?? []).entries()) {
          if (ref.filters !== undefined && ref.filters.length > 0) {
            unsupported = `rules[${ri}].backendRefs[${bi}].filters are not supported (put filters on the rule)`;
            break rules;
          }
          if ((ref.group ?? "") !== "" || (ref.kind ?? "Service") !== "Service") {
            unresolved = { reason: "InvalidKind", message: `rules[${ri}].backendRefs[${bi}]: ${ref.group ?? ""}/${ref.kind} is not a Service` };
            continue;
          }
          if (ref.namespace !== undefined && ref.namespace !== ns) {
            unresolved = { reason: "RefNotPermitted", message: `rules[${ri}].backendRefs[${bi}]: namespace ${ref.namespace}: ReferenceGrants are not supported` };
            continue;
          }
          const r = b.service(ns, ref.name ?? "", { number: ref.port });
          if (!r.ok) {
            unresolved = { reason: r.reason, message: `rules[${ri}].backendRefs[${bi}]: ${r.message}` };
            continue;
          }
          const existing = split.find((s) => s.service === r.service);
          if (existing !== undefined) existing.weight += ref.weight ?? 1;
          else split.push({ service: r.service, weight: ref.weight ?? 1 });
        }
        const hasRedirect = (rule.filters ?? []).some((f) => f.type === "RequestRedirect");
        if (!hasRedirect && (split.length === 0 || split.every((s) => s.weight === 0))) continue; // the spec wants a 500 here; the router table's 404 is what we can give: reported in ResolvedRefs
        for (const [mi, m] of (rule.matches ?? [{}]).entries()) {
          const match = matchOf(m);
          if (typeof match === "string") {
            unsupported = `rules[${ri}].matches[${mi}]: ${match}`;
            break rules;
          }
          const name = `k8s.httproute.${ns}.${rname}.${ri}.${mi}`;
          const mws = filterMiddlewares(rule.filters ?? [], m, name, middlewares);
          if (typeof mws === "string") {
            unsupported = `rules[${ri}].filters: ${mws}`;
            break rules;
          }
          if (!anyHost) match!.hosts = [...hosts].sort();
          const router: RouterInput = { match, middlewares: [...middlewareNames, ...mws] };
          if (!hasRedirect) {
            const live = split.filter((s) => s.weight > 0);
            if (live.length === 1) router.service = live[0]!.service;
            else router.split = { services: split };
          }
          const bad = invalidRouter(router);
          if (bad !== undefined) {
            unsupported = `rules[${ri}].matches[${mi}]: ${bad}`;
            break rules;
          }
          routers.push([name, router]);
        }
      }
    }
    if (unsupported !== undefined) b.problem("HTTPRoute", where, unsupported);
    else {
      let served = false;
      for (const [name, router] of routers) {
        if (!b.claim(name, router, "HTTPRoute", where)) continue;
        served = true;
        for (const mw of router.middlewares ?? []) if (middlewares[mw] !== undefined) b.fragment.middlewares[mw] = middlewares[mw];
      }
      if (served) for (const a of attachments) for (const l of a.listeners) attached.get(a.gateway)!.set(l.name ?? "", (attached.get(a.gateway)!.get(l.name ?? "") ?? 0) + 1);
    }
    if (unresolved !== undefined) b.problem("HTTPRoute", where, unresolved.message);
    const gen = route.metadata?.generation;
    for (const p of parents) {
      if (p.conditions.length > 0) continue;
      if (!accepted) p.conditions.push(condition("Accepted", false, "NoMatchingListenerHostname", "no hostname of the route falls within the listeners' hostnames", gen, now));
      else if (unsupported !== undefined) p.conditions.push(condition("Accepted", false, "UnsupportedValue", unsupported, gen, now));
      else p.conditions.push(condition("Accepted", true, "Accepted", "the route is served", gen, now));
      p.conditions.push(unresolved === undefined ? condition("ResolvedRefs", true, "ResolvedRefs", "all references resolved", gen, now) : condition("ResolvedRefs", false, unresolved.reason, unresolved.message, gen, now));
    }
    statuses.push({ kind: "HTTPRoute", namespace: ns, name: rname, status: { parents } });
  }

  for (const gw of gateways) {
    const gen = gw.metadata?.generation;
    const problems = listenerProblems.get(gw)!;
    const listeners = (gw.spec?.listeners ?? []).map((l) => {
      const p = problems.get(l.name ?? "");
      const conditions = [
        condition("Accepted", p?.kind !== "Accepted", p?.kind === "Accepted" ? p.reason : "Accepted", p?.kind === "Accepted" ? p.message : "listener accepted", gen, now),
        condition("ResolvedRefs", p?.kind !== "ResolvedRefs", p?.kind === "ResolvedRefs" ? p.reason : "ResolvedRefs", p?.kind === "ResolvedRefs" ? p.message : "all references resolved", gen, now),
        condition("Programmed", p === undefined, p === undefined ? "Programmed" : "Invalid", p === undefined ? "served by the gateway's listeners" : p.message, gen, now),
      ];
      return { name: l.name ?? "", supportedKinds: p?.reason === "UnsupportedProtocol" ? [] : [{ group: GROUP, kind: "HTTPRoute" }], attachedRoutes: attached.get(gw)!.get(l.name ?? "") ?? 0, conditions };
    });
    const programmed = listeners.some((l) => l.conditions[2]!.status === "True");
    const status: Record<string, unknown> = {
      conditions: [
        condition("Accepted", true, "Accepted", `handled by ${controller}`, gen, now),
        condition("Programmed", programmed, programmed ? "Programmed" : "Invalid", programmed ? "routes are served" : "no listener could be programmed", gen, now),
      ],
      listeners,
    };
    if (options.statusAddress !== undefined) status.addresses = [{ type: /^[0-9.]+$|:/.test(options.statusAddress) ? "IPAddress" : "Hostname", value: options.statusAddress }];
    statuses.push({ kind: "Gateway", namespace: gw.metadata?.namespace ?? "default", name: gw.metadata?.name ?? "", status });
  }
  return statuses;
}
