// Hot path (HTTP/2 requests): one HTTP/2 stream presented to the HTTP/1.1 connection
// code as a socket. The request is written into it as an HTTP/1.1 message (head,
// then the body chunked unless a Content-Length came); the HTTP/1.1 response the
// exchange writes back is parsed and sent as HEADERS, DATA and trailing HEADERS.
// The exchange, middlewares, metrics and logs run unchanged; the cost is one
// head serialization and parse each way, small next to node:http2's own work.
import { randomBytes } from "node:crypto";
import http2 from "node:http2";
import type net from "node:net";
import { Duplex } from "node:stream";
import type tls from "node:tls";
import { ChunkedDecoder, type ChunkSink } from "../http1/chunked.js";
import { parseResponseHead } from "../http1/parse-response.js";
import { BodyKind, type RawHeaders } from "../http1/types.js";
import type { ClientConnection } from "../listener/connection.js";
import { encodeGrpcMessage, grpcStatusForHttp, isGrpcContentType } from "./grpc.js";

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_PROTOCOL_ERROR } = http2.constants;
const MAX_RESPONSE_HEAD = 64 * 1024;
/** Most of a gateway-made error body kept as the grpc-message of a gRPC client's answer. */
const MAX_GRPC_MESSAGE = 1024;
const CRLF = Buffer.from("\r\n");
const LAST_CHUNK = "0\r\n";

/** What a stream tells its session about (counts and the gRPC status metric). */
export interface StreamOwner {
  /** The client reset this stream (RST_STREAM) before its response was complete. */
  streamResetByClient(): void;
  /** A gRPC call ended with `status` (from the backend's trailers, or the gateway's own answer). */
  grpcStatus(conn: ClientConnection, status: string): void;
}

const enum Out {
  /** Waiting for the exchange's response head. */
  Head = 0,
  /** Content-Length body: `remaining` bytes to go. */
  Length = 1,
  Chunked = 2,
  /** Body until the exchange ends the socket. */
  UntilEnd = 3,
  /** After 101 (WebSocket over extended CONNECT): bytes both ways. */
  Tunnel = 4,
  /** A gRPC call answered in plain HTTP: the body becomes grpc-message. */
  GrpcError = 5,
  Done = 6,
}

/** Response fields that have no meaning in HTTP/2 (RFC 9113 §8.2.2). */
function connectionSpecific(lower: string): boolean {
  return lower === "connection" || lower === "keep-alive" || lower === "proxy-connection" || lower === "transfer-encoding" || lower === "upgrade";
}

/**
 * The HTTP/1.1 request head for an HTTP/2 stream's headers. Pseudo-headers become
 * the request line and Host; Connection: close makes the connection code finish
 * after this one exchange. Extended CONNECT with :protocol websocket (RFC 8441)
 * becomes a GET with Upgrade: websocket and a fresh Sec-WebSocket-Key.
 */
export function requestHeadText(headers: http2.IncomingHttpHeaders, endStream: boolean): { text: string; chunked: boolean; length: number; websocket: boolean; grpc: boolean } {
  let method = headers[":method"] ?? "GET";
  const protocol = headers[":protocol"];
  const websocket = method === "CONNECT" && typeof protocol === "string" && protocol.toLowerCase() === "websocket";
  if (websocket) method = "GET";
  const authority = headers[":authority"] ?? headers.host ?? "";
  const path = headers[":path"] ?? (method === "CONNECT" ? authority : "/");
  let s = `${method} ${path} HTTP/1.1\r\nhost: ${authority}\r\n`;
  let length = -1;
  let grpc = false;
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* : */ || name === "host") continue;
    const v = headers[name];
    if (v === undefined) continue;
    if (typeof v === "string") {
      if (name === "content-length") length = Number(v);
      else if (name === "content-type") grpc = isGrpcContentType(v);
      else if (websocket && (name === "sec-websocket-key" || name === "sec-websocket-version")) continue;
      s += `${name}: ${v}\r\n`;
    } else for (let i = 0; i < v.length; i++) s += `${name}: ${v[i]}\r\n`;
  }
  if (websocket) s += `connection: upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${randomBytes(16).toString("base64")}\r\n`;
  else s += "connection: close\r\n";
  const chunked = !endStream && length < 0 && !websocket;
  if (chunked) s += "transfer-encoding: chunked\r\n";
  return { text: `${s}\r\n`, chunked, length: endStream ? 0 : length, websocket, grpc };
}

const SOCKET = Symbol("divisor.streamSocket");
type OwnedStream = http2.ServerHttp2Stream & { [SOCKET]: StreamSocket };

function onStreamData(this: OwnedStream, chunk: Buffer): void {
  this[SOCKET].fromClient(chunk);
}
function onStreamTrailers(this: OwnedStream, trailers: http2.IncomingHttpHeaders): void {
  this[SOCKET].requestTrailers = trailers;
}
function onStreamEnd(this: OwnedStream): void {
  this[SOCKET].clientEnd();
}
function onStreamDrain(this: OwnedStream): void {
  this[SOCKET].drained();
}
function onStreamWantTrailers(this: OwnedStream): void {
  this[SOCKET].sendTrailers();
}
function onStreamClose(this: OwnedStream): void {
  this[SOCKET].streamClosed();
}
function ignore(): void {
  // 'error' on a stream: 'close' follows and ends the exchange.
}

/** One HTTP/2 stream as the duplex a ClientConnection reads requests from and writes responses to. */
export class StreamSocket extends Duplex implements ChunkSink {
  readonly stream: http2.ServerHttp2Stream;
  /** The connection's socket (TLS or plain): addresses and the client certificate come from it. */
  private readonly transport: net.Socket;
  private readonly owner: StreamOwner;
  conn: ClientConnection | null = null;
  private readonly method: string;
  private readonly chunkedIn: boolean;
  /** Request body bytes still allowed by the client's Content-Length (-1: none given). */
  private lengthIn: number;
  private readonly grpc: boolean;
  private readonly websocket: boolean;
  private clientEnded: boolean;
  requestTrailers: http2.IncomingHttpHeaders | null = null;
  private out = Out.Head;
  private headBuf: Buffer | null = null;
  private remaining = 0;
  private decoder: ChunkedDecoder | null = null;
  private grpcStatusCode = 0;
  private grpcMessage = "";
  private pendingWrite: ((err?: Error | null) => void) | null = null;
  private blocked = false;
  private resetByUs = false;

  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number, transport: net.Socket, owner: StreamOwner) {
    super({ allowHalfOpen: true });
    this.stream = stream;
    this.transport = transport;
    this.owner = owner;
    const endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 || stream.readableEnded;
    const req = requestHeadText(headers, endStream);
    this.method = headers[":method"] ?? "GET";
    this.chunkedIn = req.chunked;
    this.lengthIn = req.length;
    this.grpc = req.grpc;
    this.websocket = req.websocket;
    this.clientEnded = endStream;
    this.push(Buffer.from(req.text, "latin1"));
    // Shared listeners (no closures per stream): each finds its StreamSocket on the stream.
    (stream as OwnedStream)[SOCKET] = this;
    stream.on("data", onStreamData);
    stream.on("trailers", onStreamTrailers);
    stream.on("end", onStreamEnd);
    stream.on("drain", onStreamDrain);
    stream.on("wantTrailers", onStreamWantTrailers);
    stream.on("error", ignore);
    stream.on("close", onStreamClose);
  }

  // ------------------------------------------------ what the connection code reads of a socket

  get remoteAddress(): string | undefined {
    return this.transport.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.transport.remotePort;
  }
  get localAddress(): string | undefined {
    return this.transport.localAddress;
  }
  get localPort(): number | undefined {
    return this.transport.localPort;
  }
  get encrypted(): boolean {
    return (this.transport as tls.TLSSocket).encrypted === true;
  }
  get authorized(): boolean {
    return (this.transport as tls.TLSSocket).authorized === true;
  }
  get authorizationError(): Error | undefined {
    return (this.transport as tls.TLSSocket).authorizationError;
  }
  getPeerCertificate(detailed?: boolean): tls.PeerCertificate | object | null {
    const t = this.transport as tls.TLSSocket;
    return typeof t.getPeerCertificate === "function" ? t.getPeerCertificate(detailed) : null;
  }
  setNoDelay(): this {
    return this;
  }
  /** A middleware asked to reset the connection: for one stream, that is RST_STREAM. */
  resetAndDestroy(): this {
    this.resetStream(NGHTTP2_CANCEL);
    this.destroy();
    return this;
  }

  // ------------------------------------------------ request: client -> exchange

  /** @internal */
  fromClient(chunk: Buffer): void {
    let ok: boolean;
    if (this.chunkedIn) ok = this.push(Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`, "latin1"), chunk, CRLF]));
    else {
      if (this.lengthIn >= 0) {
        this.lengthIn -= chunk.length;
        if (this.lengthIn < 0) {
          // More DATA than the content-length announced: a malformed request (RFC 9113 §8.1.1).
          this.resetStream(NGHTTP2_PROTOCOL_ERROR);
          this.destroy();
          return;
        }
      }
      ok = this.push(chunk);
    }
    if (!ok) this.stream.pause();
  }

  /** @internal */
  clientEnd(): void {
    this.clientEnded = true;
    if (!this.chunkedIn) return;
    let last = LAST_CHUNK;
    const trailers = this.requestTrailers;
    if (trailers !== null) {
      for (const name in trailers) {
        const v = trailers[name];
        if (name.charCodeAt(0) === 58 || v === undefined) continue;
        if (typeof v === "string") last += `${name}: ${v}\r\n`;
        else for (const x of v) last += `${name}: ${x}\r\n`;
      }
    }
    this.push(Buffer.from(`${last}\r\n`, "latin1"));
  }

  override _read(): void {
    if (this.stream.isPaused()) this.stream.resume();
  }

  // ------------------------------------------------ response: exchange -> client

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    try {
      this.fromExchange(chunk);
    } catch {
      // The exchange wrote something that is not an HTTP/1.1 response: a bug, costing this stream only.
      this.resetStream(NGHTTP2_INTERNAL_ERROR);
      this.out = Out.Done;
    }
    if (this.blocked) {
      this.blocked = false;
      this.pendingWrite = cb;
    } else cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.out === Out.UntilEnd || this.out === Out.Tunnel) {
      this.out = Out.Done;
      this.stream.end();
    } else if (this.out === Out.GrpcError) this.answerGrpcError();
    // Answered before the request body ended (413, a refusal): the client may stop sending (RFC 9113 §8.1).
    // Not while trailers are due: RST_STREAM would cut them.
    if (!this.clientEnded && this.out === Out.Done && this.decoder === null && !this.stream.closed) this.stream.close(http2.constants.NGHTTP2_NO_ERROR);
    cb();
    // One exchange per stream: once the connection code closes its side, the socket is done.
    this.destroy();
  }

  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    if (this.out !== Out.Done && !this.stream.closed) this.resetStream(NGHTTP2_INTERNAL_ERROR);
    const pending = this.pendingWrite;
    this.pendingWrite = null;
    if (pending !== null) pending();
    cb(err);
  }

  /** @internal */
  drained(): void {
    const cb = this.pendingWrite;
    if (cb !== null) {
      this.pendingWrite = null;
      cb();
    }
  }

  private write2(data: Buffer): void {
    if (!this.stream.write(data)) this.blocked = true;
  }

  private fromExchange(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      switch (this.out) {
        case Out.Head:
          start = this.readHead(chunk, start);
          break;
        case Out.Length: {
          const take = Math.min(this.remaining, chunk.length - start);
          const data = start === 0 && take === chunk.length ? chunk : chunk.subarray(start, start + take);
          start += take;
          this.remaining -= take;
          if (this.remaining === 0) {
            // The last bytes and END_STREAM in one call: a write still pending when the stream closes costs node an error object.
            this.out = Out.Done;
            this.stream.end(data);
          } else this.write2(data);
          break;
        }
        case Out.Chunked: {
          const decoder = this.decoder!;
          start += decoder.push(chunk, start, chunk.length, this);
          if (decoder.done) {
            // Counted now, while the exchange (router, service) is still this connection's.
            if (this.grpc) this.countGrpc(fieldOf(decoder.trailers, "grpc-status"));
            this.endResponse();
          }
          break;
        }
        case Out.UntilEnd:
        case Out.Tunnel:
          this.write2(start === 0 ? chunk : chunk.subarray(start));
          return;
        case Out.GrpcError: {
          const decoder = this.decoder;
          if (decoder !== null) {
            start += decoder.push(chunk, start, chunk.length, this);
            if (decoder.done) this.answerGrpcError();
            break;
          }
          this.onData(chunk, start, chunk.length);
          if (this.remaining >= 0) {
            this.remaining -= chunk.length - start;
            if (this.remaining <= 0) this.answerGrpcError();
          }
          return;
        }
        case Out.Done:
          return;
      }
    }
  }

  /** ChunkSink: de-chunked response body data. */
  onData(buf: Buffer, start: number, end: number): void {
    if (this.out !== Out.GrpcError) this.write2(buf.subarray(start, end));
    else if (this.grpcMessage.length < MAX_GRPC_MESSAGE) this.grpcMessage += buf.toString("utf8", start, Math.min(end, start + MAX_GRPC_MESSAGE));
  }

  /** Parses the response head at chunk[start..]; returns where its body starts (chunk.length while incomplete). */
  private readHead(chunk: Buffer, start: number): number {
    let buf = chunk;
    let from = start;
    if (this.headBuf !== null) {
      buf = Buffer.concat([this.headBuf, chunk.subarray(start)]);
      from = 0;
    }
    const parsed = parseResponseHead(buf, from, buf.length, this.method, MAX_RESPONSE_HEAD);
    if (parsed === null) {
      this.headBuf = from === 0 && buf !== chunk ? buf : Buffer.from(buf.subarray(from));
      return chunk.length;
    }
    const headLen = parsed.length - from;
    const consumed = this.headBuf === null ? start + headLen : chunk.length - (buf.length - parsed.length);
    this.headBuf = null;
    const head = parsed.head;
    const status = head.statusCode;
    if (status >= 100 && status < 200 && status !== 101) return consumed; // 100 Continue and friends: HTTP/2 clients need none
    const headers = h2ResponseHeaders(status === 101 ? 200 : status, head.headers);
    if (status === 101) {
      if (!this.websocket) throw new Error("101 for a request that asked no upgrade");
      delete headers["sec-websocket-accept"];
      this.stream.respond(headers);
      this.out = Out.Tunnel;
      return consumed;
    }
    let kind = head.bodyKind;
    if (this.method === "HEAD" || status === 204 || status === 304) kind = BodyKind.None;
    if (this.grpc && (status !== 200 || !isGrpcContentType(headers["content-type"] as string | undefined))) {
      // A gRPC client reads statuses from trailers: a plain-HTTP answer becomes a trailers-only response.
      this.grpcStatusCode = grpcStatusForHttp(status);
      this.grpcMessage = "";
      this.out = Out.GrpcError;
      this.remaining = kind === BodyKind.Length ? head.contentLength : kind === BodyKind.None ? 0 : -1;
      if (kind === BodyKind.Chunked) this.decoder = new ChunkedDecoder();
      if (this.remaining === 0) this.answerGrpcError();
      return consumed;
    }
    switch (kind) {
      case BodyKind.None:
        if (this.grpc) this.countGrpc(headers["grpc-status"]);
        this.out = Out.Done;
        this.stream.respond(headers, { endStream: true });
        break;
      case BodyKind.Length:
        if (head.contentLength === 0) {
          if (this.grpc) this.countGrpc(headers["grpc-status"]);
          this.out = Out.Done;
          this.stream.respond(headers, { endStream: true });
        } else {
          this.stream.respond(headers);
          this.out = Out.Length;
          this.remaining = head.contentLength;
        }
        break;
      case BodyKind.Chunked:
        // Trailers can only follow a chunked body: wait for them before closing the stream.
        this.stream.respond(headers, { waitForTrailers: true });
        this.decoder = new ChunkedDecoder();
        this.out = Out.Chunked;
        break;
      default:
        this.stream.respond(headers);
        this.out = Out.UntilEnd;
    }
    return consumed;
  }

  private endResponse(): void {
    this.out = Out.Done;
    this.stream.end();
  }

  /** 'wantTrailers': the body went out; send the backend's trailers (an empty HEADERS frame when there were none). */
  /** @internal */
  sendTrailers(): void {
    const trailers: http2.OutgoingHttpHeaders = {};
    const raw = this.decoder?.trailers;
    if (raw !== undefined) {
      for (let i = 0; i < raw.length; i += 2) {
        const lower = raw[i]!.toLowerCase();
        const prev = trailers[lower];
        if (prev === undefined) trailers[lower] = raw[i + 1]!;
        else trailers[lower] = Array.isArray(prev) ? [...prev, raw[i + 1]!] : [prev as string, raw[i + 1]!];
      }
    }
    if (!this.stream.closed) this.stream.sendTrailers(trailers);
  }

  private answerGrpcError(): void {
    if (this.out !== Out.GrpcError) return;
    this.out = Out.Done;
    const status = String(this.grpcStatusCode);
    this.countGrpc(status);
    if (this.stream.closed || this.stream.headersSent) return;
    this.stream.respond(
      { ":status": 200, "content-type": "application/grpc", "grpc-status": status, "grpc-message": encodeGrpcMessage(this.grpcMessage.trim().slice(0, MAX_GRPC_MESSAGE)) },
      { endStream: true },
    );
  }

  private countGrpc(status: unknown): void {
    if (this.conn !== null) this.owner.grpcStatus(this.conn, typeof status === "string" ? status : "unknown");
  }

  private resetStream(code: number): void {
    if (this.stream.closed) return;
    this.resetByUs = true;
    this.stream.close(code);
  }

  /** @internal */
  streamClosed(): void {
    if (!this.resetByUs && this.stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR && this.out !== Out.Done) this.owner.streamResetByClient();
    this.out = this.out === Out.Tunnel || this.out === Out.UntilEnd ? Out.Done : this.out;
    if (!this.destroyed) this.destroy();
  }
}

/** The first value of `lower` in a flat field list, or undefined. */
function fieldOf(raw: RawHeaders, lower: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === lower) return raw[i + 1];
  return undefined;
}

/** HTTP/2 response headers from an HTTP/1.1 head: names lowercased, connection-specific fields dropped, repeats kept. */
function h2ResponseHeaders(status: number, raw: RawHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = { ":status": status };
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i]!.toLowerCase();
    if (connectionSpecific(lower)) continue;
    const v = raw[i + 1]!;
    const prev = out[lower];
    if (prev === undefined) out[lower] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[lower] = [prev as string, v];
  }
  return out;
}
