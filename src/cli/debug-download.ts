/**
 * The downloads of `divisor debug` (loaded only when one runs: node:http and
 * node:https cost the gateway's own start ~10 ms and ~4 MB it never needs).
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { loadConfigFile } from "../config/load.js";
import { DivisorError } from "../errors.js";
import { fail } from "./common.js";
import type { DebugOptions, ProfileKind } from "./debug.js";

/** Exit 1 with a message the user can act on (no stack trace). */
function refuse(message: string): never {
  fail(new DivisorError("ERR_DEBUG", message));
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

export async function download(kind: ProfileKind, opts: DebugOptions, query: URLSearchParams): Promise<void> {
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
