/**
 * Profiling endpoints, like Go's net/http/pprof: a CPU profile over N seconds,
 * a heap snapshot and a sampling allocation profile, each answered as a file
 * Chrome DevTools (and speedscope, for CPU profiles) opens. Whole-gateway tokens
 * only (tenant tokens are refused by the server since these routes are not
 * tenantScoped); a heap snapshot holds the process memory, secrets included,
 * so it also needs a token that is not read-only.
 */
import { DivisorError } from "../../errors.js";
import type { ProcessProfiler } from "../profiler.js";
import { errorBody } from "../respond.js";
import type { AdminRequest, AdminResponse, AdminRoute } from "../types.js";

/** One V8 isolate per process, so one profiler per process (profiles exclude each other). */
let profiler: ProcessProfiler | undefined;

/** Loaded at the first profile: node:inspector costs ~2 MB that a gateway never profiled need not pay. */
async function theProfiler(): Promise<ProcessProfiler> {
  const { ProcessProfiler } = await import("../profiler.js");
  profiler ??= new ProcessProfiler();
  return profiler;
}

interface IntParam {
  name: string;
  default: number;
  min: number;
  max: number;
  unit: string;
}

const SECONDS: IntParam = { name: "seconds", default: 10, min: 1, max: 300, unit: "seconds" };
/** V8's own default CPU sampling interval is 1000 µs. */
const CPU_INTERVAL: IntParam = { name: "interval", default: 1000, min: 50, max: 1_000_000, unit: "microseconds between samples" };
/** V8's default: one sample per 32 KiB allocated on average. */
const HEAP_INTERVAL: IntParam = { name: "interval", default: 32_768, min: 512, max: 16_777_216, unit: "bytes allocated between samples, on average" };

/** The parameter's value, or the 400 answer naming the allowed range. */
function intParam(req: AdminRequest, p: IntParam): number | AdminResponse {
  const raw = req.query.get(p.name);
  if (raw === null || raw === "") return p.default;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < p.min || n > p.max) {
    return {
      status: 400,
      body: errorBody("ERR_ADMIN_BAD_PARAMETER", `${p.name} must be a whole number from ${p.min} to ${p.max} (${p.unit}; default ${p.default}), got "${raw}"`),
    };
  }
  return n;
}

/** divisor-<pid>-20261202T035500Z.<ext>: which process, when. */
function fileName(ext: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  return `divisor-${process.pid}-${stamp}.${ext}`;
}

function attachment(ext: string): Record<string, string> {
  return { "content-type": "application/json; charset=utf-8", "content-disposition": `attachment; filename="${fileName(ext)}"` };
}

function failed(err: unknown): AdminResponse {
  if (err instanceof DivisorError && err.code === "ERR_PROFILE_BUSY") return { status: 409, body: errorBody(err.code, err.message) };
  // The client is gone; nobody reads this answer.
  if (err instanceof DivisorError && err.code === "ERR_PROFILE_ABORTED") return { status: 499, body: errorBody(err.code, err.message) };
  throw err;
}

/** A route that samples for ?seconds and answers the profile as a file. */
function sampledProfile(
  path: string,
  description: string,
  interval: IntParam,
  ext: string,
  take: (profiler: ProcessProfiler, seconds: number, interval: number, signal: AbortSignal | undefined) => Promise<object>,
): AdminRoute {
  return {
    method: "GET",
    path,
    description,
    handle: async (req) => {
      const seconds = intParam(req, SECONDS);
      if (typeof seconds !== "number") return seconds;
      const every = intParam(req, interval);
      if (typeof every !== "number") return every;
      try {
        return { status: 200, body: JSON.stringify(await take(await theProfiler(), seconds, every, req.signal)), headers: attachment(ext) };
      } catch (err) {
        return failed(err);
      }
    },
  };
}

export const cpuProfile = sampledProfile(
  "/debug/pprof/profile",
  "CPU profile of this process over ?seconds=N (1-300, default 10; ?interval=µs between samples, default 1000), as a .cpuprofile for Chrome DevTools or speedscope.",
  CPU_INTERVAL,
  "cpuprofile",
  (profiler, seconds, interval, signal) => profiler.cpu(seconds, interval, signal),
);

export const allocationProfile = sampledProfile(
  "/debug/pprof/allocations",
  "Sampling heap profile (where memory is allocated) over ?seconds=N (1-300, default 10; ?interval=bytes between samples, default 32768), as a .heapprofile for Chrome DevTools. Cheap enough for production.",
  HEAP_INTERVAL,
  "heapprofile",
  (profiler, seconds, interval, signal) => profiler.allocations(seconds, interval, signal),
);

export const heapSnapshot: AdminRoute = {
  method: "GET",
  path: "/debug/pprof/heap",
  description:
    "V8 heap snapshot of this process, streamed as a .heapsnapshot for Chrome DevTools' Memory tab. Pauses the process while it is taken; needs a token that is not read-only (it holds the process memory, secrets included).",
  handle: async (req) => {
    if (req.principal.readOnly) {
      return {
        status: 403,
        body: errorBody(
          "ERR_ADMIN_READ_ONLY",
          `token "${req.principal.name}" is read-only; a heap snapshot holds the process memory (secrets included), so it needs a token that is not read-only`,
        ),
      };
    }
    try {
      return { status: 200, body: (await theProfiler()).heapSnapshot(), headers: attachment("heapsnapshot") };
    } catch (err) {
      return failed(err);
    }
  },
};
