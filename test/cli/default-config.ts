import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { freePort } from "../helpers/net.js";

const DEFAULT_CONFIG = resolve(import.meta.dirname, "../../defaults/divisor.yaml");

/**
 * Writes the bundled default config (listener :8080, demo backends :9001-9003, admin
 * :9901) to dir/name with free ports instead; returns the file and the ports (listener
 * first, admin last).
 */
export async function defaultConfigOnFreePorts(dir: string, name: string): Promise<{ file: string; ports: number[] }> {
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const file = join(dir, name);
  writeFileSync(
    file,
    readFileSync(DEFAULT_CONFIG, "utf8")
      .replaceAll("127.0.0.1:8080", `127.0.0.1:${ports[0]}`)
      .replaceAll("127.0.0.1:9001", `127.0.0.1:${ports[1]}`)
      .replaceAll("127.0.0.1:9002", `127.0.0.1:${ports[2]}`)
      .replaceAll("127.0.0.1:9003", `127.0.0.1:${ports[3]}`)
      .replaceAll("127.0.0.1:9901", `127.0.0.1:${ports[4]}`),
  );
  return { file, ports };
}
