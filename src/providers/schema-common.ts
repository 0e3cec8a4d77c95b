/** Keys every entry of `providers:` has, whatever its type. */
import { z } from "zod";
import { duration, nameKey } from "../config/schema-scalars.js";

/** `name`: how logs, metrics, /readyz and `services.<name>.discovery.provider` call the provider. */
export const providerName = nameKey
  .optional()
  .meta({ description: "Name of this provider in logs, metrics, /readyz, /api/providers and services' discovery.provider; default its type. Unique among the providers." });

/** `retry`: the back-off of a provider whose source fails, doubling from `initial` to `max` (defaults in ms). */
export function providerRetry(initial: number, max: number, source: string) {
  return z
    .strictObject({
      initial: duration.default(initial).meta({ description: `First wait after ${source} fails, before trying again.` }),
      max: duration.default(max).meta({ description: "Longest wait between tries (the wait doubles up to it)." }),
    })
    .prefault({})
    .meta({ description: `Back-off while ${source} fails or cannot be reached: a failing source is never asked in a tight loop.` });
}
