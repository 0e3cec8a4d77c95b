import type { MiddlewareConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { NO_PLUGIN_METRICS, type PluginMetrics } from "../observability/metrics/plugin-metrics.js";
import { faultPlugin } from "./fault/index.js";
import { headersPlugin } from "./headers/index.js";
import type { Middleware, Plugin, PluginContext } from "./plugin.js";
import { redirectPlugin } from "./redirect/index.js";
import { rewritePathPlugin } from "./rewrite-path/index.js";
import { stripPrefixPlugin } from "./strip-prefix/index.js";

/** Built-in middlewares by `type`; each is a plugin on the public interface. */
const BUILTINS: Record<string, { create(options: never, context: PluginContext): Middleware }> = {
  headers: headersPlugin,
  "strip-prefix": stripPrefixPlugin,
  "rewrite-path": rewritePathPlugin,
  redirect: redirectPlugin,
  fault: faultPlugin,
};

/** Instantiate one configured middleware; `plugins` are the user's, by name. */
export function createMiddleware(name: string, config: MiddlewareConfig, plugins: ReadonlyMap<string, Plugin<unknown>>, metrics: PluginMetrics = NO_PLUGIN_METRICS): Middleware {
  const where = `middlewares.${name}`;
  const context: PluginContext = { name, metrics };
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
          message: `no plugin named "${config.plugin}" is registered (${known.length === 0 ? "none are" : `registered: ${known.join(", ")}`}); pass it to createGateway(config, { plugins: [...] })`,
        },
      ]);
    }
    let options: unknown = config.options;
    if (plugin.schema !== undefined) {
      const parsed = plugin.schema.safeParse(config.options ?? {});
      if (!parsed.success) {
        throw new ConfigError(
          parsed.error.issues.map((issue) => ({
            file: "<config>",
            line: 0,
            column: 0,
            path: [`${where}.options`, ...issue.path.map(String)].join("."),
            message: issue.message,
          })),
        );
      }
      options = parsed.data;
    }
    return plugin.create(options, context);
  }
  return BUILTINS[config.type]!.create(config as never, context);
}
