import { fileURLToPath } from "node:url";
import { loadConfigFile } from "../config/load.js";
import type { DivisorConfig } from "../config/schema.js";
import { DivisorError } from "../errors.js";

/** The bundled default config: a listener on 127.0.0.1:8080 in front of three demo backends. */
export const DEFAULT_CONFIG_PATH = fileURLToPath(new URL("../../defaults/divisor.yaml", import.meta.url));

export function configPath(option: string | undefined): string {
  return option ?? DEFAULT_CONFIG_PATH;
}

export async function loadOrExit(path: string): Promise<DivisorConfig> {
  try {
    return await loadConfigFile(path);
  } catch (err) {
    fail(err);
  }
}

/** Print an error the way a user can act on it and exit 1. */
export function fail(err: unknown): never {
  if (err instanceof DivisorError) process.stderr.write(`divisor: ${err.message}\n`);
  else process.stderr.write(`divisor: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}
