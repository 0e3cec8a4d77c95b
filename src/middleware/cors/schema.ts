import { z } from "zod";

const token = z.string().regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, { message: "expected an HTTP token (a method or header name)" });
const origin = z
  .string()
  .refine((o) => o === "*" || /^https?:\/\/(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o), {
    message: 'expected "*", an origin like "https://app.example.com" (scheme://host[:port], no path) or a wildcard like "https://*.example.com"',
  });

export const corsRuleSchema = z
  .strictObject({
    origins: z.array(origin).min(1).meta({ description: 'Origins this rule is for: exact ("https://app.example.com"), subdomain wildcards ("https://*.example.com") or "*" (any).' }),
    methods: z
      .array(token)
      .default(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
      .meta({ description: "Methods a preflight may ask for (default GET, HEAD, POST, PUT, PATCH, DELETE)." }),
    allowHeaders: z
      .array(token)
      .optional()
      .meta({ description: "Request headers a preflight may ask for; omitted = any the browser asks for." }),
    exposeHeaders: z.array(token).default([]).meta({ description: "Response headers the page's script may read (Access-Control-Expose-Headers)." }),
    credentials: z.boolean().default(false).meta({ description: "Allow cookies and HTTP auth (Access-Control-Allow-Credentials); not with the origin \"*\"." }),
    maxAge: z.number().int().min(0).default(600).meta({ description: "Seconds a browser may cache a preflight answer (Access-Control-Max-Age, default 600)." }),
  })
  .refine((r) => !(r.credentials && r.origins.includes("*")), {
    message: 'credentials: true cannot go with the origin "*" (browsers refuse it); list the origins',
    path: ["credentials"],
  })
  .meta({ description: "Which origins may call, and what they may do." });

export const corsSchema = z
  .strictObject({
    type: z.literal("cors"),
    rules: z.array(corsRuleSchema).min(1).meta({ description: "Per-origin rules; the first whose origins match the request's Origin applies (exact before wildcard before \"*\")." }),
  })
  .meta({ description: "Cross-origin resource sharing: preflights answered at the gateway, CORS headers on responses to allowed origins." });
