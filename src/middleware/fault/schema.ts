import { z } from "zod";
import { duration, headerName as headerToken } from "../../config/schema-scalars.js";

const percentage = z.number().min(0).max(100);

/** `type: fault` — inject delays and aborts into a share of the requests (chaos testing). */
export const faultMiddlewareSchema = z
  .strictObject({
    type: z.literal("fault"),
    delay: z
      .strictObject({
        percentage: percentage.meta({ description: "Share of the matching requests to delay, 0 to 100 (fractions allowed: 0.1 = one in a thousand)." }),
        fixed: duration.optional().meta({ description: "Delay every chosen request by exactly this long." }),
        min: duration.optional().meta({ description: "With max: delay by a uniformly random time between min and max." }),
        max: duration.optional().meta({ description: "With min: the longest random delay." }),
      })
      .refine((d) => (d.fixed === undefined) !== (d.min === undefined && d.max === undefined), { message: "give either fixed, or min and max" })
      .refine((d) => (d.min === undefined) === (d.max === undefined), { message: "min and max go together" })
      .refine((d) => d.min === undefined || d.max === undefined || d.min <= d.max, { message: "min must not exceed max" })
      .optional()
      .meta({ description: "Hold a share of the requests before they go on (the client's connection stays open; the wait ends if the client leaves)." }),
    abort: z
      .strictObject({
        percentage: percentage.meta({ description: "Share of the matching requests to abort, 0 to 100 (fractions allowed)." }),
        status: z.number().int().min(200).max(599).optional().meta({ description: "Answer the chosen requests with this status instead of proxying them." }),
        body: z.string().default("fault injected\n").meta({ description: "Body of the status answer." }),
        reset: z.boolean().optional().meta({ description: "true: reset the client connection (TCP RST) instead of answering, as a crashed backend would." }),
      })
      .refine((a) => (a.status !== undefined) !== (a.reset === true), { message: "give either status or reset: true" })
      .optional()
      .meta({ description: "Answer a share of the requests with an error, or reset their connection, without proxying them (applied after the delay)." }),
    match: z
      .strictObject({
        header: headerToken.meta({ description: "Only requests carrying this header (case-insensitive name) get faults." }),
        value: z.string().optional().meta({ description: "And only when the header has exactly this value; omitted = any value." }),
      })
      .optional()
      .meta({ description: "Restrict faults to requests with a header (e.g. one your test client sends); omitted = every request of the router." }),
  })
  .refine((f) => f.delay !== undefined || f.abort !== undefined, { message: "a fault middleware needs delay, abort, or both" })
  .meta({ description: "Fault injection for chaos testing: delay and/or abort a share of the requests, optionally only those with a header." });
