/** Keys every entry of `providers:` has, whatever its type. */
import { nameKey } from "../config/schema-scalars.js";

/** `name`: how logs, metrics, /readyz and `services.<name>.discovery.provider` call the provider. */
export const providerName = nameKey
  .optional()
  .meta({ description: "Name of this provider in logs, metrics, /readyz, /api/providers and services' discovery.provider; default its type. Unique among the providers." });
