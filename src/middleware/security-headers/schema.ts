import { z } from "zod";

/** A header value, or false to leave the header out. */
const valueOrOff = (fallback: string, description: string) =>
  z
    .union([z.string().regex(/^[\t\x20-\x7e]+$/, { message: "header values are visible ASCII, without CR/LF" }), z.literal(false)])
    .default(fallback)
    .meta({ description: `${description} Default "${fallback}"; false leaves it out.` });

export const securityHeadersSchema = z
  .strictObject({
    type: z.literal("security-headers"),
    hsts: z
      .union([
        z.strictObject({
          maxAge: z.number().int().min(0).default(31536000).meta({ description: "max-age in seconds (default one year)." }),
          includeSubDomains: z.boolean().default(true).meta({ description: "Add includeSubDomains (default true)." }),
          preload: z.boolean().default(false).meta({ description: "Add preload (default false; only once the domain is submitted to the preload list)." }),
          force: z.boolean().default(false).meta({ description: "Send it on plain-http requests too (default false: browsers ignore it there; use behind a TLS-terminating proxy)." }),
        }),
        z.literal(false),
      ])
      .prefault({})
      .meta({ description: "Strict-Transport-Security, sent on https requests; false leaves it out." }),
    contentTypeOptions: valueOrOff("nosniff", "X-Content-Type-Options."),
    frameOptions: valueOrOff("DENY", "X-Frame-Options (DENY or SAMEORIGIN)."),
    referrerPolicy: valueOrOff("strict-origin-when-cross-origin", "Referrer-Policy."),
    crossOriginOpenerPolicy: valueOrOff("same-origin", "Cross-Origin-Opener-Policy."),
    permissionsPolicy: valueOrOff("camera=(), microphone=(), geolocation=()", "Permissions-Policy."),
    contentSecurityPolicy: z
      .string()
      .regex(/^[\t\x20-\x7e]+$/, { message: "header values are visible ASCII, without CR/LF" })
      .optional()
      .meta({ description: "Content-Security-Policy value, e.g. \"default-src 'self'\"; none by default (a CSP has to fit the site)." }),
    contentSecurityPolicyReportOnly: z
      .boolean()
      .default(false)
      .meta({ description: "Send the CSP as Content-Security-Policy-Report-Only (browsers report violations, block nothing)." }),
    override: z.boolean().default(false).meta({ description: "Replace the values the backend set (default false: a header the backend sent is kept)." }),
  })
  .meta({ description: "Add the OWASP-recommended security response headers (HSTS, nosniff, frame options, referrer policy, COOP, permissions policy, CSP)." });
