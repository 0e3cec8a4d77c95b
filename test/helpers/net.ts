import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { fileURLToPath } from "node:url";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import type { Plugin } from "../../src/middleware/plugin.js";

/** A port nothing listens on right now: bind 127.0.0.1:0, read the port, close. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A real HTTP backend on 127.0.0.1:0. */
export interface TestBackend {
  server: http.Server;
  address: string;
  port: number;
  /** Requests seen, in order. */
  seen: http.IncomingMessage[];
  /** TCP connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/** A backend answering every request with `name` (after `delayMs`, for requests in flight during a change). */
export function startNamedBackend(name: string, delayMs = 0): Promise<TestBackend> {
  return startBackend((req, res) => {
    req.resume();
    if (delayMs === 0) res.end(name);
    else setTimeout(() => res.end(name), delayMs);
  });
}

export async function startBackend(
  handler: http.RequestListener = (req, res) => {
    req.resume();
    req.on("end", () => res.end(`hello from ${(req.socket.localPort ?? 0).toString()}`));
  },
  options: http.ServerOptions = {},
): Promise<TestBackend> {
  const seen: http.IncomingMessage[] = [];
  const server = http.createServer(options, (req, res) => {
    seen.push(req);
    handler(req, res);
  });
  const backend: TestBackend = {
    server,
    address: "",
    port: 0,
    seen,
    connections: 0,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  server.on("connection", () => backend.connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  backend.port = (server.address() as net.AddressInfo).port;
  backend.address = `127.0.0.1:${backend.port}`;
  return backend;
}

export interface TestGateway {
  gateway: Gateway;
  port: number;
  url: string;
  close(): Promise<void>;
}

/** A gateway on 127.0.0.1:0 with the given services/routers (listeners filled in). */
export async function startGateway(
  config: Omit<DivisorConfigInput, "listeners"> & { listeners?: DivisorConfigInput["listeners"] },
  // biome-ignore lint/suspicious/noExplicitAny: each plugin has its own options type
  plugins: Plugin<any>[] = [],
): Promise<TestGateway> {
  const gateway = createGateway({ listeners: [{ address: "127.0.0.1:0" }], ...config }, { plugins });
  const [bound] = await gateway.listen();
  const port = bound!.port;
  return { gateway, port, url: `http://127.0.0.1:${port}`, close: () => gateway.close({ gracePeriodMs: 1000 }) };
}

/** One service of the given backends, one catch-all router. */
export function simpleConfig(backends: string[], service: Record<string, unknown> = {}): Omit<DivisorConfigInput, "listeners"> {
  return {
    services: { app: { backends, ...service } },
    routers: { all: { service: "app" } },
  } as Omit<DivisorConfigInput, "listeners">;
}

/** A gateway in a child process, so a test can read the gateway's own memory from /proc. */
export interface GatewayProcess {
  pid: number;
  port: number;
  url: string;
  /** Peak resident set size so far (VmHWM), in bytes. */
  peakRss(): number;
  /** Resident set size now (VmRSS), in bytes. */
  rss(): number;
  /** Reset VmHWM to the current RSS (Linux: clear_refs 5). */
  resetPeak(): void;
  close(): Promise<void>;
}

function statusField(pid: number, field: string): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${field}:`));
  return Number(line?.split(/\s+/)[1] ?? 0) * 1024;
}

export async function startGatewayProcess(config: DivisorConfigInput): Promise<GatewayProcess> {
  // The Node flags of the divisor bin (scripts/cli-launcher.cjs), so memory is measured as deployed.
  const child = spawn(process.execPath, ["--max-semi-space-size=1", "--single-threaded", "--import", "tsx", fileURLToPath(new URL("./gateway-child.ts", import.meta.url)), JSON.stringify(config)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.once("data", (d: Buffer) => resolve(Number(d.toString().trim())));
    child.once("exit", (code) => reject(new Error(`gateway process exited with ${code}`)));
  });
  const pid = child.pid!;
  return {
    pid,
    port,
    url: `http://127.0.0.1:${port}`,
    peakRss: () => statusField(pid, "VmHWM"),
    rss: () => statusField(pid, "VmRSS"),
    resetPeak: () => writeFileSync(`/proc/${pid}/clear_refs`, "5"),
    close: () =>
      new Promise((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** A raw TCP client that collects everything the server sends until it closes. */
export class RawClient {
  readonly socket: net.Socket;
  private data = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  readonly ready: Promise<void>;

  constructor(port: number) {
    this.socket = net.connect({ port, host: "127.0.0.1" });
    this.ready = new Promise((resolve, reject) => {
      this.socket.once("connect", () => resolve());
      this.socket.once("error", reject);
    });
    this.socket.on("data", (chunk: Buffer) => {
      this.data = Buffer.concat([this.data, chunk]);
      this.wake();
    });
    this.socket.on("error", () => {});
    this.socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  write(data: string | Buffer): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  get text(): string {
    return this.data.toString("latin1");
  }

  /** Wait until the received text satisfies `done` (or the socket closes), with a timeout. */
  async waitFor(done: (text: string) => boolean, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!done(this.text)) {
      if (this.closed) break;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting; received so far:\n${this.text}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.text;
  }

  /** Wait for the server to close the connection. */
  async waitClosed(timeoutMs = 5000): Promise<string> {
    return this.waitFor(() => this.closed, timeoutMs);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Count of complete HTTP responses in a raw byte stream (status lines). */
export function statusLines(text: string): string[] {
  return text.match(/HTTP\/1\.[01] \d{3}[^\r\n]*/g) ?? [];
}

/** A keep-alive GET through node's http client; resolves status, headers and body. */
export function get(
  url: string,
  options: http.RequestOptions = {},
  body?: string | Buffer,
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on("error", reject);
    });
    req.on("error", reject);
    // Only with options.timeout: a request that hangs fails instead of holding the test.
    req.on("timeout", () => req.destroy(new Error(`GET ${url}: no answer within ${options.timeout} ms`)));
    req.end(body);
  });
}

/** A response head as curl -D prints it: the status and the lowercased headers (repeated ones joined by ", "). */
export function parseHeadBlock(text: string): { status: number; headers: Record<string, string> } {
  const lines = text.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon === -1) continue;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { status: Number(lines[0]!.split(" ")[1]), headers };
}
