import type { z } from "zod";
import { definePlugin } from "../plugin.js";
import type { corsSchema } from "./schema.js";

type Options = z.output<typeof corsSchema>;
type Rule = Options["rules"][number];

/** A rule with its headers prepared once. */
interface CompiledRule {
  readonly star: boolean;
  readonly credentials: boolean;
  readonly methods: ReadonlySet<string>;
  /** Lowercased allowed request headers, or null for "whatever the browser asks". */
  readonly allowHeaders: ReadonlySet<string> | null;
  readonly allowMethodsValue: string;
  readonly allowHeadersValue: string | null;
  readonly exposeValue: string | null;
  readonly maxAgeValue: string;
}

function compileRule(rule: Rule): CompiledRule {
  return {
    star: rule.origins.includes("*"),
    credentials: rule.credentials,
    methods: new Set(rule.methods.map((m) => m.toUpperCase())),
    allowHeaders: rule.allowHeaders === undefined ? null : new Set(rule.allowHeaders.map((h) => h.toLowerCase())),
    allowMethodsValue: rule.methods.join(", "),
    allowHeadersValue: rule.allowHeaders === undefined ? null : rule.allowHeaders.join(", "),
    exposeValue: rule.exposeHeaders.length === 0 ? null : rule.exposeHeaders.join(", "),
    maxAgeValue: String(rule.maxAge),
  };
}

/** Origin → rule lookup: exact origins in a map, wildcards as scheme prefix + host suffix, then "*". */
class OriginTable {
  private readonly exact = new Map<string, CompiledRule>();
  private readonly wildcards: { prefix: string; suffix: string; rule: CompiledRule }[] = [];
  private any: CompiledRule | null = null;

  constructor(rules: readonly Rule[]) {
    for (const rule of rules) {
      const compiled = compileRule(rule);
      for (const origin of rule.origins) {
        const lower = origin.toLowerCase();
        const star = lower.indexOf("://*.");
        if (lower === "*") this.any ??= compiled;
        else if (star !== -1) this.wildcards.push({ prefix: lower.slice(0, star + 3), suffix: lower.slice(star + 4), rule: compiled });
        else if (!this.exact.has(lower)) this.exact.set(lower, compiled);
      }
    }
  }

  find(origin: string): CompiledRule | null {
    const lower = origin.toLowerCase();
    const exact = this.exact.get(lower);
    if (exact !== undefined) return exact;
    for (let i = 0; i < this.wildcards.length; i++) {
      const w = this.wildcards[i]!;
      // "https://*.example.com" matches "https://a.example.com" (at least one label), not "https://example.com".
      if (lower.length > w.prefix.length + w.suffix.length && lower.startsWith(w.prefix) && lower.endsWith(w.suffix)) return w.rule;
    }
    return this.any;
  }
}

const VARY_PREFLIGHT = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

/**
 * `type: cors` — cross-origin resource sharing. Preflights (OPTIONS with
 * Access-Control-Request-Method) are answered by the gateway with 204 and never
 * proxied; responses to an allowed Origin get the CORS headers; a disallowed
 * origin gets none (and its preflight a 403). Every response varies on Origin.
 *
 * @example
 * middlewares:
 *   api-cors:
 *     type: cors
 *     rules:
 *       - { origins: ["https://app.example.com", "https://*.example.com"], credentials: true, exposeHeaders: [x-request-id] }
 *       - { origins: ["*"], methods: [GET] }
 */
export const corsPlugin = definePlugin<Options>({
  name: "cors",
  create(options, { metrics }) {
    const table = new OriginTable(options.rules);
    const requests = metrics.counter("divisor_cors_requests", "Cross-origin requests seen by a cors middleware, by kind (preflight, actual, rejected_preflight, rejected).", ["kind"]);
    const preflight = requests.labels("preflight");
    const actual = requests.labels("actual");
    const rejectedPreflight = requests.labels("rejected_preflight");
    const rejected = requests.labels("rejected");
    return {
      onRequest(ex) {
        const headers = ex.request.headers;
        const origin = headers.get("origin");
        if (origin === undefined) return undefined;
        const rule = table.find(origin);
        const wantedMethod = ex.request.method === "OPTIONS" ? headers.get("access-control-request-method") : undefined;
        if (wantedMethod === undefined) {
          (rule === null ? rejected : actual).inc();
          return undefined;
        }
        const wantedHeaders = headers.get("access-control-request-headers");
        if (rule === null || !rule.methods.has(wantedMethod.toUpperCase()) || !headersAllowed(rule, wantedHeaders)) {
          rejectedPreflight.inc();
          return ex.respond(403, "CORS preflight refused\n", { "content-type": "text/plain; charset=utf-8", vary: VARY_PREFLIGHT });
        }
        preflight.inc();
        const answer: Record<string, string> = {
          "access-control-allow-origin": rule.star && !rule.credentials ? "*" : origin,
          "access-control-allow-methods": rule.allowMethodsValue,
          "access-control-max-age": rule.maxAgeValue,
          vary: VARY_PREFLIGHT,
        };
        const allowHeaders = rule.allowHeadersValue ?? wantedHeaders;
        if (allowHeaders !== undefined && allowHeaders !== "") answer["access-control-allow-headers"] = allowHeaders;
        if (rule.credentials) answer["access-control-allow-credentials"] = "true";
        return ex.respond(204, "", answer);
      },
      onResponse(ex, head) {
        const out = head.headers;
        out.add("vary", "Origin");
        const origin = ex.request.headers.get("origin");
        if (origin === undefined) return;
        const rule = table.find(origin);
        if (rule === null) return;
        out.set("access-control-allow-origin", rule.star && !rule.credentials ? "*" : origin);
        if (rule.credentials) out.set("access-control-allow-credentials", "true");
        if (rule.exposeValue !== null) out.set("access-control-expose-headers", rule.exposeValue);
      },
    };
  },
});

/** Every header named in Access-Control-Request-Headers is allowed by the rule. */
function headersAllowed(rule: CompiledRule, wanted: string | undefined): boolean {
  if (rule.allowHeaders === null || wanted === undefined) return true;
  let start = 0;
  while (start <= wanted.length) {
    let end = wanted.indexOf(",", start);
    if (end === -1) end = wanted.length;
    const name = wanted.slice(start, end).trim().toLowerCase();
    if (name !== "" && !rule.allowHeaders.has(name)) return false;
    start = end + 1;
  }
  return true;
}
