import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Command } from "commander";
import { loadConfigFile } from "../config/load.js";
import { DivisorError } from "../errors.js";
import { fail } from "./common.js";

/** Exit 1 with a message the user can act on (no stack trace). */
function refuse(message: string): never {
  fail(new DivisorError("ERR_DEBUG", message));
}

interface DebugOptions {
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
interface ProfileKind {
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
    .action((opts: SampledOptions) => download(CPU, opts, sampledQuery(opts)));
  commonOptions(debug.command("heap").description("take a V8 heap snapshot (a .heapsnapshot); pauses the gateway while it is taken")).action(
    (opts: DebugOptions) => download(HEAP, opts, new URLSearchParams()),
  );
  commonOptions(debug.command("allocations").description("take a sampling heap profile over some seconds: where memory is allocated (a .heapprofile)"))
    .option("--seconds <n>", "how long to sample, 1 to 300", "10")
    .option("--interval <bytes>", "bytes allocated between samples, on average (default 32768)")
    .action((opts: SampledOptions) => download(ALLOCATIONS, opts, sampledQuery(opts)));
}

function sampledQuery(opts: SampledOptions): URLSearchParams {
  const query = new URLSearchParams({ seconds: opts.seconds });
  if (opts.interval !== undefined) query.set("interval", opts.interval);
  return query;
}

/** The admin API's base URL: --admin, else the config file's admin.address, else the default. */
async function adminUrl(opts: DebugOptions): Promise<URL> {
  let base = opts.admin;
  if (base === undefined && opts.config !== undefined) {
    const config = await loadConfigFile(opts.config).catch((err: unknown) => fail(err));
    if (config.admin === undefined) refuse(`${opts.config} has no admin section: the gateway serves no admin API; add one, or give --admin URL`);
    const i = config.admin.address.lastIndexOf(":");
    let host = config.admin.address.slice(0, i);
    // A wildcard bind address is reached on this machine through loopback.
    if (host === "0.0.0.0" || host === "*") host = "127.0.0.1";
    if (host === "[::]") host = "[::1]";
    base = `http://${host}:${config.admin.address.slice(i + 1)}`;
  }
  base ??= "http://127.0.0.1:9901";
  try {
    const url = new URL(base);
    if (url.protocol !== "http:" && url.protocol !== "https:") throw new Error("not http");
    return url;
  } catch {
    refuse(`--admin expects an http:// or https:// URL such as http://127.0.0.1:9901, got "${base}"`);
  }
}

function request(url: URL, token: string | undefined): Promise<http.IncomingMessage> {
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.get(url, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } }, resolve);
    req.on("error", reject);
  });
}

async function readText(res: http.IncomingMessage): Promise<string> {
  let text = "";
  res.setEncoding("utf8");
  for await (const chunk of res) text += chunk;
  return text;
}

/** The admin API's error message, or why the answer is not one. */
async function refusal(res: http.IncomingMessage, url: URL, tokenGiven: boolean): Promise<string> {
  const text = await readText(res);
  let message: string;
  try {
    message = (JSON.parse(text) as { error: { message: string } }).error.message;
  } catch {
    message = text.trim().slice(0, 200) || "(empty answer)";
  }
  const status = res.statusCode ?? 0;
  if (status === 401) {
    return tokenGiven
      ? `the admin API at ${url.origin} refused the token (401): ${message}`
      : `the admin API at ${url.origin} needs a token (401): give --token or set DIVISOR_ADMIN_TOKEN`;
  }
  if (status === 409) return `${message} (409)`;
  return `the admin API at ${url.origin} answered ${status}: ${message}`;
}

/** A file name the gateway suggested, kept to a plain name in the current directory. */
function suggestedName(res: http.IncomingMessage, kind: ProfileKind): string {
  const m = /filename="([^"]+)"/.exec(String(res.headers["content-disposition"] ?? ""));
  const name = m === null ? "" : path.basename(m[1]!);
  if (name !== "" && name !== "." && name !== "..") return name;
  return `divisor-${new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z")}.${kind.ext}`;
}

async function download(kind: ProfileKind, opts: DebugOptions, query: URLSearchParams): Promise<void> {
  const base = await adminUrl(opts);
  const token = opts.token ?? process.env.DIVISOR_ADMIN_TOKEN;
  if (opts.worker !== undefined) query.set("worker", opts.worker);
  const url = new URL(kind.path, base);
  url.search = query.toString();
  const seconds = query.get("seconds");
  process.stdout.write(`taking a ${kind.what}${seconds === null ? "" : ` over ${seconds} s`} from ${url.origin}${opts.worker === undefined ? "" : ` (worker ${opts.worker})`}...\n`);
  let res: http.IncomingMessage;
  try {
    res = await request(url, token);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    refuse(`cannot reach the admin API at ${url.origin} (${code}): is the gateway running with an admin listener there? Give its address with --admin URL or -c FILE`);
  }
  if (res.statusCode !== 200) refuse(await refusal(res, url, token !== undefined));
  const file = opts.output ?? suggestedName(res, kind);
  // Written beside its final name, then renamed: a broken download leaves no half file under that name.
  const partial = `${file}.part`;
  try {
    await pipeline(res, fs.createWriteStream(partial));
    if (!res.complete) throw new Error("the gateway closed the connection before the end of the file");
    fs.renameSync(partial, file);
  } catch (err) {
    fs.rmSync(partial, { force: true });
    refuse(`the ${kind.what} could not be written to ${file}: ${(err as Error).message}`);
  }
  const size = fs.statSync(file).size;
  process.stdout.write(`wrote the ${kind.what} (${size} bytes) to ${path.resolve(file)}\n${kind.open}\n`);
}
