/**
 * The provider types by name: a new provider is a folder (schema.ts beside its code)
 * plus one line here. Only the schemas load with the configuration; a provider's code
 * (and its client library: etcd3, ...) loads when a configuration uses it.
 */
import { z } from "zod";
import { consulProviderSchema } from "./consul/schema.js";
import { dnsProviderSchema } from "./dns/schema.js";
import { etcdProviderSchema } from "./etcd/schema.js";
import { fileProviderSchema } from "./file/schema.js";
import { kubernetesProviderSchema } from "./kubernetes/schema.js";
import type { ProviderType } from "./types.js";

/** A registered provider type: its schema now, its code when started. */
export interface ProviderEntry<S extends z.ZodType> {
  readonly schema: S;
  // biome-ignore lint/suspicious/noExplicitAny: each provider type has its own config type
  load(): Promise<ProviderType<any>>;
}

function entry<S extends z.ZodType>(schema: S, load: () => Promise<{ provider: ProviderType<z.output<S>> }>): ProviderEntry<S> {
  return { schema, load: async () => (await load()).provider };
}

/** One line per provider type. */
export const PROVIDER_TYPES = {
  file: entry(fileProviderSchema, () => import("./file/index.js")),
  dns: entry(dnsProviderSchema, () => import("./dns/index.js")),
  etcd: entry(etcdProviderSchema, () => import("./etcd/index.js")),
  consul: entry(consulProviderSchema, () => import("./consul/index.js")),
  kubernetes: entry(kubernetesProviderSchema, () => import("./kubernetes/index.js")),
} as const;

type AnyProviderSchema = (typeof PROVIDER_TYPES)[keyof typeof PROVIDER_TYPES]["schema"];

/** An entry of `providers:`, told apart by its `type`. */
export const providerEntrySchema = z
  .discriminatedUnion("type", Object.values(PROVIDER_TYPES).map((p) => p.schema) as unknown as [AnyProviderSchema, ...AnyProviderSchema[]])
  .meta({ description: "A provider: its type and that type's options." });

/** The code of a provider type (loaded on first use). */
export function loadProviderType(type: string): Promise<ProviderType<unknown>> {
  const found = (PROVIDER_TYPES as Record<string, ProviderEntry<z.ZodType>>)[type];
  if (found === undefined) return Promise.reject(new Error(`unknown provider type "${type}"`));
  return found.load();
}
