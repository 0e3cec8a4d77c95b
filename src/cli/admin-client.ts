/**
 * How CLI commands call a running gateway's admin API (`divisor debug`, `divisor split`):
 * where it is (--admin, else -c FILE's admin.address, else the default), one request
 * with the bearer token, and its refusals as messages a user can act on. Loaded only
 * when such a command runs: node:http and node:https cost the gateway's own start.
 */
import http from "node:http";
import https from "node:https";
import { loadConfigFile } from "../config/load.js";
import { DivisorError } from "../errors.js";
import { fail } from "./common.js";

/** The options every admin-calling command takes. */
export interface AdminClientOptions {
  admin?: string;
  config?: string;
  token?: string;
}

/** Exit 1 with a message the user can act on (no stack trace). */
export function refuse(message: string): never {
  fail(new DivisorError("ERR_ADMIN_CLIENT", message));
}

/** The admin API's base URL: --admin, else the config file's admin.address, else the default. */
export async function adminUrl(opts: AdminClientOptions): Promise<URL> {
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

/** One admin call; the answer's body is left to read. */
export function adminRequest(url: URL, token: string | undefined, method = "GET", body?: string): Promise<http.IncomingMessage> {
  const client = url.protocol === "https:" ? https : http;
  const headers: Record<string, string> = token === undefined ? {} : { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  return new Promise((resolve, reject) => {
    const req = client.request(url, { method, headers }, resolve);
    req.on("error", reject);
    req.end(body);
  });
}

/** Exit 1: the admin API could not be reached at all. */
export function unreachable(url: URL, err: unknown): never {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  refuse(`cannot reach the admin API at ${url.origin} (${code}): is the gateway running with an admin listener there? Give its address with --admin URL or -c FILE`);
}

export async function readText(res: http.IncomingMessage): Promise<string> {
  let text = "";
  res.setEncoding("utf8");
  for await (const chunk of res) text += chunk;
  return text;
}

/** The admin API's error message, or why the answer is not one. */
export async function refusal(res: http.IncomingMessage, url: URL, tokenGiven: boolean): Promise<string> {
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
