import type { Command } from "commander";
import { dirname, resolve } from "node:path";
import { compileRuntime } from "../gateway/runtime.js";
import { loadPluginsOffline } from "../middleware/plugin-loader.js";
import { loadListenerCertificates } from "../listener/listener.js";
import { BackendRegistry } from "../service/service.js";
import { configPath, fail, loadOrExit } from "./common.js";

export function registerValidate(program: Command): void {
  program
    .command("validate")
    .description("check a configuration file and exit 0 when it is valid, 1 with the problems when not")
    .option("-c, --config <file>", "configuration file (default: the bundled default config)")
    .action(async (opts: { config?: string }) => {
      const path = configPath(opts.config);
      const config = await loadOrExit(path);
      const registry = new BackendRegistry();
      // Each plugin is imported and its export checked; its schema checks the options below.
      // Neither init nor create runs: the middlewares are stand-ins with the plugins' schemas.
      const plugins = await loadPluginsOffline(config.plugins, dirname(resolve(path))).catch(fail);
      try {
        // Compiling catches what the schema can't: bad regexes, ambiguous routers, unknown plugins, plugin options.
        compileRuntime(config, registry, plugins.byName, new Set());
        // And what a start would: every certificate file is read and its key checked.
        loadListenerCertificates(config.listeners, path);
      } catch (err) {
        fail(err);
      } finally {
        registry.destroyAll();
        await plugins.release();
      }
      const loaded = config.plugins.length === 0 ? "" : `, ${config.plugins.length} plugin(s) imported and their options checked (init not run)`;
      const providers = config.providers.length === 0 ? "" : `; ${config.providers.length} provider(s) checked, not contacted`;
      process.stdout.write(`${path}: valid (${config.listeners.length} listener(s), ${Object.keys(config.services).length} service(s), ${Object.keys(config.routers).length} router(s), ${Object.keys(config.tenants).length} tenant(s)${loaded})${providers}\n`);
    });
}
