import type { z } from "zod";
import type { builtinMiddlewareSchemas } from "../../config/schema.js";
import type { HeaderList } from "../../http1/headers.js";
import { definePlugin } from "../plugin.js";

type Options = z.output<(typeof builtinMiddlewareSchemas)["headers"]>;
type Ops = NonNullable<Options["request"]>;

interface CompiledOps {
  set: [string, string][];
  add: [string, string][];
  remove: string[];
}

function compileOps(ops: Ops | undefined): CompiledOps | null {
  if (ops === undefined) return null;
  return { set: Object.entries(ops.set ?? {}), add: Object.entries(ops.add ?? {}), remove: ops.remove ?? [] };
}

function apply(ops: CompiledOps, headers: HeaderList): void {
  for (const name of ops.remove) headers.delete(name);
  for (const [name, value] of ops.set) headers.set(name, value);
  for (const [name, value] of ops.add) headers.add(name, value);
}

/**
 * `type: headers` — set, add or remove headers on the request to the backend and on
 * the response to the client. Removal runs first, then set, then add.
 *
 * @example
 * middlewares:
 *   api-headers:
 *     type: headers
 *     request: { set: { x-env: prod }, remove: [x-debug] }
 *     response: { remove: [server] }
 */
export const headersPlugin = definePlugin<Options>({
  name: "headers",
  create(options) {
    const request = compileOps(options.request);
    const response = compileOps(options.response);
    return {
      onUpstreamRequest: request === null ? undefined : (_ex, head) => apply(request, head.headers),
      onResponse: response === null ? undefined : (_ex, head) => apply(response, head.headers),
    };
  },
});
