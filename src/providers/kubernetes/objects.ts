/**
 * The parts of Kubernetes objects the provider reads, as the API serves them (JSON),
 * after https://kubernetes.io/docs/reference/kubernetes-api/ and the Gateway API
 * reference (gateway.networking.k8s.io/v1). Everything is optional: an object from the
 * API server is data to check, never trusted to be complete.
 */

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface ServicePort {
  name?: string;
  port?: number;
  targetPort?: number | string;
  protocol?: string;
}

export interface Service extends KubeObject {
  spec?: { type?: string; clusterIP?: string; ports?: ServicePort[]; externalName?: string };
}

export interface EndpointSlice extends KubeObject {
  addressType?: "IPv4" | "IPv6" | "FQDN";
  ports?: { name?: string; port?: number; protocol?: string }[] | null;
  endpoints?: {
    addresses?: string[];
    conditions?: { ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null };
  }[];
}

export interface Secret extends KubeObject {
  type?: string;
  data?: Record<string, string>;
}

export interface ServiceBackendPort {
  number?: number;
  name?: string;
}

export interface IngressBackend {
  service?: { name?: string; port?: ServiceBackendPort };
  resource?: unknown;
}

export interface Ingress extends KubeObject {
  spec?: {
    ingressClassName?: string;
    defaultBackend?: IngressBackend;
    tls?: { hosts?: string[]; secretName?: string }[];
    rules?: {
      host?: string;
      http?: { paths?: { path?: string; pathType?: string; backend?: IngressBackend }[] };
    }[];
  };
}

export interface IngressClass extends KubeObject {
  spec?: { controller?: string };
}

export interface Condition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export interface GatewayClass extends KubeObject {
  spec?: { controllerName?: string };
}

export interface GatewayListener {
  name?: string;
  hostname?: string;
  port?: number;
  protocol?: string;
  tls?: { mode?: string; certificateRefs?: { group?: string; kind?: string; name?: string; namespace?: string }[] };
  allowedRoutes?: { namespaces?: { from?: "Same" | "All" | "Selector" } };
}

export interface Gateway extends KubeObject {
  spec?: { gatewayClassName?: string; listeners?: GatewayListener[] };
}

export interface ParentRef {
  group?: string;
  kind?: string;
  namespace?: string;
  name?: string;
  sectionName?: string;
  port?: number;
}

export interface HTTPHeader {
  name?: string;
  value?: string;
}

export interface HTTPPathModifier {
  type?: "ReplaceFullPath" | "ReplacePrefixMatch";
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface HTTPRouteFilter {
  type?: string;
  requestHeaderModifier?: { set?: HTTPHeader[]; add?: HTTPHeader[]; remove?: string[] };
  responseHeaderModifier?: { set?: HTTPHeader[]; add?: HTTPHeader[]; remove?: string[] };
  requestRedirect?: { scheme?: string; hostname?: string; path?: HTTPPathModifier; port?: number; statusCode?: number };
  urlRewrite?: { hostname?: string; path?: HTTPPathModifier };
  extensionRef?: { group?: string; kind?: string; name?: string };
}

export interface HTTPRouteMatch {
  path?: { type?: string; value?: string };
  headers?: { type?: string; name?: string; value?: string }[];
  queryParams?: unknown[];
  method?: string;
}

export interface HTTPRoute extends KubeObject {
  spec?: {
    parentRefs?: ParentRef[];
    hostnames?: string[];
    rules?: {
      matches?: HTTPRouteMatch[];
      filters?: HTTPRouteFilter[];
      backendRefs?: { group?: string; kind?: string; name?: string; namespace?: string; port?: number; weight?: number; filters?: unknown[] }[];
      timeouts?: unknown;
    }[];
  };
}

/** `<namespace>/<name>` of an object (cluster-scoped: `<name>`). */
export function keyOf(obj: KubeObject): string {
  const ns = obj.metadata?.namespace;
  return ns === undefined || ns === "" ? (obj.metadata?.name ?? "") : `${ns}/${obj.metadata?.name ?? ""}`;
}

/** A condition as the API conventions want it, stamped with the generation it judged. */
export function condition(type: string, ok: boolean, reason: string, message: string, generation: number | undefined, now: string): Condition {
  return { type, status: ok ? "True" : "False", reason, message, observedGeneration: generation, lastTransitionTime: now };
}

/** Oldest first, then by namespace/name: the order in which conflicting claims are settled. */
export function byAge<T extends KubeObject>(list: readonly T[]): T[] {
  return [...list].sort((a, b) => (a.metadata?.creationTimestamp ?? "").localeCompare(b.metadata?.creationTimestamp ?? "") || keyOf(a).localeCompare(keyOf(b)));
}
