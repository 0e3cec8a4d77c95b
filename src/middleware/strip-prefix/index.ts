import type { z } from "zod";
import type { builtinMiddlewareSchemas } from "../../config/schema.js";
import { definePlugin } from "../plugin.js";

type Options = z.output<(typeof builtinMiddlewareSchemas)["strip-prefix"]>;

/** The part of `path` after `prefix` when prefix matches at a segment boundary, else undefined. */
export function stripPrefix(path: string, prefix: string): string | undefined {
  const p = prefix.endsWith("/") && prefix.length > 1 ? prefix.slice(0, -1) : prefix;
  if (!path.startsWith(p)) return undefined;
  if (path.length === p.length) return "/";
  if (p === "/") return path;
  if (path.charCodeAt(p.length) !== 47 /* / */) return undefined;
  return path.slice(p.length);
}

/**
 * `type: strip-prefix` — remove the first matching prefix from the path before
 * proxying, and tell the backend what was removed in `X-Forwarded-Prefix`.
 *
 * @example
 * middlewares:
 *   strip-api: { type: strip-prefix, prefixes: [/api] }   # /api/users -> /users
 */
export const stripPrefixPlugin = definePlugin<Options>({
  name: "strip-prefix",
  create({ prefixes }) {
    const sorted = [...prefixes].sort((a, b) => b.length - a.length);
    return {
      onRequest(ex) {
        for (const prefix of sorted) {
          const rest = stripPrefix(ex.request.path, prefix);
          if (rest !== undefined) {
            ex.request.path = rest;
            ex.request.headers.set("X-Forwarded-Prefix", prefix.endsWith("/") && prefix.length > 1 ? prefix.slice(0, -1) : prefix);
            return;
          }
        }
      },
    };
  },
});
