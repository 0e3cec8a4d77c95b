/** `divisor debug`: profiles of a running gateway through its admin API (the download itself is in debug-download.ts). */
import type { Command } from "commander";

export interface DebugOptions {
  admin?: string;
  config?: string;
  token?: string;
  worker?: string;
  output?: string;
}

interface SampledOptions extends DebugOptions {
  seconds: string;
  interval?: string;
}

/** What each subcommand downloads and how to open it. */
export interface ProfileKind {
  what: string;
  path: string;
  ext: string;
  open: string;
}

const CPU: ProfileKind = {
  what: "CPU profile",
  path: "/debug/pprof/profile",
  ext: "cpuprofile",
  open: "open it in Chrome DevTools (Performance tab, \"Load profile\") or drop it on https://www.speedscope.app",
};
const HEAP: ProfileKind = {
  what: "heap snapshot",
  path: "/debug/pprof/heap",
  ext: "heapsnapshot",
  open: 'open it in Chrome DevTools (Memory tab, "Load"); it holds the process memory, secrets included: keep it private',
};
const ALLOCATIONS: ProfileKind = {
  what: "allocation profile",
  path: "/debug/pprof/allocations",
  ext: "heapprofile",
  open: 'open it in Chrome DevTools (Memory tab, "Load")',
};

function commonOptions(cmd: Command): Command {
  return cmd
    .option("--admin <url>", "the admin API's URL (default: admin.address of -c FILE, else http://127.0.0.1:9901)")
    .option("-c, --config <file>", "read the admin address from this configuration file")
    .option("--token <token>", "admin bearer token (default: the DIVISOR_ADMIN_TOKEN environment variable)")
    .option("--worker <n>", "under --workers: the worker to profile (default 0, the first running)")
    .option("-o, --output <file>", "where to write the file (default: the name the gateway gives it, in the current directory)");
}

export function registerDebug(program: Command): void {
  const debug = program
    .command("debug")
    .description("download profiles of a running gateway through its admin API (like Go's pprof)")
    .addHelpText(
      "after",
      "\nThe token is read from --token or DIVISOR_ADMIN_TOKEN and never printed.\nExample: DIVISOR_ADMIN_TOKEN=... divisor debug profile --admin http://10.0.0.5:9901 --seconds 30",
    );
  commonOptions(debug.command("profile").description("take a CPU profile over some seconds (a .cpuprofile)"))
    .option("--seconds <n>", "how long to profile, 1 to 300", "10")
    .option("--interval <us>", "microseconds between samples (default 1000)")
    .action((opts: SampledOptions) => run(CPU, opts, sampledQuery(opts)));
  commonOptions(debug.command("heap").description("take a V8 heap snapshot (a .heapsnapshot); pauses the gateway while it is taken")).action(
    (opts: DebugOptions) => run(HEAP, opts, new URLSearchParams()),
  );
  commonOptions(debug.command("allocations").description("take a sampling heap profile over some seconds: where memory is allocated (a .heapprofile)"))
    .option("--seconds <n>", "how long to sample, 1 to 300", "10")
    .option("--interval <bytes>", "bytes allocated between samples, on average (default 32768)")
    .action((opts: SampledOptions) => run(ALLOCATIONS, opts, sampledQuery(opts)));
}

function sampledQuery(opts: SampledOptions): URLSearchParams {
  const query = new URLSearchParams({ seconds: opts.seconds });
  if (opts.interval !== undefined) query.set("interval", opts.interval);
  return query;
}

async function run(kind: ProfileKind, opts: DebugOptions, query: URLSearchParams): Promise<void> {
  const { download } = await import("./debug-download.js");
  await download(kind, opts, query);
}
