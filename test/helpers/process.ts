import type { ChildProcess } from "node:child_process";

/** Everything a child process writes on stdout and stderr, so far. */
export function outputOf(child: ChildProcess): () => string {
  let out = "";
  child.stdout?.on("data", (d) => {
    out += d;
  });
  child.stderr?.on("data", (d) => {
    out += d;
  });
  return () => out;
}

/** Poll `cond` until it holds; throws naming `what` after `timeoutMs`. */
export async function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** The child's exit code, once it has exited. */
export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => (child.exitCode !== null ? r(child.exitCode) : child.once("exit", (code) => r(code))));
}

/** The child's exit code once it has exited and its stdout and stderr are read to the end. */
export function finished(child: ChildProcess): Promise<number | null> {
  return new Promise((r) => {
    if (child.exitCode !== null && child.stdout?.readableEnded !== false && child.stderr?.readableEnded !== false) r(child.exitCode);
    else child.once("close", (code) => r(code));
  });
}
