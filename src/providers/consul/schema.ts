import { z } from "zod";
import { duration, nameKey } from "../../config/schema-scalars.js";
import { providerName, providerRetry } from "../schema-common.js";

export const consulProviderSchema = z
  .strictObject({
    type: z.literal("consul"),
    name: providerName,
    address: z
      .string()
      .regex(/^https?:\/\/[^/\s]+$/, { message: 'expected the Consul HTTP API\'s URL like "http://127.0.0.1:8500"' })
      .default("http://127.0.0.1:8500")
      .meta({ description: "URL of a Consul agent's HTTP API." }),
    services: z
      .array(nameKey)
      .min(1, { message: "name the Consul services to follow" })
      .refine((l) => new Set(l).size === l.length, { message: "each service appears once" })
      .meta({ description: "Consul services to follow; each is a service of the gateway with discovery: { provider: <this provider's name> } (same name)." }),
    tag: z.string().min(1).optional().meta({ description: "Only instances with this tag (Consul's ?tag= filter)." }),
    token: z.string().min(1).optional().meta({ description: "ACL token, sent as X-Consul-Token (never logged)." }),
    datacenter: z.string().min(1).optional().meta({ description: "Datacenter to ask (?dc=); default the agent's." }),
    wait: duration.default(300_000).meta({ description: "How long one blocking query may wait for a change (?wait=); Consul caps it at 10m." }),
    retry: providerRetry(1_000, 30_000, "Consul"),
  })
  .meta({
    description:
      "Backends from Consul's health API (instances whose checks all pass), followed with blocking queries; tags set weights (divisor.weight=3) and routers (divisor.host=..., divisor.path=...).",
  });

export type ConsulProviderConfig = z.output<typeof consulProviderSchema>;
