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
    const pretty = createRequire(import.meta.url)("pino-pretty") as (o: object) => DestinationStream;
    const stream = pretty({
      destination: 1,
      sync: true,
      colorize: process.stdout.isTTY === true,
      singleLine: true,
      ignore: "pid,hostname,name,component",
      messageFormat: "{if component}{component}: {end}{msg}",
      translateTime: "SYS:HH:MM:ss.l",
    });
    return pino(base, stream);
  }
  return pino(base, pino.destination({ dest: 1, sync: true }));
}

export type { Logger };
