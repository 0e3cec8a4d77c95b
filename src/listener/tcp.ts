// L4 proxying: a TCP listener joins each client connection to a backend of its
// service (balanced, health-checked, breakers respected) and copies bytes both
// ways until either side is done. No HTTP is parsed.
import type net from "node:net";
import type { UpstreamFailure } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import type { SelectContext } from "../service/balancers/types.js";
import { selectBackend, type ServiceBackend, type ServiceRuntime } from "../service/service.js";
import { connectBackend, connectFailure } from "../upstream/tls.js";
import { normalizeIp } from "../exchange/forwarding.js";
import { proxyHeaderBytes } from "./proxy-protocol.js";

/** Counters of one TCP listener, kept across reloads. */
export interface TcpStats {
  /** Connections joined to a backend, and ones no backend took. */
  proxied: number;
  failed: number;
  /** Bytes copied from clients to backends, and back. */
  bytesIn: number;
  bytesOut: number;
}

export function newTcpStats(): TcpStats {
  return { proxied: 0, failed: 0, bytesIn: 0, bytesOut: 0 };
}

/** What a tunnel needs from its listener. */
export interface TcpOwner {
  readonly name: string;
  readonly log: Logger;
  readonly tcpStats: TcpStats;
  tunnelClosed(t: TcpTunnel): void;
}

const NO_HEADERS = () => undefined;

/** One client connection and the backend connection it was joined to. */
export class TcpTunnel {
  private upstream: net.Socket | null = null;
  private backend: ServiceBackend | null = null;
  private closed = false;
  private idleTimer: NodeJS.Timeout | null = null;
  private lastActivity = performance.now();

  constructor(
    private readonly client: net.Socket,
    private readonly peerIp: string,
    private readonly service: ServiceRuntime,
    private readonly idleTimeoutMs: number,
    private readonly owner: TcpOwner,
  ) {
    client.setNoDelay(true);
    // Until a backend is connected, the client's bytes wait in the socket.
    client.pause();
    client.on("error", () => this.close());
    client.on("close", () => this.close());
    this.connect(undefined, service.retries.attempts);
  }

  private connect(exclude: ServiceBackend | undefined, triesLeft: number): void {
    if (this.closed) return;
    const ctx: SelectContext = { clientIp: this.peerIp, header: NO_HEADERS, cookie: NO_HEADERS };
    const backend = selectBackend(this.service, ctx, exclude);
    if (backend === undefined) {
      this.fail("no-backend", `service ${this.service.name} has no available backend`);
      return;
    }
    const pp = this.service.proxyProtocol;
    const c = this.client;
    const preamble = pp === null ? null : proxyHeaderBytes(pp, { address: this.peerIp, port: c.remotePort ?? 0 }, { address: normalizeIp(c.localAddress), port: c.localPort ?? 0 });
    const { socket, ready } = connectBackend(backend.host, backend.port, this.service.tls, preamble);
    backend.active++;
    this.backend = backend;
    this.upstream = socket;
    const timeout = setTimeout(() => onError(Object.assign(new Error("connect timed out"), { code: "ETIMEDOUT" })), this.service.connectTimeoutMs);
    const onError = (err: NodeJS.ErrnoException) => {
      clearTimeout(timeout);
      socket.removeAllListeners();
      socket.on("error", () => {});
      socket.destroy();
      backend.active--;
      this.backend = null;
      this.upstream = null;
      const failure: UpstreamFailure = err.code === "ETIMEDOUT" ? "connect-timeout" : connectFailure(err, backend.address).failure;
      backend.pool.stats.failures[failure]++;
      backend.breaker.onFailure(performance.now());
      this.owner.log.debug({ listener: this.owner.name, backend: backend.address, failure }, "TCP connect to backend failed");
      if (triesLeft > 0 && !this.closed) this.connect(backend, triesLeft - 1);
      else this.fail(failure, `connecting to backend ${backend.address} failed (${failure})`);
    };
    socket.once("error", onError);
    socket.once(ready, () => {
      clearTimeout(timeout);
      socket.off("error", onError);
      if (this.closed) {
        socket.destroy();
        return;
      }
      backend.breaker.onSuccess(performance.now());
      this.owner.tcpStats.proxied++;
      this.join(socket);
    });
  }

  /** Copy both ways; a side that ends its writing half-closes the other (FIN passes through). */
  private join(upstream: net.Socket): void {
    const client = this.client;
    upstream.setNoDelay(true);
    upstream.on("error", () => this.close());
    upstream.on("close", () => this.close());
    client.on("data", (chunk: Buffer) => {
      this.owner.tcpStats.bytesIn += chunk.length;
      this.lastActivity = performance.now();
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on("data", (chunk: Buffer) => {
      this.owner.tcpStats.bytesOut += chunk.length;
      this.lastActivity = performance.now();
      if (!client.write(chunk)) upstream.pause();
    });
    upstream.on("drain", () => client.resume());
    client.on("drain", () => upstream.resume());
    client.on("end", () => upstream.end());
    upstream.on("end", () => client.end());
    if (this.idleTimeoutMs > 0) this.armIdle();
    client.resume();
  }

  private armIdle(): void {
    const wait = this.lastActivity + this.idleTimeoutMs - performance.now();
    this.idleTimer = setTimeout(() => {
      if (performance.now() - this.lastActivity >= this.idleTimeoutMs) {
        this.owner.log.debug({ listener: this.owner.name, idleMs: this.idleTimeoutMs }, "TCP tunnel idle; closed");
        this.close();
      } else this.armIdle();
    }, Math.max(1, wait));
    this.idleTimer.unref();
  }

  private fail(failure: UpstreamFailure, message: string): void {
    this.owner.tcpStats.failed++;
    this.owner.log.warn({ listener: this.owner.name, service: this.service.name, failure, client: this.peerIp }, `TCP connection refused: ${message}`);
    this.close();
  }

  /** Close both sides (either side went away, a failure, or shutdown). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.client.destroy();
    if (this.upstream !== null) this.upstream.destroy();
    if (this.backend !== null) this.backend.active--;
    this.backend = null;
    this.owner.tunnelClosed(this);
  }
}
