/**
 * What the provider knows of the cluster at one moment, and the state a translation
 * builds from it: the services it resolved, the TLS Secrets it needs, the problems it
 * met. Translators are pure functions of a snapshot (tested without any API server).
 */
import { middlewareSchema, routerSchema } from "../../config/schema.js";
import type { BackendInput, ConfigFragment } from "../types.js";

/** A router as a provider writes it. */
export type RouterInput = NonNullable<ConfigFragment["routers"]>[string];
/** A router's path condition. */
export type PathInput = NonNullable<NonNullable<RouterInput["match"]>["path"]>;
/** A middleware as a provider writes it. */
export type MiddlewareInput = NonNullable<ConfigFragment["middlewares"]>[string];
import { backendsOf, findServicePort, serviceName } from "./endpoints.js";
import type { EndpointSlice, Gateway, GatewayClass, HTTPRoute, Ingress, IngressClass, Secret, Service, ServiceBackendPort } from "./objects.js";

export interface Snapshot {
  /** Services by `<namespace>/<name>`. */
  services: Map<string, Service>;
  /** EndpointSlices by the `<namespace>/<service>` they serve. */
  slices: Map<string, EndpointSlice[]>;
  /** Secrets by `<namespace>/<name>`. */
  secrets: Map<string, Secret>;
  ingresses: Ingress[];
  ingressClasses: IngressClass[];
  gatewayClasses: GatewayClass[];
  gateways: Gateway[];
  httpRoutes: HTTPRoute[];
}

export function emptySnapshot(): Snapshot {
  return { services: new Map(), slices: new Map(), secrets: new Map(), ingresses: [], ingressClasses: [], gatewayClasses: [], gateways: [], httpRoutes: [] };
}

export interface TranslateOptions {
  /** The provider's name: services it makes take their backends from it (`discovery.provider`). */
  provider: string;
  /** true: the pods of EndpointSlices; false: each Service's cluster IP. */
  endpointSlices: boolean;
  ingress: { enabled: boolean; class: string; controller: string };
  gatewayApi: { enabled: boolean; controllerName: string };
  /** Address written into Ingress and Gateway status (an IP or a host name). */
  statusAddress?: string;
  /** Time stamp of conditions (lastTransitionTime), ISO 8601. */
  now: string;
}

/** A TLS Secret a listener needs: served for `names` (empty: the certificate's own names). */
export interface TlsSecretUse {
  secret: string;
  names: string[];
}

/** Something the provider could not do with an object, for status, logs and metrics. */
export interface Problem {
  kind: string;
  object: string;
  message: string;
}

export type Resolved = { ok: true; service: string } | { ok: false; reason: "BackendNotFound" | "RefNotPermitted" | "InvalidKind"; message: string };

/** Builds one fragment; translators add to it. */
export class FragmentBuilder {
  readonly fragment: Required<Pick<ConfigFragment, "routers" | "services" | "middlewares" | "backends">>;
  readonly tls = new Map<string, TlsSecretUse>();
  readonly problems: Problem[] = [];

  constructor(
    readonly snapshot: Snapshot,
    readonly options: TranslateOptions,
  ) {
    this.fragment = { routers: {}, services: {}, middlewares: {}, backends: {} };
  }

  /**
   * The Divisor service for port `port` of Service `<namespace>/<name>`, made (with its
   * current backends) on first use. A Service with no endpoint yet is a valid answer:
   * its service answers 503 until one is ready.
   */
  service(namespace: string, name: string, port: ServiceBackendPort): Resolved {
    const svc = this.snapshot.services.get(`${namespace}/${name}`);
    if (svc === undefined) return { ok: false, reason: "BackendNotFound", message: `Service ${namespace}/${name} does not exist` };
    if (svc.spec?.type === "ExternalName") return { ok: false, reason: "InvalidKind", message: `Service ${namespace}/${name} is an ExternalName Service, which has no endpoints to balance` };
    const p = findServicePort(svc, port);
    if (p?.port === undefined) {
      const want = port.number ?? port.name ?? "(none given, and the Service has several)";
      return { ok: false, reason: "BackendNotFound", message: `Service ${namespace}/${name} has no port ${want}` };
    }
    const key = serviceName(namespace, name, p.port);
    if (this.fragment.backends[key] === undefined) {
      const clusterIp = svc.spec?.clusterIP;
      const backends: BackendInput[] = this.options.endpointSlices
        ? backendsOf(p, this.snapshot.slices.get(`${namespace}/${name}`) ?? [])
        : clusterIp === undefined || clusterIp === "None" || clusterIp === ""
          ? []
          : [{ address: clusterIp.includes(":") ? `[${clusterIp}]:${p.port}` : `${clusterIp}:${p.port}`, weight: 1 }];
      this.fragment.services[key] = { discovery: { provider: this.options.provider } };
      this.fragment.backends[key] = backends;
    }
    return { ok: true, service: key };
  }

  /** Serve the TLS Secret `<namespace>/<name>` for `names`; false (and why) when it is not a usable TLS Secret. */
  useTlsSecret(namespace: string, name: string, names: readonly string[]): string | undefined {
    const key = `${namespace}/${name}`;
    const secret = this.snapshot.secrets.get(key);
    if (secret === undefined) return `Secret ${key} does not exist (or the provider may not read it)`;
    if (secret.type !== undefined && secret.type !== "kubernetes.io/tls") return `Secret ${key} is of type ${secret.type}, not kubernetes.io/tls`;
    if (secret.data?.["tls.crt"] === undefined || secret.data["tls.key"] === undefined) return `Secret ${key} has no tls.crt and tls.key`;
    const use = this.tls.get(key);
    if (use === undefined) this.tls.set(key, { secret: key, names: [...names] });
    else for (const n of names) if (!use.names.includes(n)) use.names.push(n);
    return undefined;
  }

  /**
   * Add a router unless, on one of its hosts, an earlier one matches exactly the same
   * requests (the router table refuses such pairs): objects are translated oldest first,
   * so the oldest claim wins, as the Ingress and Gateway API specs ask. Hosts taken by an
   * earlier router are left out of this one; it is dropped when none is left.
   */
  claim(name: string, router: RouterInput, kind: string, object: string): boolean {
    const bad = invalidRouter(router);
    if (bad !== undefined) {
      this.problem(kind, object, `router ${name}: ${bad}; left out`);
      return false;
    }
    const m = router.match ?? {};
    const rest = JSON.stringify([m.path ?? null, [...(m.methods ?? [])].sort(), (m.headers ?? []).map((h) => JSON.stringify(h)).sort(), router.priority ?? 0]);
    const hosts = m.hosts === undefined ? ["*"] : m.hosts.map((h) => h.toLowerCase());
    const free = hosts.filter((h) => {
      const owner = this.claims.get(`${h}\n${rest}`);
      if (owner !== undefined) this.problem(kind, object, `router ${name}: host ${h === "*" ? "(any)" : h} with the same path and conditions is already routed by ${owner} (older); left out`);
      return owner === undefined;
    });
    if (free.length === 0) return false;
    for (const h of free) this.claims.set(`${h}\n${rest}`, name);
    if (m.hosts !== undefined) router.match = { ...m, hosts: free };
    this.fragment.routers[name] = router;
    return true;
  }

  private readonly claims = new Map<string, string>();

  problem(kind: string, object: string, message: string): void {
    this.problems.push({ kind, object, message });
  }
}

function firstIssue(r: { success: boolean; error?: { issues: { path: PropertyKey[]; message: string }[] } }): string | undefined {
  if (r.success) return undefined;
  const i = r.error!.issues[0]!;
  return `${i.path.map(String).join(".")}: ${i.message}`;
}

function badRegex(source: string | undefined): string | undefined {
  if (source === undefined) return undefined;
  try {
    new RegExp(source);
    return undefined;
  } catch (err) {
    return `regular expression ${JSON.stringify(source)}: ${(err as Error).message}`;
  }
}

/**
 * Why a router made from an object would not validate or compile (a host or header
 * name the schema refuses, a regular expression that does not compile), checked per
 * object: one bad object must not get the provider's whole fragment refused.
 */
export function invalidRouter(router: RouterInput): string | undefined {
  const m = router.match ?? {};
  const path = m.path as { regex?: string } | undefined;
  return (
    firstIssue(routerSchema.safeParse(router)) ??
    badRegex(path?.regex) ??
    (m.headers ?? []).map((h) => badRegex((h as { regex?: string }).regex)).find((x) => x !== undefined)
  );
}

/** Why a middleware made from an object would not validate (or its regex not compile). */
export function invalidMiddleware(mw: MiddlewareInput): string | undefined {
  return firstIssue(middlewareSchema.safeParse(mw)) ?? badRegex((mw as { regex?: string }).regex);
}
