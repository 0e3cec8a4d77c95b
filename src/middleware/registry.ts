import type { MiddlewareConfig } from "../config/schema.js";
import { pino } from "pino";
import { ConfigError } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { NO_PLUGIN_METRICS, type PluginMetrics } from "../observability/metrics/plugin-metrics.js";
import { apiKeyPlugin } from "./api-key/index.js";
import { basicAuthPlugin } from "./basic-auth/index.js";
import { cachePlugin } from "./cache/index.js";
import { forwardAuthPlugin } from "./forward-auth/index.js";
import { faultPlugin } from "./fault/index.js";
import { headersPlugin } from "./headers/index.js";
import { jwtPlugin } from "./jwt/index.js";
import { luaPlugin } from "./lua/index.js";
import { compressPlugin } from "./compress/index.js";
import { corsPlugin } from "./cors/index.js";
import { ipFilterPlugin } from "./ip-filter/index.js";
import { clientCertPlugin } from "./client-cert/index.js";
import type { Middleware, Plugin, PluginContext } from "./plugin.js";
import { mirrorPlugin } from "./mirror/index.js";
import { rateLimitPlugin } from "./rate-limit/index.js";
import { redirectPlugin } from "./redirect/index.js";
import { securityHeadersPlugin } from "./security-headers/index.js";
import { rewritePathPlugin } from "./rewrite-path/index.js";
import { stripPrefixPlugin } from "./strip-prefix/index.js";
import { validatePluginOptions } from "./plugin-options.js";
import { CLOSED_UPSTREAM_CLIENT, type UpstreamClient } from "./upstream-client.js";

/** Built-in middlewares by `type`; each is a plugin on the public interface. */
const BUILTINS: Record<string, { create(options: never, context: PluginContext): Middleware }> = {
  headers: headersPlugin,
  "strip-prefix": stripPrefixPlugin,
  "rewrite-path": rewritePathPlugin,
  redirect: redirectPlugin,
  "rate-limit": rateLimitPlugin,
  "basic-auth": basicAuthPlugin,
  "api-key": apiKeyPlugin,
  jwt: jwtPlugin,
  "forward-auth": forwardAuthPlugin,
  "ip-filter": ipFilterPlugin,
  "security-headers": securityHeadersPlugin,
  cors: corsPlugin,
  fault: faultPlugin,
  mirror: mirrorPlugin,
  "client-cert": clientCertPlugin,
  cache: cachePlugin,
  compress: compressPlugin,
  lua: luaPlugin,
};

const SILENT: Logger = pino({ level: "silent" });

/** Instantiate one configured middleware; `plugins` are the user's, by name. */
export function createMiddleware(
  name: string,
  config: MiddlewareConfig,
  plugins: ReadonlyMap<string, Plugin<unknown>>,
  metrics: PluginMetrics = NO_PLUGIN_METRICS,
  state: Map<string | symbol, unknown> = new Map(),
  upstream: UpstreamClient = CLOSED_UPSTREAM_CLIENT,
  log: Logger = SILENT,
): Middleware {
  const where = `middlewares.${name}`;
  const context: PluginContext = { name, metrics, state, upstream, log };
  if (config.type === "plugin") {
    const plugin = plugins.get(config.plugin);
    if (plugin === undefined) {
      const known = [...plugins.keys()];
      throw new ConfigError([
        {
          file: "<config>",
          line: 0,
          column: 0,
          path: `${where}.plugin`,
          message: `no plugin named "${config.plugin}" is loaded (${known.length === 0 ? "none are" : `loaded: ${known.join(", ")}`}); add it to the config's plugins: [{ name: ${config.plugin}, from: <file or package> }], or pass it to createGateway(config, { plugins: [...] })`,
        },
      ]);
    }
    const options = validatePluginOptions(plugin.schema, config.options, where, "<config>");
    return plugin.create(options, context);
  }
  return BUILTINS[config.type]!.create(config as never, context);
}
