/** Runs wrk pinned to a core and reads its report. */
import { execFile } from "node:child_process";
import { trackChild } from "./processes.js";

/** What a wrk run reported. Latencies in milliseconds. */
export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Responses with status >= 400, as wrk counts them ("Non-2xx or 3xx responses"). */
  readonly badStatus: number;
  readonly socketErrors: { readonly connect: number; readonly read: number; readonly write: number; readonly timeout: number };
  readonly raw: string;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

function durationMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(text.trim());
  if (m === null) throw new Error(`unreadable wrk duration "${text}"`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

/** Parses wrk 4's text report (run with --latency). */
export function parseWrkOutput(text: string): WrkResult {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h),/.exec(text);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const p50 = /^\s+50%\s+(\S+)/m.exec(text);
  const p99 = /^\s+99%\s+(\S+)/m.exec(text);
  if (total === null || rps === null || p50 === null || p99 === null) {
    throw new Error(`unreadable wrk output:\n${text}`);
  }
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const bad = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: Number(total[1]),
    seconds: durationMs(`${total[2]}${total[3]}`) / 1000,
    requestsPerSecond: Number(rps[1]),
    p50Ms: durationMs(p50[1]!),
    p99Ms: durationMs(p99[1]!),
    badStatus: bad === null ? 0 : Number(bad[1]),
    socketErrors: {
      connect: socket === null ? 0 : Number(socket[1]),
      read: socket === null ? 0 : Number(socket[2]),
      write: socket === null ? 0 : Number(socket[3]),
      timeout: socket === null ? 0 : Number(socket[4]),
    },
    raw: text,
  };
}

/** Errors of any kind in a run: bad statuses plus socket errors. */
export function errorCount(r: WrkResult): number {
  const s = r.socketErrors;
  return r.badStatus + s.connect + s.read + s.write + s.timeout;
}

export interface WrkOptions {
  readonly port: number;
  readonly core: number;
  readonly connections: number;
  readonly seconds: number;
  /** A wrk Lua script (e.g. to send POST bodies). */
  readonly script?: string;
  /** Speak HTTPS (the target's TLS listener). */
  readonly tls?: boolean;
}

/** Runs `taskset -c <core> wrk -t1 -c<n> -d<s>s --latency http://127.0.0.1:<port>/`. */
export function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = ["-c", String(o.core), "wrk", "-t1", `-c${o.connections}`, `-d${o.seconds}s`, "--latency"];
  if (o.script !== undefined) args.push("-s", o.script);
  args.push(`${o.tls === true ? "https" : "http"}://127.0.0.1:${o.port}/`);
  return new Promise((resolve, reject) => {
    const child = execFile("taskset", args, { encoding: "utf8", timeout: (o.seconds + 30) * 1000 }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`wrk failed: ${err.message}\n${stdout}${stderr}`));
        return;
      }
      try {
        resolve(parseWrkOutput(stdout));
      } catch (parseError) {
        reject(parseError);
      }
    });
    trackChild(child);
  });
}
