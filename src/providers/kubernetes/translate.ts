/**
 * A snapshot of the cluster → the provider's whole fragment, the TLS Secrets its
 * listeners need, the statuses to write back and the problems met. Pure: the
 * provider, `divisor explain --kubernetes`, and the tests all call this.
 */
import type { ConfigFragment } from "../types.js";
import { translateGatewayApi, type StatusUpdate } from "./gateway-api.js";
import { ingressIsOurs, translateIngress } from "./ingress.js";
import { byAge } from "./objects.js";
import { INGRESS_CONTROLLER, type KubernetesProviderConfig } from "./schema.js";
import { FragmentBuilder, type Problem, type Snapshot, type TlsSecretUse, type TranslateOptions } from "./snapshot.js";

export interface Translation {
  fragment: Required<Pick<ConfigFragment, "routers" | "services" | "middlewares" | "backends">>;
  tls: TlsSecretUse[];
  statuses: StatusUpdate[];
  problems: Problem[];
}

export function translate(snapshot: Snapshot, options: TranslateOptions): Translation {
  const b = new FragmentBuilder(snapshot, options);
  const statuses: StatusUpdate[] = [];
  if (options.ingress.enabled) {
    for (const ing of byAge(snapshot.ingresses)) {
      if (!ingressIsOurs(ing, snapshot.ingressClasses, options.ingress)) continue;
      translateIngress(ing, b);
      if (options.statusAddress !== undefined) {
        const a = options.statusAddress;
        statuses.push({
          kind: "Ingress",
          namespace: ing.metadata?.namespace ?? "default",
          name: ing.metadata?.name ?? "",
          status: { loadBalancer: { ingress: [/^[0-9.]+$|:/.test(a) ? { ip: a } : { hostname: a }] } },
        });
      }
    }
  }
  if (options.gatewayApi.enabled) statuses.push(...translateGatewayApi(b));
  return { fragment: b.fragment, tls: [...b.tls.values()], statuses, problems: b.problems };
}

/** The translation options of a provider entry named `provider`. */
export function translateOptions(config: KubernetesProviderConfig, provider: string, now: string): TranslateOptions {
  return {
    provider,
    endpointSlices: config.endpointSlices,
    ingress: { enabled: config.ingress.enabled, class: config.ingress.class, controller: INGRESS_CONTROLLER },
    gatewayApi: config.gatewayApi,
    statusAddress: config.statusAddress,
    now,
  };
}
