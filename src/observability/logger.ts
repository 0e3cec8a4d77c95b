import { pino, type Logger } from "pino";

/** The gateway's structured logger: one JSON object per line on stdout. */
export function createLogger(level = process.env.DIVISOR_LOG_LEVEL ?? "info"): Logger {
  return pino({ name: "divisor", level, base: { pid: process.pid } });
}

export type { Logger };
