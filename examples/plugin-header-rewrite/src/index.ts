/**
 * divisor-plugin-header-rewrite: the header rewrite most gateways do.
 *
 * - request: `x-api-version` defaults to "2" when the client sent none; `x-tenant`
 *   is set to the first label of the Host ("acme" for acme.example.com);
 * - response: `x-served-by: divisor` is set and `x-powered-by` removed.
 *
 * Use it from a Divisor config:
 *
 *   plugins:
 *     - { name: header-rewrite, from: divisor-plugin-header-rewrite }
 *   middlewares:
 *     rewrite: { type: plugin, plugin: header-rewrite, options: { servedBy: edge-1 } }
 */
// "divisor/plugin", not "divisor": the gateway loading this module then loads nothing more of Divisor.
import { definePlugin } from "divisor/plugin";
import { z } from "zod";

/** The options, validated by Divisor with this schema when the config is loaded. */
export const optionsSchema = z.strictObject({
  /** The version sent to the backend when the client names none. */
  defaultApiVersion: z.string().min(1).default("2"),
  /** Value of the response's `x-served-by`. */
  servedBy: z.string().min(1).default("divisor"),
  /** Response headers removed before the client sees them. */
  removeResponseHeaders: z.array(z.string().min(1)).default(["x-powered-by"]),
});

export type HeaderRewriteOptions = z.output<typeof optionsSchema>;

export default definePlugin({
  name: "header-rewrite",
  schema: optionsSchema,
  create({ defaultApiVersion, servedBy, removeResponseHeaders }) {
    return {
      onRequest(exchange) {
        const headers = exchange.request.headers;
        if (!headers.has("x-api-version")) headers.set("x-api-version", defaultApiVersion);
        const host = exchange.request.host;
        const dot = host.indexOf(".");
        headers.set("x-tenant", dot === -1 ? host : host.slice(0, dot));
      },
      onResponse(_exchange, head) {
        head.headers.set("x-served-by", servedBy);
        for (const name of removeResponseHeaders) head.headers.delete(name);
      },
    };
  },
});
