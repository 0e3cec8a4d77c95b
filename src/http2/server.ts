// HTTP/2 on a listener: node:http2 sessions over the listener's (TLS or h2c) sockets,
// each stream served by a ClientConnection over a StreamSocket, and the limits that
// close abusive sessions (rapid reset, SETTINGS and PING floods, invalid frames).
import http2 from "node:http2";
import type net from "node:net";
import type { ListenerHttp2Config } from "../config/schema-http2.js";
import type { AcmeChallengeResponder, HttpsRedirect, RuntimeTable } from "../exchange/types.js";
import type { HeadLimits } from "../http1/types.js";
import { ClientConnection, type ListenerContext } from "../listener/connection.js";
import type { DeadlineSweeper } from "../listener/deadlines.js";
import type { Logger } from "../observability/logger.js";
import { type Http2Stats, type ListenerStats, newHttp2Stats } from "../observability/metrics/http-stats.js";
import { type StreamOwner, StreamSocket } from "./stream-socket.js";

const { NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/** The client connection preface (RFC 9113 §3.4) that starts h2c with prior knowledge. */
const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** What the HTTP/2 side needs from its listener. */
export interface Http2Host extends Omit<ListenerContext, "connectionClosed"> {
  readonly sweeper: DeadlineSweeper;
}

/** Counts events of one kind in one-second windows. */
class RateWindow {
  private start = 0;
  private count = 0;
  /** Counts one event now; true when `limit` is exceeded within the current second. */
  hit(now: number, limit: number): boolean {
    if (now - this.start >= 1000) {
      this.start = now;
      this.count = 0;
    }
    return ++this.count > limit;
  }
}

/** One client connection speaking HTTP/2. */
class Session implements StreamOwner {
  readonly resets = new RateWindow();
  readonly settings = new RateWindow();
  readonly pings = new RateWindow();
  closedFor: string | null = null;
  constructor(
    readonly front: Http2Front,
    readonly session: http2.ServerHttp2Session,
    readonly transport: net.Socket,
    readonly peer: string | undefined,
  ) {}

  streamResetByClient(): void {
    const front = this.front;
    front.h2.clientResets++;
    if (this.resets.hit(performance.now(), front.config.maxResetsPerSecond)) this.refuse("rapid-reset");
  }

  grpcStatus(conn: ClientConnection, status: string): void {
    const ex = conn.exchange;
    const key = `${ex?.tenant ?? ""}\0${ex?.router ?? ""}\0${ex?.service ?? ""}\0${status}`;
    const grpc = this.front.h2.grpc;
    grpc.set(key, (grpc.get(key) ?? 0) + 1);
  }

  /** Close an abusive session: GOAWAY ENHANCE_YOUR_CALM, then the connection. */
  refuse(reason: string): void {
    if (this.closedFor !== null || this.session.destroyed) return;
    this.closedFor = reason;
    this.front.countClosed(reason);
    this.front.log.debug({ listener: this.front.host.name, peer: this.peer ?? this.transport.remoteAddress, reason }, "HTTP/2 connection closed for abuse");
    this.session.destroy(new Error(`HTTP/2 connection closed for abuse: ${reason}`), NGHTTP2_ENHANCE_YOUR_CALM);
  }
}

/**
 * The HTTP/2 side of one listener. Settings (stream and header limits, windows)
 * apply to sessions that start after a reload; the rate limits are read live.
 */
export class Http2Front implements ListenerContext {
  config: ListenerHttp2Config;
  readonly host: Http2Host;
  readonly stats: ListenerStats;
  readonly log: Logger;
  private readonly server: http2.Http2Server;
  private readonly sessions = new Map<http2.ServerHttp2Session, Session>();
  /** The socket being handed over now, and the client address a PROXY header gave for it. */
  private handing: net.Socket | null = null;
  private handingPeer: string | undefined = undefined;

  constructor(host: Http2Host, config: ListenerHttp2Config) {
    this.host = host;
    this.config = config;
    this.stats = host.stats;
    this.stats.http2 ??= newHttp2Stats();
    this.log = host.log;
    this.server = http2.createServer(this.serverOptions(config));
    this.server.on("session", (session: http2.ServerHttp2Session) => this.opened(session));
    this.server.on("stream", (stream, headers, flags) => this.stream(stream, headers, flags));
    // Errors are per session ('error' below); the server's copy must not crash the process.
    this.server.on("sessionError", () => {});
  }

  get h2(): Http2Stats {
    return this.stats.http2!;
  }

  private serverOptions(c: ListenerHttp2Config): http2.ServerOptions {
    return {
      settings: { maxConcurrentStreams: c.maxConcurrentStreams, maxHeaderListSize: c.maxHeaderListSize, initialWindowSize: c.initialWindowSize, enableConnectProtocol: true },
      maxSessionMemory: Math.max(1, c.maxSessionMemory / (1024 * 1024)),
      maxSessionInvalidFrames: c.maxInvalidFrames,
      maxSessionRejectedStreams: c.maxRejectedStreams,
      maxHeaderListPairs: this.host.limits.maxHeaders + 8,
      maxOutstandingPings: 10,
      // The listener's timeouts.header and the sweeper bound slow heads; node's own idle timer is set per session.
    };
  }

  update(config: ListenerHttp2Config): void {
    this.config = config;
    this.server.updateSettings(this.serverOptions(config).settings!);
  }

  /** Serves an HTTP/2 connection (TLS with ALPN h2, or h2c with prior knowledge); `peer` is a PROXY header's client address. */
  accept(socket: net.Socket, peer?: string): void {
    // The listener's sockets allow half-open (an HTTP/1.1 client may half-close after its request);
    // an HTTP/2 client that closes its side has left, and its socket must close for the session to end.
    socket.allowHalfOpen = false;
    this.handing = socket;
    this.handingPeer = peer;
    this.server.emit("connection", socket);
    this.handing = null;
    this.handingPeer = undefined;
  }

  /**
   * A plain connection on an h2c listener: the HTTP/2 preface goes to HTTP/2,
   * anything else to `http1` (HTTP/1.1 as before), with the bytes read so far.
   */
  sniff(socket: net.Socket, http1: (socket: net.Socket) => void, peer?: string): void {
    let seen: Buffer | null = null;
    const onData = (chunk: Buffer) => {
      seen = seen === null ? chunk : Buffer.concat([seen, chunk]);
      const n = Math.min(seen.length, PREFACE.length);
      const h2 = seen.subarray(0, n).equals(PREFACE.subarray(0, n));
      if (h2 && seen.length < PREFACE.length) return;
      socket.off("data", onData);
      socket.off("close", onClose);
      socket.pause();
      socket.unshift(seen);
      if (h2) this.accept(socket, peer);
      else {
        http1(socket);
        socket.resume();
      }
    };
    const onClose = () => socket.off("data", onData);
    socket.on("data", onData);
    socket.on("close", onClose);
    socket.on("error", () => {});
  }

  private opened(session: http2.ServerHttp2Session): void {
    // The socket itself, not session.socket (a proxy that hides its events).
    const transport = this.handing ?? (session.socket as unknown as net.Socket);
    const s = new Session(this, session, transport, this.handingPeer);
    this.sessions.set(session, s);
    const h2 = this.h2;
    h2.sessionsOpen++;
    h2.sessionsOpened++;
    this.stats.accepted++;
    session.on("remoteSettings", () => {
      if (s.settings.hit(performance.now(), this.config.maxSettingsPerSecond)) s.refuse("settings-flood");
    });
    session.on("ping", () => {
      if (s.pings.hit(performance.now(), this.config.maxPingsPerSecond)) s.refuse("ping-flood");
    });
    session.on("error", (err: NodeJS.ErrnoException) => {
      if (s.closedFor === null) {
        s.closedFor = sessionErrorReason(err);
        this.countClosed(s.closedFor);
      }
    });
    session.on("frameError", () => {
      // A frame node:http2 could not send (the stream was gone): the stream's own 'close' covers it.
    });
    session.on("goaway", () => {
      // The client leaves; streams in flight finish.
    });
    const idle = this.config.idleTimeout;
    if (idle > 0) {
      session.setTimeout(idle, () => {
        if (s.closedFor === null) {
          s.closedFor = "idle";
          this.countClosed("idle");
        }
        session.close();
        setTimeout(() => session.destroy(), 1000).unref();
      });
    }
    session.on("close", () => {
      this.sessions.delete(session);
      h2.sessionsOpen--;
    });
    transport.once("close", () => session.destroy());
  }

  private stream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number): void {
    const s = this.sessions.get(stream.session as http2.ServerHttp2Session);
    if (s === undefined || stream.destroyed) return;
    this.h2.streams++;
    const socket = new StreamSocket(stream, headers, flags, s.transport, s);
    const conn = new ClientConnection(socket as unknown as net.Socket, this, s.peer, true);
    socket.conn = conn;
    this.host.sweeper.add(conn);
  }

  countClosed(reason: string): void {
    const closed = this.h2.closed;
    closed.set(reason, (closed.get(reason) ?? 0) + 1);
  }

  /** HTTP/2 connections open now. */
  get size(): number {
    return this.sessions.size;
  }

  /** Graceful shutdown: GOAWAY to every session; streams in flight finish. */
  close(): void {
    for (const session of this.sessions.keys()) session.close();
  }

  destroyAll(): void {
    for (const session of this.sessions.keys()) session.destroy();
  }

  // ---------------------------------------------------------------- ListenerContext for the streams

  get name(): string {
    return this.host.name;
  }
  get scheme(): "http" | "https" {
    return this.host.scheme;
  }
  get limits(): HeadLimits {
    return this.host.limits;
  }
  get headerTimeoutMs(): number {
    return this.host.headerTimeoutMs;
  }
  get idleTimeoutMs(): number {
    return this.host.idleTimeoutMs;
  }
  get tunnelIdleTimeoutMs(): number {
    return this.host.tunnelIdleTimeoutMs;
  }
  get httpsRedirect(): HttpsRedirect | null {
    return this.host.httpsRedirect;
  }
  get acmeChallenges(): AcmeChallengeResponder | null {
    return this.host.acmeChallenges;
  }
  table(): RuntimeTable {
    return this.host.table();
  }
  draining(): boolean {
    return this.host.draining();
  }
  nextExchangeId(): number {
    return this.host.nextExchangeId();
  }
  connectionClosed(conn: ClientConnection): void {
    this.host.sweeper.delete(conn);
  }
}

/** A short, stable name for why node:http2 ended a session (a metric label). */
function sessionErrorReason(err: NodeJS.ErrnoException): string {
  return err.code === "ERR_HTTP2_TOO_MANY_INVALID_FRAMES" ? "invalid-frames" : "protocol-error";
}
