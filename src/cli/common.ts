import { fileURLToPath } from "node:url";
import { loadConfigFile } from "../config/load.js";
import type { DivisorConfig } from "../config/schema.js";
import { DivisorError } from "../errors.js";
import { loadKubernetesObjects, withKubernetesObjects } from "../providers/kubernetes/fixtures.js";

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

/**
 * The configuration, plus what the kubernetes provider would make of the objects in
 * `kubernetes` (a directory or file of YAML manifests), when given. Problems the
 * provider would report (and write into status) go to stderr.
 */
export async function loadWithKubernetesOrExit(path: string, kubernetes: string | undefined): Promise<DivisorConfig> {
  const config = await loadOrExit(path);
  if (kubernetes === undefined) return config;
  try {
    const { config: merged, translation } = withKubernetesObjects(config, loadKubernetesObjects(kubernetes), kubernetes);
    for (const p of translation.problems) process.stderr.write(`kubernetes: ${p.kind} ${p.object}: ${p.message}\n`);
    return merged;
  } catch (err) {
    if (err instanceof Error && !(err instanceof DivisorError)) fail(new DivisorError("ERR_KUBERNETES_FIXTURE", `${kubernetes}: ${err.message}`));
    fail(err);
  }
}
