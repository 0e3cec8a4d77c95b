import type { ChildProcess } from "node:child_process";
import { setTimeout as sleep } from "node:timers/promises";
import { get } from "../helpers/net.js";

/**
 * Polls `url` (a /readyz) until it answers 200, the process exits or `timeoutMs`
 * passes; the last status seen (0: no answer yet), for the caller to assert on.
 */
export async function readyStatus(url: string, child: ChildProcess, timeoutMs = 30_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let status = 0;
  while (status !== 200 && child.exitCode === null && Date.now() < deadline) {
    status = await get(url, { timeout: 2000 }).then(
      (r) => r.status,
      () => 0,
    );
    if (status !== 200) await sleep(100);
  }
  return status;
}
