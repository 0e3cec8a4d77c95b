import type { z } from "zod";
import type { HeaderList } from "../../http1/headers.js";
import { definePlugin } from "../plugin.js";
import type { securityHeadersSchema } from "./schema.js";

type Options = z.output<typeof securityHeadersSchema>;

/** Set each [name, value] unless the backend already sent the header (or always, with override). */
function apply(pairs: readonly (readonly [string, string])[], headers: HeaderList, override: boolean): void {
  for (let i = 0; i < pairs.length; i++) {
    const [name, value] = pairs[i]!;
    if (override || !headers.has(name)) headers.set(name, value);
  }
}

/**
 * `type: security-headers` — the OWASP secure-headers preset on every response:
 * Strict-Transport-Security (https only unless forced), X-Content-Type-Options,
 * X-Frame-Options, Referrer-Policy, Cross-Origin-Opener-Policy, Permissions-Policy
 * and an optional Content-Security-Policy. Each can be changed or turned off.
 *
 * @example
 * middlewares:
 *   secure: { type: security-headers, contentSecurityPolicy: "default-src 'self'", frameOptions: SAMEORIGIN }
 */
export const securityHeadersPlugin = definePlugin<Options>({
  name: "security-headers",
  create(options) {
    const pairs: [string, string][] = [];
    const add = (name: string, value: string | false) => {
      if (value !== false) pairs.push([name, value]);
    };
    add("x-content-type-options", options.contentTypeOptions);
    add("x-frame-options", options.frameOptions);
    add("referrer-policy", options.referrerPolicy);
    add("cross-origin-opener-policy", options.crossOriginOpenerPolicy);
    add("permissions-policy", options.permissionsPolicy);
    if (options.contentSecurityPolicy !== undefined) {
      add(options.contentSecurityPolicyReportOnly ? "content-security-policy-report-only" : "content-security-policy", options.contentSecurityPolicy);
    }
    const { hsts, override } = options;
    const withHsts: [string, string][] =
      hsts === false ? pairs : [...pairs, ["strict-transport-security", `max-age=${hsts.maxAge}${hsts.includeSubDomains ? "; includeSubDomains" : ""}${hsts.preload ? "; preload" : ""}`]];
    // Plain-http responses get HSTS only when forced (browsers ignore it there anyway).
    const plain = hsts !== false && hsts.force ? withHsts : pairs;
    return {
      onResponse(ex, head) {
        apply(ex.request.scheme === "https" ? withHsts : plain, head.headers, override);
      },
    };
  },
});
