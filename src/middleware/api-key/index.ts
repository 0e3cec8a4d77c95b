import type { z } from "zod";
import type { builtinMiddlewareSchemas } from "../../config/schema.js";
import { authDecisions, sha256 } from "../auth-shared.js";
import { definePlugin, type ExchangeRequest } from "../plugin.js";

type Options = z.output<(typeof builtinMiddlewareSchemas)["api-key"]>;

/** The value of query parameter `name` in `query` ("?a=1&b=2" or ""), or undefined. */
function queryValue(query: string, name: string): string | undefined {
  let start = 1;
  while (start < query.length) {
    let end = query.indexOf("&", start);
    if (end === -1) end = query.length;
    const eq = query.indexOf("=", start);
    if (eq !== -1 && eq < end && eq - start === name.length && query.startsWith(name, start)) {
      try {
        return decodeURIComponent(query.slice(eq + 1, end).replaceAll("+", " "));
      } catch {
        return undefined;
      }
    }
    start = end + 1;
  }
  return undefined;
}

/** `query` without parameter `name` (keeps the order of the others). */
function withoutParam(query: string, name: string): string {
  let out = "";
  let start = 1;
  while (start < query.length) {
    let end = query.indexOf("&", start);
    if (end === -1) end = query.length;
    const eq = query.indexOf("=", start);
    const keyEnd = eq !== -1 && eq < end ? eq : end;
    if (!(keyEnd - start === name.length && query.startsWith(name, start))) out += (out === "" ? "?" : "&") + query.slice(start, end);
    start = end + 1;
  }
  return out;
}

/**
 * `type: api-key` — require one of the configured keys in a header or a query
 * parameter. Keys are held as SHA-256 digests only; the key's name goes to the backend.
 *
 * @example
 * middlewares:
 *   partners:
 *     type: api-key
 *     keys:
 *       - { name: acme, key: "${ACME_API_KEY}" }
 *       - { name: globex, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 }
 */
export const apiKeyPlugin = definePlugin<Options>({
  name: "api-key",
  create(options, { metrics }) {
    const decisions = authDecisions(metrics);
    /** hex SHA-256 of a key → its name. A lookup by digest leaks nothing about the key through timing. */
    const names = new Map<string, string>();
    for (const k of options.keys) names.set(k.sha256?.toLowerCase() ?? sha256(k.key!).toString("hex"), k.name);
    const query = options.query ?? null;
    const header = options.header ?? (query === null ? "x-api-key" : null);
    const nameHeader = options.nameHeader;
    const removeKey = options.removeKey;
    const where = [header === null ? "" : `header ${header}`, query === null ? "" : `query parameter ${query}`].filter((s) => s !== "").join(" or ");
    const missingBody = `API key required (${where})\n`;

    function keyOf(req: ExchangeRequest): string | undefined {
      if (header !== null) {
        const v = req.headers.get(header);
        if (v !== undefined) return v;
      }
      if (query !== null && req.query.length > 1) return queryValue(req.query, query);
      return undefined;
    }

    return {
      onRequest(ex) {
        const req = ex.request;
        req.headers.delete(nameHeader);
        const key = keyOf(req);
        if (key === undefined || key === "") {
          decisions.missing.inc();
          return ex.respond(401, missingBody);
        }
        const name = names.get(sha256(key).toString("hex"));
        if (name === undefined) {
          decisions.invalid.inc();
          return ex.respond(401, "invalid API key\n");
        }
        decisions.allowed.inc();
        if (removeKey) {
          if (header !== null) req.headers.delete(header);
          if (query !== null && req.query.length > 1) req.query = withoutParam(req.query, query);
        }
        req.headers.set(nameHeader, name);
        return undefined;
      },
    };
  },
});
