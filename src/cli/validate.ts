import type { Command } from "commander";
import { compileRuntime } from "../gateway/runtime.js";
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
      try {
        // Compiling catches what the schema can't: bad regexes, ambiguous routers, unknown plugins.
        compileRuntime(config, registry, new Map(), new Set());
        // And what a start would: every certificate file is read and its key checked.
        loadListenerCertificates(config.listeners, path);
      } catch (err) {
        fail(err);
      } finally {
        registry.destroyAll();
      }
      process.stdout.write(`${path}: valid (${config.listeners.length} listener(s), ${Object.keys(config.services).length} service(s), ${Object.keys(config.routers).length} router(s), ${Object.keys(config.tenants).length} tenant(s))${config.providers.length === 0 ? "" : `; ${config.providers.length} provider(s) checked, not contacted`}\n`);
    });
}
