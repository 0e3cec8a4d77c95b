/** Runs h2load (nghttp2-client) pinned to a core for the HTTP/2 rows, and reads its report as a WrkResult. */
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { trackChild } from "./processes.js";
import type { WrkOptions, WrkResult } from "./wrk.js";

/** Streams each h2load client keeps open at once (h2load -m). */
export const H2_STREAMS_PER_CONNECTION = 10;

/** The value at quantile `q` of sorted `xs`. */
function quantile(xs: Float64Array, q: number): number {
  if (xs.length === 0) return Number.NaN;
  return xs[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;
}

/**
 * Parses h2load's report; latencies come from its --log-file (one line per
 * request: start time µs, status, duration µs), since the report has no percentiles.
 */
export function parseH2loadOutput(text: string, log: string): WrkResult {
  const finished = /finished in ([\d.]+)(ms|s), ([\d.]+) req\/s/.exec(text);
  const requests = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(text);
  const statuses = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(text);
  if (finished === null || requests === null || statuses === null) throw new Error(`unreadable h2load output:\n${text}`);
  const durations = log
    .split("\n")
    .filter((l) => l.length > 0)
    .map((l) => Number(l.split("\t")[2]) / 1000);
  const sorted = Float64Array.from(durations).sort();
  const seconds = Number(finished[1]) / (finished[2] === "ms" ? 1000 : 1);
  return {
    requests: Number(requests[4]),
    seconds,
    requestsPerSecond: Number(finished[3]),
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    badStatus: Number(statuses[3]) + Number(statuses[4]),
    socketErrors: { connect: 0, read: Number(requests[6]), write: Number(requests[5]), timeout: Number(requests[7]) },
    raw: text,
  };
}

/** `taskset -c <core> h2load -t1 -c<n> -m10 -D<s>` over TLS (ALPN h2), GET / (or POST `bodyFile`). */
export function runH2load(o: WrkOptions & { readonly logFile: string; readonly bodyFile?: string }): Promise<WrkResult> {
  const args = ["-c", String(o.core), "h2load", "-t1", `-c${o.connections}`, `-m${H2_STREAMS_PER_CONNECTION}`, `-D${o.seconds}`, "--log-file", o.logFile];
  if (o.bodyFile !== undefined) args.push("-d", o.bodyFile);
  args.push(`https://127.0.0.1:${o.port}/`);
  rmSync(o.logFile, { force: true });
  return new Promise((resolve, reject) => {
    const child = execFile("taskset", args, { encoding: "utf8", timeout: (o.seconds + 30) * 1000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`h2load failed: ${err.message}\n${stdout}${stderr}`));
        return;
      }
      try {
        resolve(parseH2loadOutput(stdout, readFileSync(o.logFile, "utf8")));
      } catch (parseError) {
        reject(parseError);
      }
    });
    trackChild(child);
  });
}
