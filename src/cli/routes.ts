import type { Command } from "commander";
import type { RouteTarget } from "../exchange/types.js";
import { dirname, resolve } from "node:path";
import { compileRuntime } from "../gateway/runtime.js";
import { loadPluginsOffline } from "../middleware/plugin-loader.js";
import { formatRouteTable } from "../router/format.js";
import { BackendRegistry } from "../service/service.js";
import { configPath, fail, loadWithKubernetesOrExit } from "./common.js";

export function describeTarget(target: unknown): string {
  const t = target as RouteTarget;
  const mws = t.middlewareNames.length > 0 ? ` via ${t.middlewareNames.join(" > ")}` : "";
  const to = t.split !== null ? `split ${t.split.arms.map((a) => `${a.service}:${a.weight}`).join(" ")}` : (t.service?.name ?? "(no service)");
  return `${to}${mws}`;
}

export function registerRoutes(program: Command): void {
  program
    .command("routes")
    .description("print the compiled router table in precedence order")
    .option("-c, --config <file>", "configuration file (default: the bundled default config)")
    .option("--kubernetes <path>", "also route what the kubernetes provider makes of these manifests (a YAML file or directory of Services, EndpointSlices, Ingresses, Gateways, HTTPRoutes...)")
    .action(async (opts: { config?: string; kubernetes?: string }) => {
      const path = configPath(opts.config);
      const config = await loadWithKubernetesOrExit(path, opts.kubernetes);
      // Plugin middlewares compile as stand-ins: the table is shown, no plugin code runs.
      const plugins = await loadPluginsOffline(config.plugins, dirname(resolve(path))).catch(fail);
      const registry = new BackendRegistry();
      try {
        const runtime = compileRuntime(config, registry, plugins.byName, new Set());
        process.stdout.write(`${formatRouteTable(runtime.routers, describeTarget)}\n`);
      } catch (err) {
        fail(err);
      } finally {
        registry.destroyAll();
        await plugins.release();
      }
    });
}
