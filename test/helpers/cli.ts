/** Running the built `divisor` command in tests: its output, its exit, waiting on it. */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { exited, outputOf, until } from "./process.js";

export const ROOT = resolve(import.meta.dirname, "../..");
/** The built command (npm run build; scripts/test.sh builds before testing). */
export const BIN = join(ROOT, "dist/cli/divisor.cjs");

export function assertBuilt(): void {
  if (!existsSync(BIN)) throw new Error("dist/cli/divisor.cjs is missing: run npm run build first (scripts/test.sh does)");
}

/** Everything the child writes on stdout and stderr so far. */
export const logsOf = outputOf;
export { exited, until };

/** `divisor start ARGS` from the built command, its output collected; `detached` makes it lead its own process group (see ownGroup). */
export function startBuilt(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  options: { detached?: boolean } = {},
): { child: ChildProcess; logs: () => string } {
  assertBuilt();
  const child = spawn(BIN, ["start", ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"], detached: options.detached === true });
  return { child, logs: logsOf(child) };
}

/** Run the built command to its end: exit code, stdout, stderr. */
export function runBuilt(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; out: string; err: string }> {
  assertBuilt();
  return new Promise((r) =>
    execFile(BIN, args, { cwd: options.cwd ?? ROOT, env: options.env ?? process.env }, (err, out, stderr) =>
      r({ code: err === null ? 0 : typeof err.code === "number" ? err.code : 1, out, err: stderr }),
    ),
  );
}
