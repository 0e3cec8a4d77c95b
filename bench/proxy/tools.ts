/** The external programs the bench needs, installed from Debian when missing. */
import { execFileSync, spawnSync } from "node:child_process";

// nghttp2-client: h2load, the load of the HTTP/2 rows (divisor-h2, nginx-h2, haproxy-h2).
const PACKAGES = ["wrk", "nginx-light", "haproxy", "nghttp2-client"];
const PROGRAMS = ["wrk", "nginx", "haproxy", "taskset", "h2load"];

function has(program: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${program}`], { stdio: "ignore" }).status === 0;
}

/**
 * Makes sure wrk, nginx, HAProxy, h2load and taskset are on PATH: runs
 * `apt-get update && apt-get install -y wrk nginx-light haproxy nghttp2-client` when one is missing.
 * Throws with what to do when that is impossible (not root, no apt, install failed).
 */
export function ensureTools(log: (line: string) => void): void {
  const missing = PROGRAMS.filter((p) => !has(p));
  if (missing.length === 0) return;
  const fix = `install them with: apt-get update && apt-get install -y ${PACKAGES.join(" ")} (taskset is in util-linux)`;
  if (process.getuid?.() !== 0) throw new Error(`missing ${missing.join(", ")}; not root, so the bench cannot install them: ${fix}`);
  if (!has("apt-get")) throw new Error(`missing ${missing.join(", ")} and there is no apt-get: ${fix}`);
  log(`missing ${missing.join(", ")}: running apt-get install -y ${PACKAGES.join(" ")}`);
  const script = `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${PACKAGES.join(" ")}`;
  const result = spawnSync("sh", ["-c", script], { stdio: ["ignore", "inherit", "inherit"] });
  const still = PROGRAMS.filter((p) => !has(p));
  if (result.status !== 0 || still.length > 0) {
    throw new Error(`apt-get install failed (exit ${result.status}); still missing: ${still.join(", ") || "none"}. ${fix}`);
  }
}

function firstLine(command: string, args: string[]): string {
  try {
    // nginx -v and wrk -v print to stderr; wrk also exits 1.
    const r = spawnSync(command, args, { encoding: "utf8" });
    return `${r.stdout}${r.stderr}`.trim().split("\n")[0] ?? "?";
  } catch {
    return "?";
  }
}

/** Versions of the programs in the run, for the report header. */
export function toolVersions(): Record<string, string> {
  const pick = (text: string, re: RegExp): string => re.exec(text)?.[1] ?? text;
  return {
    node: process.version,
    nginx: pick(firstLine("nginx", ["-v"]), /nginx\/(\S+)/),
    haproxy: pick(firstLine("haproxy", ["-v"]), /version (\S+)/),
    wrk: pick(firstLine("wrk", ["-v"]), /wrk (?:debian\/)?(\S+)/),
    h2load: pick(firstLine("h2load", ["--version"]), /nghttp2\/(\S+)/),
  };
}

/** Cores the machine has and its load averages, read before the run so noise can be judged. */
export function hostInfo(): { cores: number; loadAverage: string } {
  let cores = 0;
  try {
    cores = Number(execFileSync("nproc", { encoding: "utf8" }).trim());
  } catch {
    cores = 1;
  }
  let loadAverage = "?";
  try {
    const uptime = execFileSync("uptime", { encoding: "utf8" });
    loadAverage = /load averages?:\s*(.*)$/.exec(uptime.trim())?.[1] ?? uptime.trim();
  } catch {
    // no uptime
  }
  return { cores, loadAverage };
}
