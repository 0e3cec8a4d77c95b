import type { z } from "zod";
import type { builtinMiddlewareSchemas } from "../../config/schema.js";
import { definePlugin } from "../plugin.js";

type Options = z.output<(typeof builtinMiddlewareSchemas)["rewrite-path"]>;

/**
 * `type: rewrite-path` — rewrite the path with a regular expression before
 * proxying. The result must still start with "/" (otherwise the original is kept).
 *
 * @example
 * middlewares:
 *   v1-to-v2: { type: rewrite-path, regex: "^/v1/(.*)", replacement: "/v2/$1" }
 */
export const rewritePathPlugin = definePlugin<Options>({
  name: "rewrite-path",
  create({ regex, replacement }) {
    const re = new RegExp(regex);
    return {
      onRequest(ex) {
        const next = ex.request.path.replace(re, replacement);
        if (next.startsWith("/")) ex.request.path = next;
      },
    };
  },
});
