import fs from "node:fs";
import type { Command } from "commander";
import { fail } from "./common.js";

export function registerReload(program: Command): void {
  program
    .command("reload")
    .description("make a running `divisor start --pid-file FILE` reload its configuration (sends it SIGHUP)")
    .requiredOption("--pid-file <file>", "the pid file the running gateway wrote")
    .action((opts: { pidFile: string }) => {
      let pid: number;
      try {
        pid = Number(fs.readFileSync(opts.pidFile, "utf8").trim());
      } catch (err) {
        fail(new Error(`cannot read the pid file ${opts.pidFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; is the gateway running with --pid-file?`));
      }
      if (!Number.isInteger(pid) || pid <= 0) fail(new Error(`the pid file ${opts.pidFile} does not hold a process id`));
      try {
        process.kill(pid, "SIGHUP");
      } catch {
        fail(new Error(`no process ${pid} is running (stale pid file ${opts.pidFile})`));
      }
      process.stdout.write(`sent SIGHUP to ${pid}: it reloads its configuration\n`);
    });
}
