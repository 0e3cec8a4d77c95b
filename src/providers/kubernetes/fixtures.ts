/**
 * Kubernetes objects from YAML files (what `kubectl get -o yaml` prints, or the
 * manifests about to be applied) → a snapshot, and its translation merged into a
 * configuration: how `divisor explain --kubernetes <dir>` and `divisor routes
 * --kubernetes <dir>` show the routing table the provider would build, with no cluster.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { validateConfig } from "../../config/load.js";
import type { DivisorConfig } from "../../config/schema.js";
import { DivisorError } from "../../errors.js";
import { mergeBase, mergeFragment } from "../merge.js";
import { SERVICE_NAME_LABEL, slicesByService } from "./endpoints.js";
import type { EndpointSlice, KubeObject, Secret, Service } from "./objects.js";
import { type KubernetesProviderConfig, kubernetesProviderSchema } from "./schema.js";
import { emptySnapshot, type Snapshot } from "./snapshot.js";
import { translate, translateOptions, type Translation } from "./translate.js";

/** Read every .yaml/.yml/.json file of `path` (a directory or one file); `kind: List` documents are unpacked. */
export function loadKubernetesObjects(path: string): KubeObject[] {
  const files = statSync(path).isDirectory()
    ? readdirSync(path)
        .filter((f) => /\.(ya?ml|json)$/.test(f))
        .sort()
        .map((f) => join(path, f))
    : [path];
  const out: KubeObject[] = [];
  for (const file of files) {
    for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
      if ("errors" in doc && doc.errors.length > 0) throw new DivisorError("ERR_KUBERNETES_FIXTURE", `${file}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as (KubeObject & { items?: KubeObject[] }) | null;
      if (obj === null) continue;
      if (typeof obj !== "object" || typeof obj.kind !== "string" || typeof obj.metadata?.name !== "string")
        throw new DivisorError("ERR_KUBERNETES_FIXTURE", `${file}: every document must be a Kubernetes object with kind and metadata.name`);
      for (const o of obj.kind === "List" ? (obj.items ?? []) : [obj]) out.push(o);
    }
  }
  return out;
}

/** Objects → a snapshot (namespaced objects without a namespace are in "default", as kubectl applies them). */
export function snapshotFromObjects(objects: readonly KubeObject[]): Snapshot {
  const s = emptySnapshot();
  const slices: EndpointSlice[] = [];
  const namespaced = (o: KubeObject): KubeObject => ({ ...o, metadata: { ...o.metadata, namespace: o.metadata?.namespace ?? "default" } });
  for (const raw of objects) {
    const key = (o: KubeObject): string => `${o.metadata?.namespace}/${o.metadata?.name}`;
    switch (raw.kind) {
      case "Service": {
        const o = namespaced(raw) as Service;
        s.services.set(key(o), o);
        break;
      }
      case "EndpointSlice": {
        const o = namespaced(raw) as EndpointSlice;
        if (o.metadata?.labels?.[SERVICE_NAME_LABEL] === undefined) throw new DivisorError("ERR_KUBERNETES_FIXTURE", `EndpointSlice ${key(o)} has no ${SERVICE_NAME_LABEL} label`);
        slices.push(o);
        break;
      }
      case "Secret": {
        const o = namespaced(raw) as Secret & { stringData?: Record<string, string> };
        if (o.stringData !== undefined) o.data = { ...o.data, ...Object.fromEntries(Object.entries(o.stringData).map(([k, v]) => [k, Buffer.from(v).toString("base64")])) };
        s.secrets.set(key(o), o);
        break;
      }
      case "Ingress":
        s.ingresses.push(namespaced(raw));
        break;
      case "IngressClass":
        s.ingressClasses.push(raw);
        break;
      case "GatewayClass":
        s.gatewayClasses.push(raw);
        break;
      case "Gateway":
        s.gateways.push(namespaced(raw));
        break;
      case "HTTPRoute":
        s.httpRoutes.push(namespaced(raw));
        break;
      default:
        break; // Deployments and the rest of a manifest: not the provider's business
    }
  }
  s.slices = slicesByService(slices);
  return s;
}

/**
 * A configuration with a translation merged in, as the gateway merges a provider's
 * fragment (the same merge and validation): names already in the configuration, or
 * anything that does not validate, is a ConfigError or ProviderFragmentError.
 */
export function mergeTranslation(config: DivisorConfig, t: Translation, source: string, provider: string): DivisorConfig {
  const state = mergeBase(config, source);
  mergeFragment(state, provider, t.fragment);
  return validateConfig(state.config, `${source} (kubernetes objects)`);
}

/**
 * The configuration plus what its kubernetes provider (the first `type: kubernetes`
 * entry of `providers:`, with its options and name; when there is none, one with the
 * defaults and the Gateway API on) would make of `objects`.
 */
export function withKubernetesObjects(config: DivisorConfig, objects: readonly KubeObject[], source: string): { config: DivisorConfig; translation: Translation } {
  let entry = config.providers.find((p) => p.type === "kubernetes") as KubernetesProviderConfig | undefined;
  let base = config;
  if (entry === undefined) {
    entry = kubernetesProviderSchema.parse({ type: "kubernetes", gatewayApi: { enabled: true } });
    base = { ...config, providers: [...config.providers, entry as DivisorConfig["providers"][number]] };
  }
  const name = entry.name ?? "kubernetes";
  const translation = translate(snapshotFromObjects(objects), translateOptions(entry, name, new Date(0).toISOString()));
  return { config: mergeTranslation(base, translation, source, name), translation };
}
