/**
 * Ingress (networking.k8s.io/v1) → routers. An Ingress is ours when its
 * `ingressClassName` names our class (an IngressClass whose `spec.controller` is ours,
 * or the configured class name), or when it names none and one of our IngressClasses
 * carries `ingressclass.kubernetes.io/is-default-class: "true"`.
 *
 * pathType: Exact → exact; Prefix and ImplementationSpecific → prefix, element-wise
 * (/foo matches /foo and /foo/bar, not /foobar; a trailing slash is ignored). The
 * router table's specificity gives what the Ingress spec asks: Exact before Prefix,
 * the longest prefix first.
 */
import { middlewaresAnnotation } from "./annotations.js";
import { keyOf, type Ingress, type IngressBackend, type IngressClass } from "./objects.js";
import type { FragmentBuilder, PathInput, RouterInput } from "./snapshot.js";

export const DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class";
/** Deprecated, still set by many charts; honoured when ingressClassName is absent. */
export const LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class";

/** Whether the Ingress is handled by this controller. */
export function ingressIsOurs(ing: Ingress, classes: readonly IngressClass[], opts: { class: string; controller: string }): boolean {
  const ours = classes.filter((c) => c.spec?.controller === opts.controller);
  const className = ing.spec?.ingressClassName ?? ing.metadata?.annotations?.[LEGACY_CLASS_ANNOTATION];
  if (className !== undefined) return className === opts.class || ours.some((c) => c.metadata?.name === className);
  return ours.some((c) => c.metadata?.annotations?.[DEFAULT_CLASS_ANNOTATION] === "true");
}

/** Router name of path `p` of rule `r` of an Ingress (namespaces have no dots, so the parts cannot run into each other). */
export function ingressRouterName(ns: string, name: string, rule: number | "default", path?: number): string {
  return rule === "default" ? `k8s.ingress.${ns}.${name}.default` : `k8s.ingress.${ns}.${name}.${rule}.${path}`;
}

function pathMatch(path: string | undefined, pathType: string | undefined): PathInput {
  const p = path === undefined || path === "" ? "/" : path;
  if (pathType === "Exact") return { exact: p };
  return { prefix: p.length > 1 && p.endsWith("/") ? p.replace(/\/+$/, "") || "/" : p };
}

/** Translate one Ingress of ours into routers (and the services and TLS Secrets they use). */
export function translateIngress(ing: Ingress, b: FragmentBuilder): void {
  const ns = ing.metadata?.namespace ?? "default";
  const name = ing.metadata?.name ?? "";
  const where = keyOf(ing);
  const middlewares = middlewaresAnnotation(ing.metadata?.annotations);
  if (typeof middlewares === "string") {
    b.problem("Ingress", where, `${middlewares}; the Ingress is not served`);
    return;
  }
  const target = (backend: IngressBackend | undefined, what: string): string | undefined => {
    if (backend?.resource !== undefined) {
      b.problem("Ingress", where, `${what}: resource backends are not supported (only service backends); that path is not served`);
      return undefined;
    }
    const svc = backend?.service;
    if (svc?.name === undefined) {
      b.problem("Ingress", where, `${what}: no backend service`);
      return undefined;
    }
    const r = b.service(ns, svc.name, svc.port ?? {});
    if (!r.ok) {
      b.problem("Ingress", where, `${what}: ${r.message}; that path is not served`);
      return undefined;
    }
    return r.service;
  };
  const rules = ing.spec?.rules ?? [];
  rules.forEach((rule, ri) => {
    const paths = rule.http?.paths ?? [];
    paths.forEach((p, pi) => {
      const service = target(p.backend, `rules[${ri}].http.paths[${pi}]`);
      if (service === undefined) return;
      const router: RouterInput = { match: { path: pathMatch(p.path, p.pathType) }, service, middlewares: [...middlewares] };
      if (rule.host !== undefined && rule.host !== "") router.match!.hosts = [rule.host];
      b.claim(ingressRouterName(ns, name, ri, pi), router, "Ingress", where);
    });
  });
  if (ing.spec?.defaultBackend !== undefined) {
    const service = target(ing.spec.defaultBackend, "defaultBackend");
    // The lowest priority of all: every rule of every Ingress is tried first, as the spec says.
    if (service !== undefined) b.claim(ingressRouterName(ns, name, "default"), { match: { path: { prefix: "/" } }, service, middlewares: [...middlewares], priority: -1000 }, "Ingress", where);
  }
  for (const [ti, tls] of (ing.spec?.tls ?? []).entries()) {
    if (tls.secretName === undefined) {
      b.problem("Ingress", where, `tls[${ti}] has no secretName; its hosts are served with the listener's own certificates`);
      continue;
    }
    const err = b.useTlsSecret(ns, tls.secretName, tls.hosts ?? []);
    if (err !== undefined) b.problem("Ingress", where, `tls[${ti}]: ${err}`);
  }
}
