import { isIP } from "node:net";
import { z } from "zod";
import { duration, nameKey, positiveInt } from "../../config/schema-scalars.js";
import { providerName } from "../schema-common.js";

/** "10.0.0.2", "10.0.0.2:5353", "[fd00::2]:53" or "fd00::2": what Resolver.setServers takes. */
function isServer(s: string): boolean {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(s);
  if (bracketed !== null) return isIP(bracketed[1]!) === 6 && (bracketed[2] === undefined || Number(bracketed[2]) <= 65535);
  if (isIP(s) !== 0) return true;
  const hostPort = /^([0-9.]+):(\d{1,5})$/.exec(s);
  return hostPort !== null && isIP(hostPort[1]!) === 4 && Number(hostPort[2]) <= 65535;
}

const recordSchema = z
  .strictObject({
    name: z.string().min(1).meta({ description: 'Name to resolve: "api.internal" (A/AAAA) or "_http._tcp.api.internal" (SRV).' }),
    type: z.enum(["A", "AAAA", "SRV"]).default("A").meta({ description: "A or AAAA: every address, at `port`; SRV: the targets of the lowest priority, at their ports, weighted by their weights." }),
    port: z.number().int().min(1).max(65535).optional().meta({ description: "Port of the backends (A and AAAA; SRV records carry their own)." }),
    weight: positiveInt.default(1).meta({ description: "Weight of each backend found by A/AAAA (SRV: the record's weight, 0 counted as 1)." }),
  })
  .refine((r) => r.type === "SRV" || r.port !== undefined, { message: "A and AAAA records carry no port: give port", path: ["port"] })
  .refine((r) => r.type !== "SRV" || r.port === undefined, { message: "SRV records carry their own ports: remove port", path: ["port"] })
  .meta({ description: "The DNS name whose records are this service's backends." });

export const dnsProviderSchema = z
  .strictObject({
    type: z.literal("dns"),
    name: providerName,
    services: z
      .record(nameKey, recordSchema)
      .refine((r) => Object.keys(r).length > 0, { message: "name at least one service to resolve" })
      .meta({ description: "Service name → the DNS name of its backends. Each service needs discovery: { provider: <this provider's name> }." }),
    servers: z
      .array(z.string().refine(isServer, { message: 'expected a DNS server address: "10.0.0.2", "10.0.0.2:5353" or "[fd00::2]:53"' }))
      .min(1)
      .optional()
      .meta({ description: "DNS servers to ask (IP, optionally with a port); default the system's (/etc/resolv.conf)." }),
    minTtl: duration.default(1_000).meta({ description: "Floor of the re-resolve interval: a record with a shorter TTL (or TTL 0) is asked again after this; also the first wait after a failure." }),
    maxTtl: duration.default(300_000).meta({ description: "Ceiling of the re-resolve interval (and of the wait between retries after failures): a record with a longer TTL is asked again after this." }),
    timeout: duration.default(2_000).meta({ description: "Time one query may take before it is retried (tries times), then the resolution fails." }),
    tries: positiveInt.default(2).meta({ description: "Tries of each query per server before giving up." }),
  })
  .refine((c) => c.minTtl <= c.maxTtl, { message: "minTtl cannot be above maxTtl", path: ["minTtl"] })
  .meta({ description: "Backends of services from DNS: A/AAAA addresses or SRV targets, resolved again when their TTL runs out (between minTtl and maxTtl); a failed resolution keeps the last answer." });

export type DnsProviderConfig = z.output<typeof dnsProviderSchema>;
export type DnsRecordConfig = DnsProviderConfig["services"][string];
