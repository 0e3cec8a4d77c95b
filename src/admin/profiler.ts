/**
 * Profiles of this process through node:inspector, like Go's pprof: a CPU
 * profile over some seconds, a V8 heap snapshot, and a sampling heap profile.
 * The inspector session is opened only while a profile runs, so a gateway that
 * is never profiled pays nothing.
 */
import { Session } from "node:inspector";
import { PassThrough, type Readable } from "node:stream";
import { DivisorError } from "../errors.js";

/** A profile is already running in this process. */
export class ProfileBusyError extends DivisorError {
  constructor(running: string) {
    super("ERR_PROFILE_BUSY", `a ${running} is already running in this process; one profile at a time: wait for it to finish and try again`);
  }
}

/** The client went away (or the request was cancelled) before the profile finished. */
export class ProfileAbortedError extends DivisorError {
  constructor() {
    super("ERR_PROFILE_ABORTED", "the profile was cancelled before it finished");
  }
}

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T)));
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new ProfileAbortedError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ProfileAbortedError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * The process's profiler. One profile at a time: two CPU profiles would share
 * V8's one sampler, and two heap snapshots would double the pause and the memory.
 * The state is the process's (one V8 isolate), hence one instance per process.
 */
export class ProcessProfiler {
  private running: string | null = null;

  /** The kind of profile running now, or null. */
  busy(): string | null {
    return this.running;
  }

  /** Open an inspector session for a profile of `kind`, or refuse when one runs. */
  private acquire(kind: string): Session {
    if (this.running !== null) throw new ProfileBusyError(this.running);
    this.running = kind;
    const session = new Session();
    session.connect();
    return session;
  }

  private release(session: Session): void {
    session.disconnect();
    this.running = null;
  }

  /** Start a sampler, wait `seconds` (or until aborted), stop it: what `stop` answered. */
  private async sampled(kind: string, start: [string, object][], stop: string, disable: string, seconds: number, signal: AbortSignal | undefined): Promise<object> {
    const session = this.acquire(kind);
    try {
      for (const [method, params] of start) await post(session, method, params);
      let cancelled: unknown;
      await sleep(seconds * 1000, signal).catch((err: unknown) => {
        cancelled = err;
      });
      const { profile } = await post<{ profile: object }>(session, stop);
      await post(session, disable);
      if (cancelled !== undefined) throw cancelled;
      return profile;
    } finally {
      this.release(session);
    }
  }

  /** A CPU profile over `seconds`, sampling every `intervalUs` µs: the `.cpuprofile` JSON object. */
  cpu(seconds: number, intervalUs: number, signal?: AbortSignal): Promise<object> {
    const start: [string, object][] = [
      ["Profiler.enable", {}],
      ["Profiler.setSamplingInterval", { interval: intervalUs }],
      ["Profiler.start", {}],
    ];
    return this.sampled("CPU profile", start, "Profiler.stop", "Profiler.disable", seconds, signal);
  }

  /** A sampling heap profile over `seconds` (one sample per `intervalBytes` allocated on average): the `.heapprofile` JSON object. */
  allocations(seconds: number, intervalBytes: number, signal?: AbortSignal): Promise<object> {
    const start: [string, object][] = [
      ["HeapProfiler.enable", {}],
      // Also the objects collected before the end: a proxy's per-request garbage is what this profile is for.
      ["HeapProfiler.startSampling", { samplingInterval: intervalBytes, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true }],
    ];
    return this.sampled("allocation profile", start, "HeapProfiler.stopSampling", "HeapProfiler.disable", seconds, signal);
  }

  /**
   * A V8 heap snapshot as a stream of the chunks the inspector produces (the
   * snapshot is never joined into one string). Taking it pauses this process.
   * Throws ProfileBusyError at once when another profile runs.
   */
  heapSnapshot(): Readable {
    const session = this.acquire("heap snapshot");
    // Strings in, strings out: the chunks are text and are never re-encoded on the way.
    const out = new PassThrough({ decodeStrings: false, encoding: "utf8" });
    session.on("HeapProfiler.addHeapSnapshotChunk", (m) => {
      if (!out.destroyed) out.write(m.params.chunk);
    });
    // On the next turn, once the caller has attached the stream to where it goes.
    setImmediate(() => {
      post(session, "HeapProfiler.takeHeapSnapshot", { reportProgress: false }).then(
        () => {
          this.release(session);
          out.end();
        },
        (err: unknown) => {
          this.release(session);
          out.destroy(err as Error);
        },
      );
    });
    return out;
  }
}
