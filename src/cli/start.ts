import fs from "node:fs";
import type { Command } from "commander";
import { loadConfigFile } from "../config/load.js";
import { createGateway, type Gateway } from "../gateway/gateway.js";
import { createLogger } from "../observability/logger.js";
import { configPath, fail, loadOrExit } from "./common.js";

interface StartOptions {
  config?: string;
  watch?: boolean;
}

export function registerStart(program: Command): void {
  program
    .command("start")
    .description("run the gateway (SIGHUP or --watch reloads the config; SIGTERM/SIGINT stop it gracefully)")
    .option("-c, --config <file>", "configuration file (default: the bundled default config with demo backends)")
    .option("-w, --watch", "reload when the configuration file changes")
    .action(async (opts: StartOptions) => {
      const path = configPath(opts.config);
      const log = createLogger();
      const config = await loadOrExit(path);
      let gateway: Gateway;
      try {
        gateway = createGateway(config, { source: path });
        const bound = await gateway.listen();
        for (const b of bound) log.info({ listener: b.name, address: `${b.address}:${b.port}` }, `listening on http://${b.address}:${b.port}`);
        log.info({ config: path }, "gateway started");
      } catch (err) {
        fail(err);
      }

      let reloading = Promise.resolve();
      const reload = (reason: string) => {
        reloading = reloading.then(async () => {
          try {
            await gateway.reload(await loadConfigFile(path));
            log.info({ config: path, reason }, "configuration reloaded");
          } catch (err) {
            log.error({ config: path, reason, err: err instanceof Error ? err.message : String(err) }, "reload refused; the previous configuration stays in force");
          }
        });
      };
      process.on("SIGHUP", () => reload("SIGHUP"));
      if (opts.watch) {
        let timer: NodeJS.Timeout | undefined;
        fs.watch(path, () => {
          clearTimeout(timer);
          timer = setTimeout(() => reload("file changed"), 100);
        });
      }

      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) {
          log.warn({ signal }, "second signal: exiting now");
          process.exit(1);
        }
        stopping = true;
        log.info({ signal, gracePeriodMs: gateway.config.shutdown.gracePeriod }, "stopping: finishing in-flight requests");
        gateway.close().then(
          () => {
            log.info("stopped");
            process.exit(0);
          },
          (err) => {
            log.error({ err: String(err) }, "error while stopping");
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
    });
}
