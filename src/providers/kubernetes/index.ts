/**
 * `type: kubernetes` — Services (their EndpointSlices), Ingresses and Gateway API
 * routes from a cluster, as one config fragment kept up to date, with status written
 * back. See docs/kubernetes.md.
 *
 * @example
 * providers:
 *   - type: kubernetes
 *     ingress: { class: divisor }
 *     gatewayApi: { enabled: true }
 *     statusAddress: 203.0.113.10
 */
import type { CertificateInput, ProviderContext, ProviderType, RunningProvider } from "../types.js";
import { TlsSecretFiles } from "./certificates.js";
import { KubeClient, loadKubeConfig } from "./client.js";
import { slicesByService } from "./endpoints.js";
import type { StatusUpdate } from "./gateway-api.js";
import type { EndpointSlice, KubeObject, Secret, Service } from "./objects.js";
import { RESOURCE_TYPES, Reflector, resourcePath, type ResourceName } from "./reflector.js";
import { type KubernetesProviderConfig, kubernetesProviderSchema } from "./schema.js";
import type { Snapshot } from "./snapshot.js";
import { writeStatuses } from "./status.js";
import { translate, translateOptions } from "./translate.js";

/** The resources a configuration needs watched. */
export function watchedResources(config: KubernetesProviderConfig): ResourceName[] {
  const out: ResourceName[] = ["services"];
  if (config.endpointSlices) out.push("endpointslices");
  if (config.ingress.enabled) out.push("ingresses", "ingressclasses");
  if (config.gatewayApi.enabled) out.push("gatewayclasses", "gateways", "httproutes");
  if (config.ingress.enabled || config.gatewayApi.enabled) out.push("secrets");
  return out;
}

/** What the reflectors hold, as a snapshot for the translators. */
function snapshotOf(reflectors: ReadonlyMap<ResourceName, Reflector[]>): Snapshot {
  const all = <T extends KubeObject>(r: ResourceName): T[] => (reflectors.get(r) ?? []).flatMap((x) => [...x.objects.values()] as T[]);
  const byKey = <T extends KubeObject>(r: ResourceName): Map<string, T> => new Map(all<T>(r).map((o) => [`${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`, o]));
  return {
    services: byKey<Service>("services"),
    slices: slicesByService(all<EndpointSlice>("endpointslices")),
    secrets: byKey<Secret>("secrets"),
    ingresses: all("ingresses"),
    ingressClasses: all("ingressclasses"),
    gatewayClasses: all("gatewayclasses"),
    gateways: all("gateways"),
    httpRoutes: all("httproutes"),
  };
}

export const provider: ProviderType<KubernetesProviderConfig> = {
  type: "kubernetes",
  schema: kubernetesProviderSchema,
  async start(config, context: ProviderContext): Promise<RunningProvider> {
    const client = new KubeClient(loadKubeConfig(config));
    const stop = new AbortController();
    const signal = AbortSignal.any([stop.signal, context.signal]);
    const files = new TlsSecretFiles();
    const reflectors = new Map<ResourceName, Reflector[]>();
    let timer: NodeJS.Timeout | undefined;
    let lastProblems = "";
    let statusChain: Promise<void> = Promise.resolve();

    const apply = (): void => {
      timer = undefined;
      if (signal.aborted) return;
      for (const list of reflectors.values()) for (const r of list) if (!r.synced) return; // one whole picture first: no routes before their Services are known
      const snapshot = snapshotOf(reflectors);
      const options = translateOptions(config, context.name, new Date().toISOString());
      const t = translate(snapshot, options);
      const problems = t.problems.map((p) => `${p.kind} ${p.object}: ${p.message}`).join("\n");
      if (problems !== lastProblems) {
        for (const p of t.problems) context.logger.warn({ kind: p.kind, object: p.object }, p.message);
        lastProblems = problems;
      }
      let certificates: CertificateInput[];
      try {
        certificates = files.sync(t.tls, snapshot.secrets);
      } catch (err) {
        context.failed(new Error(`writing TLS Secrets into ${files.dir}: ${(err as Error).message}`));
        return;
      }
      context.update({ ...t.fragment, certificates });
      const current = (u: StatusUpdate): KubeObject | undefined => {
        const r = ({ Ingress: "ingresses", GatewayClass: "gatewayclasses", Gateway: "gateways", HTTPRoute: "httproutes" } as const)[u.kind];
        for (const x of reflectors.get(r) ?? []) {
          const o = x.objects.get(u.namespace === undefined ? u.name : `${u.namespace}/${u.name}`);
          if (o !== undefined) return o;
        }
        return undefined;
      };
      statusChain = statusChain.then(() =>
        writeStatuses(client, t.statuses, current, config.gatewayApi.controllerName, signal).catch((err: unknown) => {
          if (!signal.aborted) context.logger.warn({ err }, "writing status back failed; retried on the next change");
        }),
      );
    };
    const changed = (): void => {
      timer ??= setTimeout(apply, 20);
    };
    for (const name of watchedResources(config)) {
      const type = RESOURCE_TYPES[name];
      const namespaces = type.namespaced && config.namespaces !== undefined ? config.namespaces : [undefined];
      reflectors.set(
        name,
        namespaces.map(
          (ns) =>
            new Reflector(
              client,
              type,
              ns,
              {
                changed,
                failed: (err) => {
                  context.logger.warn({ resource: resourcePath(type, ns) }, err.message);
                  context.failed(err);
                },
                restarted: (reason) => context.logger.debug({ resource: resourcePath(type, ns), reason }, "watch restarted"),
              },
              signal,
            ),
        ),
      );
    }
    return {
      async close() {
        stop.abort();
        if (timer !== undefined) clearTimeout(timer);
        await Promise.all([...reflectors.values()].flat().map((r) => r.stopped()));
        await statusChain;
        files.close();
      },
    };
  },
};
