// Hot path: one client connection: reads heads, runs exchanges in order, keeps alive.
import type { Logger } from "../observability/logger.js";
import type net from "node:net";
import { HttpParseError } from "../errors.js";
import { ProxyExchange } from "../exchange/exchange.js";
import { normalizeIp } from "../exchange/forwarding.js";
import { errorResponse, directResponseHead } from "../exchange/responses.js";
import type { AcmeChallengeResponder, ClientSide, HttpsRedirect, RuntimeTable } from "../exchange/types.js";
import { parseRequestHead } from "../http1/parse-request.js";
import type { HeadLimits } from "../http1/types.js";
import type { ListenerStats } from "../observability/metrics/http-stats.js";
import type { Timed } from "./deadlines.js";

/** What a connection needs from its listener (and, through it, the gateway). */
export interface ListenerContext {
  readonly name: string;
  readonly scheme: "http" | "https";
  readonly limits: HeadLimits;
  readonly headerTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Upgraded connections with no bytes either way for this long are closed; 0 = never. */
  readonly tunnelIdleTimeoutMs: number;
  /** Where redirectToHttps sends every request, or null. */
  readonly httpsRedirect: HttpsRedirect | null;
  /** Who answers ACME HTTP-01 validations (plain listeners of a gateway with ACME), or null. */
  readonly acmeChallenges: AcmeChallengeResponder | null;
  /** The listener's counters, kept across reloads. */
  readonly stats: ListenerStats;
  /** The table in force now; read once per exchange. */
  table(): RuntimeTable;
  draining(): boolean;
  nextExchangeId(): number;
  connectionClosed(conn: ClientConnection): void;
  /** The "listener" logger. */
  readonly log: Logger;
}

/** Pipelined bytes we hold while an exchange is in flight before we stop reading. */
const MAX_PIPELINED = 64 * 1024;

const enum Wait {
  None = 0,
  Idle = 1,
  Header = 2,
  Exchange = 3,
  /** An upgraded connection (WebSocket...): bytes both ways, checked for idleness. */
  Tunnel = 4,
}

export class ClientConnection implements ClientSide, Timed {
  readonly socket: net.Socket;
  readonly peerIp: string;
  readonly stats: ListenerStats;
  readonly listenerName: string;
  readonly scheme: "http" | "https";
  /** One HTTP/2 stream presented as a connection (src/http2/stream-socket.ts); false for HTTP/1.x. */
  readonly http2: boolean;
  table: RuntimeTable;
  deadline = 0;
  private readonly ctx: ListenerContext;
  private buf: Buffer | null = null;
  private current: ProxyExchange | null = null;
  private wait = Wait.Idle;
  private tunnel = false;
  private processing = false;
  private closed = false;
  private clientEnded = false;
  /** Tunnels: the byte count at the last idleness check (-1 before the first). */
  private tunnelBytes = -1;

  /**
   * `peerIp`: the client's address when a PROXY header gave it, else the socket's peer.
   * `http2`: the socket is one HTTP/2 stream (its session was counted as the connection).
   */
  constructor(socket: net.Socket, ctx: ListenerContext, peerIp?: string, http2 = false) {
    this.socket = socket;
    this.ctx = ctx;
    this.peerIp = peerIp ?? normalizeIp(socket.remoteAddress);
    this.listenerName = ctx.name;
    this.stats = ctx.stats;
    this.http2 = http2;
    if (!http2) this.stats.accepted++;
    this.scheme = ctx.scheme;
    this.table = ctx.table();
    socket.setNoDelay(true);
    this.deadline = performance.now() + ctx.idleTimeoutMs;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("end", () => this.onEnd());
    socket.on("error", () => {
      // 'close' follows and does the cleanup; an ECONNRESET from a client is routine.
    });
    socket.on("close", () => this.onClose());
    socket.on("drain", () => this.current?.onClientDrain());
  }

  get httpsRedirect(): HttpsRedirect | null {
    return this.ctx.httpsRedirect;
  }

  get acmeChallenges(): AcmeChallengeResponder | null {
    return this.ctx.acmeChallenges;
  }

  get draining(): boolean {
    return this.ctx.draining();
  }

  /** The exchange in flight, or null. */
  get exchange(): ProxyExchange | null {
    return this.current;
  }

  /** Whether no exchange is in flight (graceful shutdown closes such connections at once). */
  get idle(): boolean {
    return this.current === null;
  }

  nextExchangeId(): number {
    return this.ctx.nextExchangeId();
  }

  private onData(chunk: Buffer): void {
    try {
      this.receive(chunk);
    } catch (err) {
      // A bug must cost one connection, never the gateway.
      this.ctx.log.error({ listener: this.ctx.name, err: err instanceof Error ? err.stack : String(err) }, "closing a client connection after an internal error");
      this.current?.abort();
      this.destroy();
    }
  }

  private receive(chunk: Buffer): void {
    if (this.tunnel) {
      this.current?.tunnelToUpstream(chunk);
      return;
    }
    const current = this.current;
    if (current !== null) {
      let offset = 0;
      if (!current.reqDone) {
        offset = current.onClientBody(chunk, 0);
        // Each body chunk restarts the body deadline (idle timeout) until the body is complete.
        if (!current.reqDone && this.current === current) this.deadline = performance.now() + this.ctx.idleTimeoutMs;
        if (offset === chunk.length || this.closed) return;
      }
      // The next pipelined request: hold it until this exchange is done.
      this.append(offset === 0 ? chunk : chunk.subarray(offset));
      if (this.buf!.length > MAX_PIPELINED) this.socket.pause();
      return;
    }
    this.append(chunk);
    this.processBuffer();
  }

  private append(chunk: Buffer): void {
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
  }

  /** Start exchanges for every complete head in the buffer, one at a time. */
  private processBuffer(): void {
    if (this.processing) return;
    this.processing = true;
    try {
      while (this.current === null && this.buf !== null && !this.closed) {
        const buf = this.buf;
        let parsed: ReturnType<typeof parseRequestHead>;
        try {
          parsed = parseRequestHead(buf, 0, buf.length, this.ctx.limits);
        } catch (err) {
          this.rejectHead(err);
          return;
        }
        if (parsed === null) {
          if (this.wait !== Wait.Header) {
            this.wait = Wait.Header;
            this.deadline = performance.now() + this.ctx.headerTimeoutMs;
          }
          this.socket.resume();
          return;
        }
        const { head, length } = parsed;
        this.buf = length === buf.length ? null : buf.subarray(length);
        this.table = this.ctx.table();
        const exchange = new ProxyExchange(this, head, hostWithoutPort(head.host));
        this.current = exchange;
        this.wait = Wait.Exchange;
        this.deadline = 0;
        if (!exchange.reqDone) {
          this.deadline = performance.now() + this.ctx.idleTimeoutMs;
          if (this.buf !== null) {
            const rest = this.buf;
            const used = exchange.onClientBody(rest, 0);
            this.buf = used === rest.length ? null : rest.subarray(used);
          }
        }
        exchange.start();
      }
    } finally {
      this.processing = false;
    }
  }

  private rejectHead(err: unknown): void {
    this.stats.rejectedHeads++;
    const status = err instanceof HttpParseError ? err.status : 400;
    const message = err instanceof Error ? err.message : "malformed request";
    const res = errorResponse(status, message);
    const body = res.body as string;
    this.socket.end(directResponseHead(res, Buffer.byteLength(body), true, 1) + body, "latin1");
    this.buf = null;
    this.closed = true;
  }

  exchangeDone(reusable: boolean): void {
    this.current = null;
    if (this.closed) return;
    if (!reusable || this.clientEnded || this.ctx.draining()) {
      this.closed = true;
      this.socket.end();
      return;
    }
    this.wait = Wait.Idle;
    this.deadline = performance.now() + this.ctx.idleTimeoutMs;
    // Backpressure may have paused the socket for a body whose upstream is gone now: its 'drain' will never come.
    if (this.socket.isPaused()) this.socket.resume();
    if (this.buf !== null) {
      // Pipelined requests: served strictly in order, each after the previous response.
      if (!this.processing) this.processBuffer();
    }
  }

  startTunnel(): void {
    this.tunnel = true;
    this.stats.tunnelsOpen++;
    this.stats.tunnelsOpened++;
    this.wait = Wait.Tunnel;
    const idle = this.ctx.tunnelIdleTimeoutMs;
    // Idleness is judged at the deadline from the byte counts, so tunnelled chunks pay nothing for it.
    this.tunnelBytes = -1;
    this.deadline = idle > 0 ? performance.now() + idle : 0;
    const rest = this.buf;
    this.buf = null;
    if (rest !== null) this.current!.tunnelToUpstream(rest);
  }

  onDeadline(): void {
    switch (this.wait) {
      case Wait.Idle:
        this.close();
        return;
      case Wait.Header: {
        const res = errorResponse(408, `the request head did not arrive within ${this.ctx.headerTimeoutMs} ms`);
        const body = res.body as string;
        this.closed = true;
        this.deadline = 0;
        this.socket.end(directResponseHead(res, Buffer.byteLength(body), true, 1) + body, "latin1");
        setTimeout(() => this.socket.destroy(), 1000).unref();
        return;
      }
      case Wait.Exchange:
        this.deadline = 0;
        this.current?.onDeadline();
        return;
      case Wait.Tunnel: {
        const current = this.current;
        const bytes = current === null ? 0 : current.requestBytes + current.responseBytes;
        if (bytes !== this.tunnelBytes) {
          // Bytes moved since the last check (or this is the first): look again one idle period later.
          this.tunnelBytes = bytes;
          this.deadline = performance.now() + this.ctx.tunnelIdleTimeoutMs;
          return;
        }
        this.deadline = 0;
        this.stats.tunnelsIdleClosed++;
        this.ctx.log.debug({ listener: this.ctx.name, idleMs: this.ctx.tunnelIdleTimeoutMs }, "tunnel idle; closed");
        this.destroy();
        return;
      }
    }
  }

  /** Close now if idle (graceful shutdown); busy connections close after their exchange. */
  closeIfIdle(): void {
    if (this.current === null) this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.deadline = 0;
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.closed = true;
    this.socket.destroy();
  }

  private onEnd(): void {
    if (this.tunnel) {
      this.current?.tunnelClientEnded();
      return;
    }
    // Half-close from the client: finish what is in flight, then close.
    this.clientEnded = true;
    if (this.current === null) this.close();
    else if (!this.current.reqDone) this.current.abort();
    else this.current.onClientEnded();
  }

  private onClose(): void {
    if (this.tunnel) {
      this.tunnel = false;
      this.stats.tunnelsOpen--;
    }
    this.closed = true;
    this.deadline = 0;
    const current = this.current;
    this.current = null;
    if (current !== null) current.onClientClosed();
    this.ctx.connectionClosed(this);
  }
}

/** Host header value without the port, trailing dot removed (already lowercase). */
export function hostWithoutPort(host: string): string {
  let end = host.length;
  if (host.charCodeAt(0) === 91 /* [ */) {
    const close = host.indexOf("]");
    return close < 0 ? host : host.slice(0, close + 1);
  }
  const colon = host.lastIndexOf(":");
  if (colon >= 0) end = colon;
  if (end > 0 && host.charCodeAt(end - 1) === 46 /* . */) end--;
  return end === host.length ? host : host.slice(0, end);
}
