import { pino, type Logger } from "pino";

/**
 * The gateway's structured logger: one JSON object per line on stdout, written
 * synchronously so lines keep their order and none is lost at process.exit
 * (these are lifecycle lines, not per-request ones).
 */
export function createLogger(level = process.env.DIVISOR_LOG_LEVEL ?? "info"): Logger {
  return pino({ name: "divisor", level, base: { pid: process.pid } }, pino.destination({ dest: 1, sync: true }));
}

export type { Logger };
