import { z } from "zod";
import { duration } from "../../config/schema-scalars.js";
import { authHeaderName, authHttpUrl } from "../auth-shared.js";

export const forwardAuthSchema = z
  .strictObject({
    type: z.literal("forward-auth"),
    address: authHttpUrl.meta({ description: "URL of the auth service, asked with a GET for every request." }),
    requestHeaders: z
      .array(authHeaderName)
      .optional()
      .meta({ description: "Client request headers sent to the auth service; omitted = all of them except hop-by-hop headers, Host and body headers." }),
    responseHeaders: z
      .array(authHeaderName)
      .default([])
      .meta({ description: "Headers of the auth service's 2xx answer copied onto the request to the backend (replacing client-sent ones)." }),
    timeout: duration.default(5_000).meta({ description: "Time the auth service has to answer." }),
    unavailableStatus: z
      .number()
      .int()
      .min(400)
      .max(599)
      .default(503)
      .meta({ description: "Status answered when the auth service times out or cannot be reached." }),
  })
  .meta({ description: "Ask an auth service about each request (X-Forwarded-Method/-Proto/-Host/-Uri/-For): 2xx lets it through, anything else is relayed to the client." });
