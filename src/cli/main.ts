#!/usr/bin/env node
import { Command } from "commander";
import { VERSION } from "../observability/version.js";
import { registerDebug } from "./debug.js";
import { registerExplain } from "./explain.js";
import { registerProviders } from "./providers.js";
import { registerReload } from "./reload.js";
import { registerRoutes } from "./routes.js";
import { registerSchema } from "./schema.js";
import { registerSplit } from "./split.js";
import { registerStart } from "./start.js";
import { registerValidate } from "./validate.js";

const program = new Command();
program
  .name("divisor")
  .description("Divisor: a TypeScript-native load balancer and API gateway")
  .version(VERSION, "-v, --version")
  .showHelpAfterError("(run with --help for usage)");
registerStart(program);
registerReload(program);
registerValidate(program);
registerSchema(program);
registerRoutes(program);
registerExplain(program);
registerDebug(program);
registerSplit(program);
registerProviders(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`divisor: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
