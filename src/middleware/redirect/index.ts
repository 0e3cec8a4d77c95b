import type { z } from "zod";
import type { builtinMiddlewareSchemas } from "../../config/schema.js";
import { definePlugin } from "../plugin.js";

type Options = z.output<(typeof builtinMiddlewareSchemas)["redirect"]>;

/**
 * `type: redirect` — answer with a redirect instead of proxying: change the scheme,
 * the host, and/or rewrite path+query with a regular expression.
 *
 * @example
 * middlewares:
 *   to-https: { type: redirect, scheme: https, status: 308 }
 *   old-docs: { type: redirect, regex: "^/docs/(.*)", replacement: "https://docs.example.com/$1", status: 301 }
 */
export const redirectPlugin = definePlugin<Options>({
  name: "redirect",
  create({ status, scheme, host, regex, replacement }) {
    const re = regex === undefined ? null : new RegExp(regex);
    return {
      onRequest(ex) {
        const req = ex.request;
        const hostHeader = req.headers.get("host") ?? req.host;
        let location = `${scheme ?? req.scheme}://${host ?? hostHeader}${req.path}${req.query}`;
        if (re !== null) {
          const pathAndQuery = req.path + req.query;
          const rewritten = pathAndQuery.replace(re, replacement!);
          location = /^[a-z][a-z0-9+.-]*:\/\//i.test(rewritten) ? rewritten : `${scheme ?? req.scheme}://${host ?? hostHeader}${rewritten}`;
        }
        return ex.respond(status, "", { Location: location });
      },
    };
  },
});
