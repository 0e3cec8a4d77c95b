import { z } from "zod";
import { duration } from "../../config/schema-scalars.js";
import { providerName, providerRetry } from "../schema-common.js";

export const etcdProviderSchema = z
  .strictObject({
    type: z.literal("etcd"),
    name: providerName,
    endpoints: z
      .array(z.string().regex(/^https?:\/\/[^/\s]+$/, { message: 'expected an etcd client URL like "http://10.0.0.5:2379"' }))
      .min(1, { message: "name at least one etcd endpoint" })
      .meta({ description: 'etcd v3 client URLs, e.g. ["http://10.0.0.5:2379"]; calls go to any of them.' }),
    prefix: z
      .string()
      .regex(/^\/[^\s]*[^/\s]$/, { message: 'expected a key prefix like "/divisor" (a leading "/", no trailing "/")' })
      .default("/divisor")
      .meta({ description: "Key prefix of the data: <prefix>/routers/<name>, <prefix>/services/<name>, <prefix>/middlewares/<name>, <prefix>/tenants/<name> (YAML or JSON documents), and <prefix>/services/<service>/backends/<id> (\"host:port\" or { address, weight })." }),
    username: z.string().min(1).optional().meta({ description: "etcd user (with password), when etcd has authentication on." }),
    password: z.string().optional().meta({ description: "Password of username (an environment variable substitution keeps it out of the file)." }),
    dialTimeout: duration.default(5_000).meta({ description: "Time to connect to etcd before a call fails." }),
    retry: providerRetry(200, 10_000, "etcd"),
  })
  .refine((c) => (c.username === undefined) === (c.password === undefined), { message: "username and password go together", path: ["password"] })
  .meta({
    description:
      "Routers, services, middlewares and tenants stored as documents in etcd v3, and backends registered under a key prefix with leases (a backend whose lease expires disappears). Watched, not polled.",
  });

export type EtcdProviderConfig = z.output<typeof etcdProviderSchema>;
