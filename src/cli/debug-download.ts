/**
 * The downloads of `divisor debug` (loaded only when one runs: node:http and
 * node:https cost the gateway's own start ~10 ms and ~4 MB it never needs).
 */
import fs from "node:fs";
import type http from "node:http";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { adminRequest, adminUrl, refusal, refuse, unreachable } from "./admin-client.js";
import type { DebugOptions, ProfileKind } from "./debug.js";

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
    res = await adminRequest(url, token);
  } catch (err) {
    unreachable(url, err);
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
