// Hot path (HTTP/2 services): HTTP/2 to a backend. One multiplexed session per backend
// (h2 by ALPN over TLS, or h2c with prior knowledge), reconnected when it closes or
// sends GOAWAY. Each exchange gets an UpstreamConnection whose socket is one stream:
// the HTTP/1.1 request the exchange writes becomes HEADERS and DATA, and the response
// comes back as HTTP/1.1 bytes (chunked, with the stream's trailers as chunked trailers).
import http2 from "node:http2";
import net from "node:net";
import { Duplex } from "node:stream";
import tls from "node:tls";
import { UpstreamError } from "../errors.js";
import { ChunkedDecoder, type ChunkSink } from "../http1/chunked.js";
import { parseRequestHead } from "../http1/parse-request.js";
import { BodyKind, type HeadLimits, type RequestHead } from "../http1/types.js";
import { STATUS_REASON } from "../exchange/status.js";
import type { BackendPool, PoolClient } from "../upstream/pool.js";
import { UpstreamConnection } from "../upstream/pool.js";
import { connectFailure, servernameFor } from "../upstream/tls.js";
import { isGrpcContentType } from "./grpc.js";

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR, NGHTTP2_FLAG_END_STREAM } = http2.constants;
/** The exchange's own serializer wrote the head; these bounds only guard against a bug. */
const HEAD_LIMITS: HeadLimits = { maxHeadSize: 1024 * 1024, maxHeaders: 10_000, maxUrlLength: 1024 * 1024 };
const CRLF = Buffer.from("\r\n");

/** Request fields that HTTP/2 forbids (RFC 9113 §8.2.2) or carries as pseudo-headers. */
function dropForHttp2(lower: string): boolean {
  switch (lower) {
    case "connection":
    case "keep-alive":
    case "proxy-connection":
    case "transfer-encoding":
    case "upgrade":
    case "host":
    case "te":
      return true;
    default:
      return false;
  }
}

/** The HTTP/2 session to one backend, and the exchanges waiting for it to connect. */
export class Http2Upstream {
  private readonly pool: BackendPool;
  private session: http2.ClientHttp2Session | null = null;
  private connected = false;
  private waiting: PoolClient[] = [];
  private closing = false;

  constructor(pool: BackendPool) {
    this.pool = pool;
  }

  /** Give `client` a stream on the session, connecting it first when there is none. */
  acquire(client: PoolClient): void {
    if (this.closing) {
      client.onUpstreamFailed(new UpstreamError("connect-error", "the gateway is shutting down"));
      return;
    }
    const s = this.session;
    if (s !== null && this.connected && !s.closed && !s.destroyed) {
      this.lease(client, s);
      return;
    }
    this.waiting.push(client);
    if (s === null) this.connect();
  }

  /** Give up waiting for the session (the client went away). */
  cancel(client: PoolClient): boolean {
    const i = this.waiting.indexOf(client);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  private connect(): void {
    const pool = this.pool;
    const { host, port, address } = pool.backend;
    const t = pool.options.tls;
    const started = performance.now();
    const session = http2.connect(`${t === null ? "http" : "https"}://${address}`, {
      createConnection: () =>
        t === null
          ? net.connect({ host, port, noDelay: true })
          : tls.connect({ host, port, servername: servernameFor(t, host), secureContext: t.context, rejectUnauthorized: t.verify, ALPNProtocols: ["h2"] }),
      settings: { enablePush: false },
    });
    this.session = session;
    this.connected = false;
    const timer = setTimeout(() => {
      this.failWaiting(new UpstreamError("connect-timeout", `connecting to backend ${address} timed out after ${pool.options.connectTimeoutMs} ms`));
      session.destroy();
    }, pool.options.connectTimeoutMs);
    session.once("connect", () => {
      clearTimeout(timer);
      const alpn = (session.socket as tls.TLSSocket).alpnProtocol;
      if (t !== null && alpn !== "h2") {
        this.failWaiting(new UpstreamError("tls-error", `backend ${address} does not offer HTTP/2 by ALPN (it chose ${alpn || "nothing"}); use protocol: http1 for it`));
        session.destroy();
        return;
      }
      this.connected = true;
      pool.stats.opened++;
      pool.stats.connect.observe(performance.now() - started);
      const waiting = this.waiting;
      this.waiting = [];
      for (const client of waiting) this.lease(client, session);
    });
    session.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      if (!this.connected) this.failWaiting(connectFailure(err, address));
      // Streams in flight get their own errors.
    });
    session.on("goaway", () => {
      // No new streams on it; those in flight finish. The next exchange connects afresh.
      if (this.session === session) this.session = null;
    });
    session.on("close", () => {
      clearTimeout(timer);
      if (this.session === session) this.session = null;
      if (this.waiting.length > 0 && !this.closing) {
        if (this.connected) this.connect();
        else this.failWaiting(new UpstreamError("connect-error", `the connection to backend ${address} closed before HTTP/2 started`));
      }
    });
    session.setTimeout(pool.options.idleTimeoutMs, () => {
      // Idle: nothing in flight and nothing sent for a pool idle timeout.
      if (this.session === session) this.session = null;
      session.close();
    });
  }

  private failWaiting(err: UpstreamError): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const client of waiting) client.onUpstreamFailed(err);
  }

  private lease(client: PoolClient, session: http2.ClientHttp2Session): void {
    const socket = new StreamUpstreamSocket(session, this.pool.options.tls !== null ? "https" : "http", this.pool.backend.address);
    const conn = new UpstreamConnection(socket as unknown as net.Socket, this.pool);
    this.pool.track(conn);
    client.onUpstreamReady(conn);
  }

  /** Whether a session is open now (for pool gauges: one connection). */
  get open(): boolean {
    return this.session !== null && this.connected;
  }

  /** Close the session gracefully (streams in flight finish). */
  close(): void {
    this.closing = true;
    this.failWaiting(new UpstreamError("connect-error", "the gateway is shutting down"));
    this.session?.close();
    this.session = null;
  }

  /** The backend left the configuration or its settings changed: new exchanges use a new session, this one finishes its streams. */
  retire(): void {
    const s = this.session;
    this.session = null;
    s?.close();
  }

  destroy(): void {
    this.closing = true;
    this.failWaiting(new UpstreamError("connect-error", "the gateway is shutting down"));
    this.session?.destroy();
    this.session = null;
  }
}

const enum In {
  Head = 0,
  Length = 1,
  Chunked = 2,
  Done = 3,
}

const enum Back {
  /** Waiting for the response HEADERS. */
  Head = 0,
  /** Passing a Content-Length body through as is. */
  Raw = 1,
  /** Re-framing DATA as chunks (trailers may follow). */
  Chunked = 2,
  Done = 3,
}

/** One HTTP/2 stream to a backend, as the socket an exchange writes an HTTP/1.1 request to and reads the response from. */
export class StreamUpstreamSocket extends Duplex implements ChunkSink {
  private readonly session: http2.ClientHttp2Session;
  private readonly scheme: string;
  private readonly address: string;
  private stream: http2.ClientHttp2Stream | null = null;
  private state = In.Head;
  private headBuf: Buffer | null = null;
  private remaining = 0;
  private decoder: ChunkedDecoder | null = null;
  private back = Back.Head;
  private trailers: http2.IncomingHttpHeaders | null = null;
  private pendingWrite: ((err?: Error | null) => void) | null = null;
  private blocked = false;

  constructor(session: http2.ClientHttp2Session, scheme: string, address: string) {
    super({ allowHalfOpen: true });
    this.session = session;
    this.scheme = scheme;
    this.address = address;
  }

  setNoDelay(): this {
    return this;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      this.fromExchange(chunk);
    } catch (err) {
      cb();
      this.destroy(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (this.blocked) {
      this.blocked = false;
      this.pendingWrite = cb;
    } else cb();
  }

  override _read(): void {
    if (this.stream?.isPaused()) this.stream.resume();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    const s = this.stream;
    if (s !== null && !s.closed) s.close(this.back === Back.Done && this.state === In.Done ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
    const pending = this.pendingWrite;
    this.pendingWrite = null;
    if (pending !== null) pending();
    cb(err);
  }

  private fromExchange(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      switch (this.state) {
        case In.Head: {
          const buf = this.headBuf === null ? chunk : Buffer.concat([this.headBuf, chunk]);
          const parsed = parseRequestHead(buf, 0, buf.length, HEAD_LIMITS);
          if (parsed === null) {
            this.headBuf = buf === chunk ? Buffer.from(chunk) : buf;
            return;
          }
          this.headBuf = null;
          this.open(parsed.head);
          start = parsed.length - (buf.length - chunk.length);
          break;
        }
        case In.Length: {
          const take = Math.min(this.remaining, chunk.length - start);
          this.toBackend(start === 0 && take === chunk.length ? chunk : chunk.subarray(start, start + take));
          start += take;
          this.remaining -= take;
          if (this.remaining === 0) this.endRequest();
          break;
        }
        case In.Chunked: {
          const decoder = this.decoder!;
          start += decoder.push(chunk, start, chunk.length, this);
          if (decoder.done) this.endRequest();
          break;
        }
        case In.Done:
          return; // nothing follows a request on its stream
      }
    }
  }

  /** ChunkSink: de-chunked request body data. */
  onData(buf: Buffer, start: number, end: number): void {
    this.toBackend(buf.subarray(start, end));
  }

  private toBackend(data: Buffer): void {
    if (this.stream !== null && !this.stream.write(data)) this.blocked = true;
  }

  private endRequest(): void {
    this.state = In.Done;
    this.stream?.end();
  }

  /** Sends the request HEADERS for the exchange's HTTP/1.1 head. */
  private open(head: RequestHead): void {
    if (head.upgrade) throw new Error(`backend ${this.address} is reached over HTTP/2, which carries no HTTP/1.1 Upgrade (WebSocket); use protocol: http1 for this service`);
    const headers: http2.OutgoingHttpHeaders = { ":method": head.method, ":path": head.target, ":scheme": this.scheme, ":authority": head.host === "" ? this.address : head.host };
    const raw = head.headers;
    let grpc = false;
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (dropForHttp2(lower)) continue;
      const v = raw[i + 1]!;
      if (lower === "content-type" && isGrpcContentType(v)) grpc = true;
      const prev = headers[lower];
      if (prev === undefined) headers[lower] = v;
      else if (lower === "cookie") headers[lower] = `${prev}; ${v}`;
      else if (Array.isArray(prev)) prev.push(v);
      else headers[lower] = [prev as string, v];
    }
    // gRPC servers may insist on it (gRPC over HTTP/2); it is hop-by-hop in HTTP/1.1, so the exchange dropped the client's.
    if (grpc) headers.te = "trailers";
    const endStream = head.bodyKind === BodyKind.None || (head.bodyKind === BodyKind.Length && head.contentLength === 0);
    const stream = this.session.request(headers, { endStream });
    this.stream = stream;
    if (endStream) this.state = In.Done;
    else if (head.bodyKind === BodyKind.Chunked) {
      this.decoder = new ChunkedDecoder();
      this.state = In.Chunked;
    } else {
      this.remaining = head.contentLength;
      this.state = In.Length;
    }
    stream.on("response", (h: http2.IncomingHttpHeaders, flags: number) => this.response(h, flags, head.method === "HEAD"));
    stream.on("data", (data: Buffer) => this.fromBackend(data));
    stream.on("trailers", (t: http2.IncomingHttpHeaders) => {
      this.trailers = t;
    });
    stream.on("end", () => this.backendEnd());
    stream.on("drain", () => {
      const cb = this.pendingWrite;
      this.pendingWrite = null;
      if (cb !== null) cb();
    });
    stream.on("error", (err: Error) => {
      if (this.back !== Back.Done) this.destroy(err);
    });
    stream.on("close", () => {
      if (this.back !== Back.Done && !this.destroyed) this.destroy(new Error(`backend ${this.address} reset the HTTP/2 stream (code ${stream.rstCode})`));
    });
  }

  private response(h: http2.IncomingHttpHeaders, flags: number, headRequest: boolean): void {
    const status = Number(h[":status"]);
    const ended = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    let s = `HTTP/1.1 ${status} ${STATUS_REASON[status] ?? "Unknown"}\r\n`;
    let length = -1;
    let grpc = false;
    for (const name in h) {
      if (name.charCodeAt(0) === 58 /* : */) continue;
      const v = h[name];
      if (v === undefined) continue;
      if (name === "content-length") {
        length = Number(v);
        continue;
      }
      if (name === "content-type" && typeof v === "string") grpc = isGrpcContentType(v);
      if (typeof v === "string") s += `${name}: ${v}\r\n`;
      else for (let i = 0; i < v.length; i++) s += `${name}: ${v[i]}\r\n`;
    }
    const bodiless = headRequest || status === 204 || status === 304;
    if (ended || bodiless) {
      if (length >= 0) s += `content-length: ${length}\r\n`;
      else if (!bodiless) s += "content-length: 0\r\n";
      this.back = Back.Done;
    } else if (length >= 0 && !grpc) {
      // A Content-Length body passes through as is (no trailers can follow it in HTTP/1.1 terms).
      s += `content-length: ${length}\r\n`;
      this.back = Back.Raw;
    } else {
      s += "transfer-encoding: chunked\r\n";
      this.back = Back.Chunked;
    }
    this.pushOut(Buffer.from(`${s}\r\n`, "latin1"));
  }

  private fromBackend(data: Buffer): void {
    if (this.back === Back.Raw) this.pushOut(data);
    else if (this.back === Back.Chunked) this.pushOut(Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`, "latin1"), data, CRLF]));
  }

  private backendEnd(): void {
    if (this.back === Back.Chunked) {
      let last = "0\r\n";
      const t = this.trailers;
      if (t !== null) {
        for (const name in t) {
          const v = t[name];
          if (name.charCodeAt(0) === 58 || v === undefined) continue;
          if (typeof v === "string") last += `${name}: ${v}\r\n`;
          else for (const x of v) last += `${name}: ${x}\r\n`;
        }
      }
      this.back = Back.Done;
      this.pushOut(Buffer.from(`${last}\r\n`, "latin1"));
    } else this.back = Back.Done;
  }

  private pushOut(data: Buffer): void {
    if (!this.push(data)) this.stream?.pause();
  }
}
