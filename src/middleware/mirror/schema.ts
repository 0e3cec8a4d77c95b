import { z } from "zod";
import { duration, headerName as headerToken, positiveInt, size } from "../../config/schema-scalars.js";


/** `type: mirror` — copy a share of the requests to a shadow service and discard its answers. */
export const mirrorSchema = z
  .strictObject({
    type: z.literal("mirror"),
    service: z.string().min(1).meta({ description: "Name of the shadow service the copies go to (a service of this configuration)." }),
    percentage: z
      .number()
      .min(0)
      .max(100)
      .default(100)
      .meta({ description: "Share of the matching requests copied, 0 to 100 (fractions allowed); spread evenly: of every 100 requests exactly this many." }),
    methods: z
      .array(z.string().regex(/^[A-Z]+$/, { message: "methods are upper-case tokens like GET" }))
      .min(1)
      .optional()
      .meta({ description: "Only copy requests with one of these methods; omitted = every method." }),
    match: z
      .strictObject({
        header: headerToken.meta({ description: "Only copy requests carrying this header (case-insensitive name)." }),
        value: z.string().optional().meta({ description: "And only when the header has exactly this value; omitted = any value." }),
      })
      .optional()
      .meta({ description: "Restrict copies to requests with a header; omitted = every request of the router." }),
    maxInFlight: positiveInt
      .default(100)
      .meta({ description: "Most copies waiting for the shadow at once; a copy beyond it is dropped (counted), so a slow shadow never holds memory or the primary." }),
    maxBodySize: size
      .default(1024 * 1024)
      .meta({ description: "Largest request body copied (e.g. 64KiB, 1MiB); a request with a bigger one is not mirrored (counted as body_too_large)." }),
    maxResponseSize: size
      .default(8 * 1024 * 1024)
      .meta({ description: "Largest shadow response body read (for the compare); a bigger one counts as a failed copy." }),
    timeout: duration.default(5_000).meta({ description: "Time the shadow has to answer a copy completely; then the copy counts as failed." }),
    header: z
      .strictObject({
        name: headerToken.default("x-divisor-mirror").meta({ description: "Header added to every copy, so the shadow (and its logs) can tell copies from live traffic." }),
        value: z.string().optional().meta({ description: "Its value; default the middleware's name." }),
      })
      .prefault({})
      .meta({ description: "The header that marks a copy as a mirror." }),
    host: z
      .enum(["request", "backend"])
      .default("request")
      .meta({ description: "Host header of the copies: request = the one the primary backend receives; backend = the shadow backend's address." }),
    compare: z
      .strictObject({
        status: z.boolean().default(true).meta({ description: "Compare the status codes." }),
        headers: z.array(headerToken).default([]).meta({ description: "Response headers whose values are compared (e.g. content-type); values are never logged." }),
        body: z.boolean().default(true).meta({ description: "Compare SHA-256 digests of the response bodies." }),
      })
      .optional()
      .meta({ description: "Compare each shadow response with the primary's and count (and log on the middleware logger) the differences; omitted = responses are read and discarded." }),
  })
  .meta({ description: "Traffic mirroring: copy a share of the requests to a shadow service, discard its responses (optionally compare them with the primary's); never slows the primary." });
