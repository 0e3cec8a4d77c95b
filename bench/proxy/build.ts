/** Makes sure dist/ holds a build of the current src/ before Divisor is measured. */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { DIVISOR_MAIN } from "./targets.js";

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** Whether Divisor can be run, and why not. */
export type BuildResult = { readonly ok: true; readonly note?: string } | { readonly ok: false; readonly reason: string };

/**
 * Runs `npm run build` when dist/cli/main.js is missing or older than a file in src/.
 * A build with type errors that still emitted main.js is used, with a note.
 */
export function ensureDivisorBuilt(root: string, log: (line: string) => void): BuildResult {
  if (!existsSync(join(root, "src/cli/main.ts"))) return { ok: false, reason: "src/cli/main.ts does not exist yet (no CLI to start)" };
  const main = join(root, DIVISOR_MAIN);
  if (existsSync(main) && statSync(main).mtimeMs >= newestMtime(join(root, "src"))) return { ok: true };
  log("dist/ is missing or older than src/: running npm run build");
  const r = spawnSync("npm", ["run", "--silent", "build"], { cwd: root, encoding: "utf8" });
  if (r.status === 0) return { ok: true };
  const output = `${r.stdout}${r.stderr}`.trim().split("\n").slice(0, 10).join("\n");
  if (existsSync(main) && statSync(main).mtimeMs >= newestMtime(join(root, "src"))) {
    return { ok: true, note: `npm run build reported errors but emitted ${DIVISOR_MAIN}; measuring it anyway:\n${output}` };
  }
  return { ok: false, reason: `npm run build failed:\n${output}` };
}
