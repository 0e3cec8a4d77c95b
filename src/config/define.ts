import type { DivisorConfigInput } from "./schema.js";

/**
 * Typed config-as-code: the same shape and types as divisor.yaml.
 *
 * @example
 * export default defineConfig({
 *   listeners: [{ address: "0.0.0.0:8080" }],
 *   services: { web: { backends: ["10.0.0.5:3000"] } },
 *   routers: { web: { service: "web" } },
 * });
 */
export function defineConfig(config: DivisorConfigInput): DivisorConfigInput {
  return config;
}
