/** The `providers: [{ type: kubernetes, ... }]` entry. */
import { z } from "zod";
import { providerName } from "../schema-common.js";

const dnsLabel = z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { message: 'expected a namespace name (a DNS label like "shop")' });

export const INGRESS_CONTROLLER = "divisor.dev/ingress-controller";
export const GATEWAY_CONTROLLER = "divisor.dev/gateway-controller";

export const kubernetesProviderSchema = z
  .strictObject({
    type: z.literal("kubernetes"),
    name: providerName,
    kubeconfig: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "A kubeconfig file (its current context) to reach the API server from outside the cluster. Default: the pod's service account (in-cluster)." }),
    apiServer: z
      .string()
      .regex(/^https?:\/\/[^/]+\/?$/, { message: 'expected the API server\'s URL, like "https://10.0.0.1:6443"' })
      .optional()
      .meta({ description: "The API server's URL, instead of a kubeconfig; with tokenFile and caFile." }),
    tokenFile: z.string().min(1).optional().meta({ description: "With apiServer: a file holding the bearer token (read again when it changes, so rotated tokens are picked up)." }),
    caFile: z.string().min(1).optional().meta({ description: "With apiServer: the CA certificates (PEM) the API server's certificate must chain to." }),
    namespaces: z
      .array(dnsLabel)
      .min(1)
      .optional()
      .meta({ description: "Namespaces to watch; omitted = all (which needs cluster-wide list/watch permissions)." }),
    endpointSlices: z
      .boolean()
      .default(true)
      .meta({
        description:
          "Balance over the pods themselves, from the Services' EndpointSlices (ready endpoints in rotation, terminating ones drained). false: send to each Service's cluster IP and let kube-proxy balance.",
      }),
    ingress: z
      .strictObject({
        enabled: z.boolean().default(true).meta({ description: "Serve Ingress resources of our class." }),
        class: z
          .string()
          .min(1)
          .default("divisor")
          .meta({ description: `IngressClass name this controller answers to (besides every IngressClass whose spec.controller is ${INGRESS_CONTROLLER}).` }),
      })
      .prefault({})
      .meta({ description: "Act as an Ingress controller." }),
    gatewayApi: z
      .strictObject({
        enabled: z.boolean().default(false).meta({ description: "Serve Gateway API resources (needs the Gateway API CRDs installed)." }),
        controllerName: z
          .string()
          .regex(/^[a-z0-9.-]+\/[A-Za-z0-9/_.-]+$/, { message: 'expected a domain-prefixed path like "divisor.dev/gateway-controller"' })
          .default(GATEWAY_CONTROLLER)
          .meta({ description: "GatewayClasses whose spec.controllerName is this are ours." }),
      })
      .prefault({})
      .meta({ description: "Act as a Gateway API controller (GatewayClass, Gateway, HTTPRoute)." }),
    statusAddress: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "IP or host name clients reach this gateway at (its LoadBalancer Service's), written into Ingress status.loadBalancer and Gateway status.addresses; omitted = Ingress status is left alone." }),
  })
  .refine((c) => c.kubeconfig === undefined || c.apiServer === undefined, { message: "give kubeconfig or apiServer, not both", path: ["apiServer"] })
  .refine((c) => c.apiServer !== undefined || (c.tokenFile === undefined && c.caFile === undefined), { message: "tokenFile and caFile go with apiServer", path: ["tokenFile"] })
  .meta({ description: "Services, Ingresses and Gateway API routes from a Kubernetes cluster (see docs/kubernetes.md)." });

export type KubernetesProviderConfig = z.output<typeof kubernetesProviderSchema>;
