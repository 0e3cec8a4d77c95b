import { createRequire } from "node:module";
import { type DestinationStream, type Logger, pino } from "pino";
import type { LoggingConfig, LogLevel } from "../config/schema-observability.js";

export interface LoggerOptions {
  /** Level of the root logger (components set their own). Default: DIVISOR_LOG_LEVEL or "info". */
  level?: LogLevel | string;
  /** auto (pretty on a terminal), json or pretty. Default: auto. */
  format?: LoggingConfig["format"];
  /** Where lines go (for tests); default: stdout, written synchronously. */
  destination?: DestinationStream;
}

/** Whether `format` means readable text on this process's stdout. */
export function wantsPretty(format: LoggingConfig["format"] = "auto"): boolean {
  return format === "pretty" || (format === "auto" && process.stdout.isTTY === true);
}

/**
 * The gateway's structured logger: one JSON object per line on stdout, written
 * synchronously so lines keep their order and none is lost at process.exit
 * (these are lifecycle and state-change lines, not per-request ones; the access
 * log has its own asynchronous destination). Readable text instead when `format`
 * asks for it (pino-pretty, loaded only then).
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? process.env.DIVISOR_LOG_LEVEL ?? "info";
  const base = { name: "divisor", level, base: { pid: process.pid } };
  if (options.destination !== undefined) return pino(base, options.destination);
  if (wantsPretty(options.format)) {
    // Loaded from node_modules at run time, so neither the library nor the CLI bundle carries it when unused.
    const { prettyFactory } = createRequire(import.meta.url)("pino-pretty") as { prettyFactory: (o: object) => (line: string) => string };
    const prettify = prettyFactory({
      colorize: process.stdout.isTTY === true,
      singleLine: true,
      ignore: "pid,hostname,name,component",
      messageFormat: "{if component}{component}: {end}{msg}",
      translateTime: "SYS:HH:MM:ss.l",
    });
    // Formatted and written in the log call itself (pino-pretty's own stream would queue lines
    // across ticks and lose the last ones at process.exit).
    const out = pino.destination({ dest: 1, sync: true });
    return pino(base, { write: (line: string) => out.write(prettify(line)) });
  }
  return pino(base, pino.destination({ dest: 1, sync: true }));
}

export type { Logger };
