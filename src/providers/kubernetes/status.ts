/**
 * Status written back to Ingresses, GatewayClasses, Gateways and HTTPRoutes, as JSON
 * merge patches of the status subresource. A condition keeps its lastTransitionTime
 * while its status stays the same; an unchanged status is not written (so our own
 * write, coming back as a MODIFIED event, settles instead of looping); the parents of
 * an HTTPRoute that other controllers own are kept as they are.
 */
import type { KubeClient } from "./client.js";
import type { StatusUpdate } from "./gateway-api.js";
import type { Condition, KubeObject } from "./objects.js";
import { RESOURCE_TYPES, resourcePath } from "./reflector.js";

const RESOURCE = { Ingress: RESOURCE_TYPES.ingresses, GatewayClass: RESOURCE_TYPES.gatewayclasses, Gateway: RESOURCE_TYPES.gateways, HTTPRoute: RESOURCE_TYPES.httproutes } as const;

/** JSON with sorted keys: equal values, equal strings. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object")
    return `{${Object.keys(v)
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(v);
}

function keepTimes(next: Condition[] | undefined, prev: unknown): void {
  if (next === undefined || !Array.isArray(prev)) return;
  for (const c of next) {
    const old = (prev as Condition[]).find((p) => p.type === c.type);
    if (old !== undefined && old.status === c.status && typeof old.lastTransitionTime === "string") c.lastTransitionTime = old.lastTransitionTime;
  }
}

type Status = Record<string, unknown>;

/** The status to write, given the object's current one (times kept, others' parents kept). */
export function desiredStatus(u: StatusUpdate, current: Status | undefined, controllerName: string): Status {
  const next = structuredClone(u.status);
  if (u.kind === "GatewayClass" || u.kind === "Gateway") {
    keepTimes(next.conditions as Condition[], current?.conditions);
    const prevListeners = (current?.listeners as { name?: string; conditions?: unknown }[] | undefined) ?? [];
    for (const l of (next.listeners as { name: string; conditions: Condition[] }[] | undefined) ?? []) keepTimes(l.conditions, prevListeners.find((p) => p.name === l.name)?.conditions);
  }
  if (u.kind === "HTTPRoute") {
    const prevParents = (current?.parents as { parentRef?: unknown; controllerName?: string; conditions?: unknown }[] | undefined) ?? [];
    const ours = next.parents as { parentRef: unknown; conditions: Condition[] }[];
    for (const p of ours) keepTimes(p.conditions, prevParents.find((q) => q.controllerName === controllerName && canonical(q.parentRef) === canonical(p.parentRef))?.conditions);
    next.parents = [...prevParents.filter((q) => q.controllerName !== controllerName), ...ours];
  }
  return next;
}

/** Write the statuses that differ from the objects' current ones. */
export async function writeStatuses(
  client: KubeClient,
  updates: readonly StatusUpdate[],
  current: (u: StatusUpdate) => KubeObject | undefined,
  controllerName: string,
  signal: AbortSignal,
): Promise<void> {
  for (const u of updates) {
    if (signal.aborted) return;
    const obj = current(u) as (KubeObject & { status?: Status }) | undefined;
    if (obj === undefined) continue;
    const next = desiredStatus(u, obj.status, controllerName);
    const merged = { ...(obj.status ?? {}), ...next };
    if (canonical(merged) === canonical(obj.status ?? {})) continue;
    const path = `${resourcePath(RESOURCE[u.kind], u.namespace, u.name)}/status`;
    try {
      await client.request("PATCH", path, { status: next }, "application/merge-patch+json", signal);
    } catch (err) {
      if ((err as { status?: number }).status === 404) continue; // deleted meanwhile
      throw err;
    }
  }
}
