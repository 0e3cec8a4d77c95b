/**
 * A reflector keeps a local copy of one resource (in one namespace or all) in step
 * with the API server, by the list/watch protocol
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes):
 * list, then watch from the list's resourceVersion with bookmarks; each event moves
 * the version on; a watch the server ends is resumed from the last version; a 410 Gone
 * (an ERROR event with a Status of code 410, or HTTP 410) means that version is
 * compacted away: relist, and replace the copy whole.
 */
import type { KubeClient, WatchEvent } from "./client.js";
import { KubernetesApiError } from "./api-error.js";
import { keyOf, type KubeObject } from "./objects.js";

export interface ResourceType {
  /** "services", "endpointslices", ... */
  plural: string;
  kind: string;
  /** "" for the core group. */
  group: string;
  version: string;
  namespaced: boolean;
  /** A field selector the server filters with (Secrets: only TLS ones). */
  fieldSelector?: string;
}

export const RESOURCE_TYPES = {
  services: { plural: "services", kind: "Service", group: "", version: "v1", namespaced: true },
  endpointslices: { plural: "endpointslices", kind: "EndpointSlice", group: "discovery.k8s.io", version: "v1", namespaced: true },
  secrets: { plural: "secrets", kind: "Secret", group: "", version: "v1", namespaced: true, fieldSelector: "type=kubernetes.io/tls" },
  ingresses: { plural: "ingresses", kind: "Ingress", group: "networking.k8s.io", version: "v1", namespaced: true },
  ingressclasses: { plural: "ingressclasses", kind: "IngressClass", group: "networking.k8s.io", version: "v1", namespaced: false },
  gatewayclasses: { plural: "gatewayclasses", kind: "GatewayClass", group: "gateway.networking.k8s.io", version: "v1", namespaced: false },
  gateways: { plural: "gateways", kind: "Gateway", group: "gateway.networking.k8s.io", version: "v1", namespaced: true },
  httproutes: { plural: "httproutes", kind: "HTTPRoute", group: "gateway.networking.k8s.io", version: "v1", namespaced: true },
} as const satisfies Record<string, ResourceType>;

export type ResourceName = keyof typeof RESOURCE_TYPES;

/** The API path of a resource's collection (namespace undefined: all namespaces), or of one object. */
export function resourcePath(r: ResourceType, namespace: string | undefined, name?: string): string {
  const base = r.group === "" ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespaced && namespace !== undefined ? `/namespaces/${namespace}` : "";
  return `${base}${ns}/${r.plural}${name === undefined ? "" : `/${name}`}`;
}

export interface ReflectorEvents {
  /** The copy changed (after the first list, and after each event that changes it). */
  changed(): void;
  /** A list or watch failed; the reflector retries with backoff. */
  failed(error: Error): void;
  /** A watch was restarted: `reason` is "expired" (410, relist), "closed" (server ended it) or "error". */
  restarted(reason: "expired" | "closed" | "error"): void;
}

function isGone(err: unknown): boolean {
  return (err instanceof KubernetesApiError && err.status === 410) || (err as { statusCode?: number } | null)?.statusCode === 410;
}

const MIN_BACKOFF = 250;
const MAX_BACKOFF = 30_000;

export class Reflector {
  readonly objects = new Map<string, KubeObject>();
  /** True once the first list arrived. */
  synced = false;
  resourceVersion = "";
  private readonly done: Promise<void>;

  constructor(
    private readonly client: KubeClient,
    readonly type: ResourceType,
    readonly namespace: string | undefined,
    private readonly events: ReflectorEvents,
    private readonly signal: AbortSignal,
  ) {
    this.done = this.run();
  }

  /** Resolves when the reflector stopped (its signal aborted). */
  stopped(): Promise<void> {
    return this.done;
  }

  private query(extra: string): string {
    const q = new URLSearchParams();
    if (this.type.fieldSelector !== undefined) q.set("fieldSelector", this.type.fieldSelector);
    const s = q.toString();
    return `${resourcePath(this.type, this.namespace)}${s === "" && extra === "" ? "" : `?${[s, extra].filter((x) => x !== "").join("&")}`}`;
  }

  private async list(): Promise<void> {
    const list = (await this.client.request("GET", this.query(""), undefined, undefined, this.signal)) as { items?: KubeObject[]; metadata?: { resourceVersion?: string } };
    this.objects.clear();
    for (const item of list.items ?? []) this.objects.set(keyOf(item), item);
    this.resourceVersion = list.metadata?.resourceVersion ?? "";
    this.synced = true;
    this.events.changed();
  }

  private onEvent(e: WatchEvent): "gone" | undefined {
    if (e.type === "ERROR") return e.object.code === 410 ? "gone" : undefined;
    const rv = e.object.metadata?.resourceVersion;
    if (rv !== undefined) this.resourceVersion = rv;
    if (e.type === "BOOKMARK") return undefined;
    const obj = e.object as KubeObject;
    if (e.type === "DELETED") this.objects.delete(keyOf(obj));
    else this.objects.set(keyOf(obj), obj);
    this.events.changed();
    return undefined;
  }

  private async run(): Promise<void> {
    let backoff = MIN_BACKOFF;
    let needList = true;
    while (!this.signal.aborted) {
      try {
        if (needList) {
          await this.list();
          needList = false;
        }
        let gone = false;
        let errorEvent: string | undefined;
        const err = await this.client.watch(
          resourcePath(this.type, this.namespace),
          this.resourceVersion,
          (e) => {
            if (gone) return;
            if (this.onEvent(e) === "gone") gone = true;
            else if (e.type === "ERROR") errorEvent = e.object.message ?? "ERROR event";
          },
          this.signal,
          this.type.fieldSelector,
        );
        if (this.signal.aborted) return;
        if (gone || isGone(err)) {
          needList = true;
          this.events.restarted("expired");
          backoff = MIN_BACKOFF;
          continue;
        }
        if (err !== null || errorEvent !== undefined) throw err ?? new Error(errorEvent);
        this.events.restarted("closed");
        backoff = MIN_BACKOFF;
      } catch (err) {
        if (this.signal.aborted) return;
        if (isGone(err)) {
          needList = true;
          this.events.restarted("expired");
          continue;
        }
        if (needList && err instanceof KubernetesApiError && err.status === 404) {
          // The kind is not served (Gateway API CRDs not installed): the other kinds go on
          // without it, and it is looked for again, slowly.
          this.objects.clear();
          this.synced = true;
          this.events.changed();
          backoff = MAX_BACKOFF;
          this.events.failed(
            new KubernetesApiError(404, `the API server does not serve ${this.type.plural} (${this.type.group || "core"}/${this.type.version}); are its CRDs installed? Looked for again every ${MAX_BACKOFF / 1000} s`),
          );
          await this.sleep(backoff);
          continue;
        }
        const what = `${this.type.plural}${this.namespace === undefined ? "" : ` in ${this.namespace}`}`;
        this.events.failed(new KubernetesApiError((err as KubernetesApiError).status ?? 0, `watching ${what}: ${(err as Error).message}`, { cause: err }));
        this.events.restarted("error");
        await this.sleep(backoff);
        backoff = Math.min(MAX_BACKOFF, backoff * 2);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      this.signal.addEventListener(
        "abort",
        () => {
          clearTimeout(t);
          resolve();
        },
        { once: true },
      );
    });
  }
}
