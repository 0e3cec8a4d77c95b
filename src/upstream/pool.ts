// Hot path: keep-alive connection pools, one per backend.
import type net from "node:net";
import { UpstreamError } from "../errors.js";
import type { BackendState } from "../service/balancers/types.js";
import type { Logger } from "../observability/logger.js";
import { UpstreamStats } from "./stats.js";
import { connectBackend, connectFailure, type UpstreamTls } from "./tls.js";
import { type ProxyEndpoint, proxyHeaderBytes } from "../listener/proxy-protocol.js";
import { Http2Upstream } from "../http2/upstream.js";

/** Who gets a connection from the pool (the exchange). */
export interface PoolClient {
  onUpstreamReady(conn: UpstreamConnection): void;
  onUpstreamFailed(err: UpstreamError): void;
  /** The client's address and the one it connected to, for a PROXY header to the backend. */
  clientEndpoints(): readonly [ProxyEndpoint, ProxyEndpoint];
}

/** Who receives what a connection reads while it is leased. */
export interface ConnectionUser {
  onUpstreamData(chunk: Buffer): void;
  onUpstreamEnd(): void;
  onUpstreamError(err: Error): void;
  onUpstreamDrain(): void;
}

export interface PoolOptions {
  /** Most connections (idle + leased) to the backend; 0 = unlimited. */
  maxConnections: number;
  maxIdle: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** HTTPS backends: how to reach them over TLS; null for plain TCP. */
  tls: UpstreamTls | null;
  /** Send a PROXY header (v1 or v2) first on each connection; such connections carry one client's exchange only. */
  proxyProtocol: 1 | 2 | null;
  /** Speak HTTP/2 to the backend: one multiplexed session instead of keep-alive connections. */
  http2: boolean;
}

/** One TCP connection to a backend. Listeners are attached once, for its whole life. */
export class UpstreamConnection {
  readonly socket: net.Socket;
  readonly pool: BackendPool;
  user: ConnectionUser | null = null;
  /** Exchanges served so far (0 while the first one is in flight). */
  served = 0;
  idleSince = 0;
  closed = false;

  constructor(socket: net.Socket, pool: BackendPool) {
    this.socket = socket;
    this.pool = pool;
    socket.on("data", (chunk: Buffer) => {
      const user = this.user;
      if (user === null) {
        this.destroy(); // bytes on an idle connection: the backend broke framing
        return;
      }
      try {
        user.onUpstreamData(chunk);
      } catch (err) {
        // A bug must cost one exchange, never the gateway.
        const detail = err instanceof Error ? err.stack : String(err);
        const log = this.pool.log;
        if (log === null) process.emitWarning(`dropping an upstream connection after an internal error: ${detail}`, "DivisorInternalWarning");
        else log.error({ backend: this.pool.backend.address, err: detail }, "dropping an upstream connection after an internal error");
        this.destroy();
        user.onUpstreamError(err instanceof Error ? err : new Error(String(err)));
      }
    });
    socket.on("end", () => {
      this.closed = true;
      if (this.user !== null) this.user.onUpstreamEnd();
      else this.destroy();
    });
    socket.on("error", (err) => {
      this.closed = true;
      if (this.user !== null) this.user.onUpstreamError(err);
    });
    socket.on("close", () => {
      this.closed = true;
      this.pool.forget(this);
      if (this.user !== null) this.user.onUpstreamError(new Error("upstream connection closed"));
    });
    socket.on("drain", () => {
      if (this.user !== null) this.user.onUpstreamDrain();
    });
  }

  /** Whether this connection had served a request before the current one (a stale keep-alive may fail). */
  get reused(): boolean {
    return this.served > 0;
  }

  /** Return the connection to its pool for reuse. */
  release(): void {
    this.user = null;
    this.served++;
    this.pool.release(this);
  }

  destroy(): void {
    this.user = null;
    this.closed = true;
    this.socket.destroy();
  }
}

interface Waiter {
  client: PoolClient;
  deadline: number;
}

/** Connections to one backend: idle ones reused most-recent-first, new ones opened up to the limit. */
export class BackendPool {
  readonly backend: BackendState;
  options: PoolOptions;
  private readonly idle: UpstreamConnection[] = [];
  private readonly all = new Set<UpstreamConnection>();
  private readonly waiters: Waiter[] = [];
  private closing = false;
  /** Dropped by a reload: serve what is in flight, keep nothing idle. */
  private draining = false;
  readonly stats: UpstreamStats;
  /** The "upstream" logger (internal errors); null outside a gateway. */
  log: Logger | null = null;
  /** HTTP/2 services: the backend's session (made on first use). */
  private h2: Http2Upstream | null = null;

  constructor(backend: BackendState, options: PoolOptions, histogramBoundsMs: Float64Array) {
    this.backend = backend;
    this.options = options;
    this.stats = new UpstreamStats(histogramBoundsMs);
  }

  /** Connections in use by an exchange. */
  get leasedCount(): number {
    return this.all.size - this.idle.length;
  }

  get size(): number {
    return this.all.size;
  }

  get idleCount(): number {
    return this.idle.length;
  }

  /** Lease a connection: synchronously when one is idle, else after connecting or waiting for one. */
  acquire(client: PoolClient): void {
    if (this.options.http2) {
      if (this.h2 === null) this.h2 = new Http2Upstream(this);
      this.h2.acquire(client);
      return;
    }
    while (this.idle.length > 0) {
      const conn = this.idle.pop()!;
      if (!conn.closed) {
        client.onUpstreamReady(conn);
        return;
      }
    }
    const limit = this.options.maxConnections;
    if (limit > 0 && this.all.size >= limit) {
      this.waiters.push({ client, deadline: performance.now() + this.options.connectTimeoutMs });
      return;
    }
    this.connect(client);
  }

  /** Give up waiting (the client went away). */
  cancel(client: PoolClient): boolean {
    if (this.h2?.cancel(client)) return true;
    const i = this.waiters.findIndex((w) => w.client === client);
    if (i < 0) return false;
    this.waiters.splice(i, 1);
    return true;
  }

  private connect(client: PoolClient): void {
    const { host, port, address } = this.backend;
    const pp = this.options.proxyProtocol;
    const preamble = pp === null ? null : proxyHeaderBytes(pp, ...client.clientEndpoints());
    const { socket, ready } = connectBackend(host, port, this.options.tls, preamble);
    const conn = new UpstreamConnection(socket, this);
    this.all.add(conn);
    const started = performance.now();
    let settled = false;
    const fail = (err: UpstreamError) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      client.onUpstreamFailed(err);
    };
    socket.setTimeout(this.options.connectTimeoutMs, () =>
      fail(new UpstreamError("connect-timeout", `connecting to backend ${address} timed out after ${this.options.connectTimeoutMs} ms`)),
    );
    socket.once("error", (err: NodeJS.ErrnoException) => fail(connectFailure(err, address)));
    socket.once(ready, () => {
      if (settled) return;
      settled = true;
      socket.setTimeout(0);
      this.stats.opened++;
      this.stats.connect.observe(performance.now() - started);
      if (this.closing) {
        conn.destroy();
        client.onUpstreamFailed(new UpstreamError("connect-error", "the gateway is shutting down"));
        return;
      }
      client.onUpstreamReady(conn);
    });
  }

  /** HTTP/2 services: a stream leased as a connection (counted among the leased ones until it closes). */
  track(conn: UpstreamConnection): void {
    this.all.add(conn);
  }

  release(conn: UpstreamConnection): void {
    // A PROXY header named one client: the connection is not another's to reuse. An HTTP/2 stream carries one exchange.
    if (conn.closed || this.closing || this.options.proxyProtocol !== null || this.options.http2) {
      conn.destroy();
      return;
    }
    if (this.draining && this.waiters.length === 0) {
      conn.destroy();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      waiter.client.onUpstreamReady(conn);
      return;
    }
    if (this.idle.length >= this.options.maxIdle) {
      conn.destroy();
      return;
    }
    conn.idleSince = performance.now();
    this.idle.push(conn);
  }

  forget(conn: UpstreamConnection): void {
    this.all.delete(conn);
    const i = this.idle.indexOf(conn);
    if (i >= 0) this.idle.splice(i, 1);
    // A slot freed up: let a waiter open a new connection.
    if (this.waiters.length > 0 && !this.closing) {
      const waiter = this.waiters.shift()!;
      this.connect(waiter.client);
    }
  }

  /** Expire idle connections and waiters past their deadline; called by the sweeper. */
  sweep(now: number): void {
    const cutoff = now - this.options.idleTimeoutMs;
    while (this.idle.length > 0 && this.idle[0]!.idleSince <= cutoff) this.idle.shift()!.destroy();
    while (this.waiters.length > 0 && this.waiters[0]!.deadline <= now) {
      const w = this.waiters.shift()!;
      w.client.onUpstreamFailed(
        new UpstreamError("pool-exhausted", `all ${this.options.maxConnections} connections to backend ${this.backend.address} stayed busy`),
      );
    }
  }

  /**
   * The backend left the configuration: close idle connections now and every other
   * one as it is released, but let exchanges in flight (connecting, waiting or
   * leased) finish on it, as they finish on the table they started with.
   */
  drain(): void {
    this.draining = true;
    this.h2?.retire();
    for (const conn of this.idle) conn.destroy();
    this.idle.length = 0;
  }

  /** Close the idle connections (their settings changed); leased ones go on. */
  closeIdle(): void {
    this.h2?.retire();
    for (const conn of this.idle) conn.destroy();
    this.idle.length = 0;
  }

  /** Shutdown: close idle connections now, refuse new ones and every other one as it is released. */
  close(): void {
    this.closing = true;
    this.h2?.close();
    for (const conn of this.idle) conn.destroy();
    this.idle.length = 0;
    for (const w of this.waiters.splice(0)) w.client.onUpstreamFailed(new UpstreamError("connect-error", "the gateway is shutting down"));
  }

  /** Destroy every connection, leased or not. */
  destroy(): void {
    this.h2?.destroy();
    this.close();
    for (const conn of this.all) conn.destroy();
  }
}
