import { type ChildProcess, execFileSync } from "node:child_process";

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

const groups = new Set<ChildProcess>();

/**
 * Remember a child spawned with `detached: true` (so it leads its own process group) for
 * {@link killGroups}. A test that times out never reaches its `finally`; without this its
 * gateway and that gateway's workers outlive it and keep the test run alive.
 */
export function ownGroup<T extends ChildProcess>(child: T): T {
  groups.add(child);
  return child;
}

/** SIGKILL the process group of every child given to {@link ownGroup}: the child and all it started. */
export function killGroups(): void {
  for (const child of groups) {
    if (child.pid !== undefined) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // ESRCH: the whole group has exited already.
      }
    }
  }
  groups.clear();
}

/** Like {@link exited}, but after `timeoutMs` SIGKILLs the child's process group and throws, instead of waiting for ever. */
export async function exitedWithin(child: ChildProcess, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          child.kill("SIGKILL");
        }
      }
      reject(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  try {
    return await Promise.race([exited(child), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Pids of the worker processes that logged "gateway started". */
export function workerPids(logs: string): number[] {
  return [...logs.matchAll(/"pid":(\d+)[^\n]*"msg":"gateway started"/g)].map((m) => Number(m[1]));
}

/** Pids holding an established TCP connection to `port` (from ss), e.g. workers kept alive to a backend. */
export function pidsConnectedTo(port: number): Set<number> {
  const out = execFileSync("ss", ["-tnpH", "state", "established", "dport", `= :${port}`], { encoding: "utf8" });
  return new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])));
}
