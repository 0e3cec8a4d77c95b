/** Loopback helpers: free ports, the first-proxied-request poll, a one-off check request. */
import http from "node:http";
import https from "node:https";
import net from "node:net";
import tls from "node:tls";
import { gunzipSync } from "node:zlib";
import { setTimeout as sleep } from "node:timers/promises";

/**
 * A port free right now on 127.0.0.1: bind port 0, read the number, close.
 * nginx and HAProxy need a number in their config, so port 0 cannot be passed through.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Sends one raw `GET /` and resolves with the status code, or 0 if the connection failed. */
export function rawGetStatus(port: number, timeoutMs = 1000, overTls = false): Promise<number> {
  return new Promise((resolve) => {
    // The bench's own self-signed certificate: nothing to verify against.
    const socket = overTls ? tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false }) : net.connect(port, "127.0.0.1");
    let head = "";
    let done = false;
    const finish = (status: number): void => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve(status);
    };
    socket.setTimeout(timeoutMs, () => finish(0));
    socket.once("error", () => finish(0));
    socket.once("close", () => finish(0));
    socket.on(overTls ? "secureConnect" : "connect", () => socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    socket.on("data", (chunk: Buffer) => {
      head += chunk.toString("latin1");
      const eol = head.indexOf("\r\n");
      if (eol < 0) return;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.slice(0, eol));
      finish(status === null ? 0 : Number(status[1]));
    });
  });
}

/**
 * Polls `port` with a raw request every `intervalMs` until a 200 comes back;
 * resolves with the milliseconds since `startedAt` (a performance.now() value).
 * Rejects when `exited` settles first or after `timeoutMs`.
 */
export async function timeToFirst200(port: number, startedAt: number, exited: Promise<unknown>, timeoutMs = 20_000, intervalMs = 2, overTls = false): Promise<number> {
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (performance.now() - startedAt < timeoutMs) {
    if (gone) throw new Error("the process exited before answering");
    if ((await rawGetStatus(port, 1000, overTls)) === 200) return performance.now() - startedAt;
    await sleep(intervalMs);
  }
  throw new Error(`no 200 on port ${port} within ${timeoutMs} ms`);
}

/** What one request through a target returned. */
export interface CheckedResponse {
  readonly status: number;
  readonly body: string;
  readonly contentEncoding: string | undefined;
}

/** One request with node's client (which decodes chunked bodies), to check a target answers correctly. */
export function requestOnce(port: number, method: "GET" | "POST", body?: Buffer, path = "/", headers: Record<string, string> = {}, overTls = false): Promise<CheckedResponse> {
  return new Promise((resolve, reject) => {
    const options = { host: "127.0.0.1", port, method, path, headers, agent: false, rejectUnauthorized: false };
    const req = (overTls ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const encoding = res.headers["content-encoding"];
        const raw = Buffer.concat(chunks);
        // A gzip answer (the compress workload) is checked decoded.
        const decoded = encoding === "gzip" ? gunzipSync(raw) : raw;
        resolve({ status: res.statusCode ?? 0, body: decoded.toString("utf8"), contentEncoding: encoding });
      });
      res.on("error", reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error("timed out")));
    req.on("error", reject);
    req.end(body);
  });
}
