/**
 * Services and EndpointSlices → the backends of one Service port.
 *
 * An endpoint's conditions (discovery.k8s.io/v1) decide its place:
 * - ready (nil counts as ready, as the API reference asks): in rotation, weight 1;
 * - serving and terminating (a pod shutting down that still answers): weight 0, so it
 *   gets no new requests while requests in flight finish on it (a backend dropped from
 *   the configuration would also drain, but keeping it at weight 0 until Kubernetes
 *   removes it means no request lands on a pod that is about to stop accepting);
 *   when no endpoint of the port is ready, the serving-terminating ones take traffic
 *   (weight 1), as kube-proxy does, rather than answering 503 during a full rollout;
 * - not serving: left out.
 */
import type { BackendInput } from "../types.js";
import type { EndpointSlice, Service, ServicePort } from "./objects.js";

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** Stable, collision-free name of the Divisor service for one Service port (namespaces and Service names are DNS labels: no dots). */
export function serviceName(namespace: string, service: string, port: number): string {
  return `k8s.${namespace}.${service}.${port}`;
}

/** The Service's port given by number or by name, or undefined. */
export function findServicePort(service: Service, port: { number?: number; name?: string }): ServicePort | undefined {
  const ports = service.spec?.ports ?? [];
  if (port.number !== undefined) return ports.find((p) => p.port === port.number);
  if (port.name !== undefined) return ports.find((p) => p.name === port.name);
  return ports.length === 1 ? ports[0] : undefined;
}

function hostPort(address: string, port: number, type: EndpointSlice["addressType"]): string {
  return type === "IPv6" || address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * The backends of `port` of a Service, from all its EndpointSlices (duplicates, as
 * during a slice split, are kept once with the most available state).
 */
export function backendsOf(port: ServicePort, slices: readonly EndpointSlice[]): BackendInput[] {
  const ready = new Map<string, true>();
  const terminating = new Map<string, true>();
  for (const slice of slices) {
    if (slice.addressType === "FQDN") continue; // not an address to connect to without DNS; see docs/kubernetes.md
    const slicePort = (slice.ports ?? []).find((p) => (p.name ?? "") === (port.name ?? "") && (p.protocol ?? "TCP") === "TCP");
    if (slicePort?.port === undefined) continue;
    for (const endpoint of slice.endpoints ?? []) {
      const c = endpoint.conditions ?? {};
      const isReady = c.ready !== false;
      const isServing = c.serving ?? isReady;
      for (const address of endpoint.addresses ?? []) {
        const key = hostPort(address, slicePort.port, slice.addressType);
        if (isReady && c.terminating !== true) ready.set(key, true);
        else if (isServing) terminating.set(key, true);
      }
    }
  }
  const out: BackendInput[] = [];
  for (const address of [...ready.keys()].sort()) out.push({ address, weight: 1 });
  const fallback = ready.size === 0;
  for (const address of [...terminating.keys()].sort()) if (!ready.has(address)) out.push({ address, weight: fallback ? 1 : 0 });
  return out;
}

/** EndpointSlices grouped by `<namespace>/<service>`. */
export function slicesByService(slices: Iterable<EndpointSlice>): Map<string, EndpointSlice[]> {
  const out = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (svc === undefined) continue;
    const key = `${s.metadata?.namespace ?? ""}/${svc}`;
    const list = out.get(key);
    if (list === undefined) out.set(key, [s]);
    else list.push(s);
  }
  return out;
}
