// Hot path (only for exchanges whose middlewares filter a body): the chain of body filters.
import type { ChunkSink } from "../http1/chunked.js";
import { decimalLength, type HeaderList } from "../http1/headers.js";
import type { BodyFilter, BodySink, Exchange, Middleware, ResponseHeadView, UpstreamRequestHead } from "../middleware/plugin.js";

/** Where the last filter's output goes: the exchange, which frames it for the wire. */
export interface FilterOutput {
  data(chunk: Buffer): void;
  end(): void;
  failed(err: unknown): void;
}

/** The sink given to filter i: it feeds filter i+1, or the output after the last one. */
class StageSink implements BodySink {
  ended = false;
  constructor(
    private readonly chain: FilterChain,
    private readonly next: number,
  ) {}

  write(chunk: Buffer): void {
    if (this.ended || this.chain.closed) return;
    if (chunk.length === 0) return;
    this.chain.feed(this.next, chunk);
  }

  end(): void {
    if (this.ended || this.chain.closed) return;
    this.ended = true;
    this.chain.endAt(this.next);
  }

  error(err: Error): void {
    if (this.chain.closed) return;
    this.chain.fail(err);
  }
}

/**
 * Body filters in the order they see the bytes. Input goes in with `write`/`end`;
 * each filter passes its output to the next through its sink; the last one's reaches
 * `output`. A filter that throws, or calls `sink.error`, ends the chain: the output's
 * `failed` decides what the exchange does, and every filter is destroyed.
 */
export class FilterChain implements ChunkSink {
  /** Set once the chain ended (its output ended, or it failed, or it was destroyed). */
  closed = false;
  /** Set once `end` was called (the input is complete). */
  inputEnded = false;
  private readonly sinks: StageSink[];

  constructor(
    private readonly filters: readonly BodyFilter[],
    private readonly output: FilterOutput,
  ) {
    this.sinks = filters.map((_, i) => new StageSink(this, i + 1));
  }

  /** A chunk of the body, which the chain may keep: pass a buffer nothing else will reuse. */
  write(chunk: Buffer): void {
    if (!this.closed && !this.inputEnded && chunk.length > 0) this.feed(0, chunk);
  }

  /** ChunkSink: a chunked body's decoded data goes straight in (the range views a buffer Node never reuses). */
  onData(buf: Buffer, start: number, end: number): void {
    if (end > start) this.write(buf.subarray(start, end));
  }

  /** The input body is complete (further calls do nothing). */
  end(): void {
    if (this.closed || this.inputEnded) return;
    this.inputEnded = true;
    this.endAt(0);
  }

  /** The exchange ended first: release every filter. */
  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.destroyAll();
  }

  feed(index: number, chunk: Buffer): void {
    if (index === this.filters.length) {
      this.output.data(chunk);
      return;
    }
    try {
      this.filters[index]!.write(chunk, this.sinks[index]!);
    } catch (err) {
      this.fail(err);
    }
  }

  endAt(index: number): void {
    if (index === this.filters.length) {
      this.closed = true;
      this.output.end();
      return;
    }
    try {
      this.filters[index]!.end(this.sinks[index]!);
    } catch (err) {
      this.fail(err);
    }
  }

  fail(err: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.destroyAll();
    this.output.failed(err);
  }

  private destroyAll(): void {
    for (const f of this.filters) {
      try {
        f.destroy?.();
      } catch {
        // A filter failing to clean up must not take the exchange with it.
      }
    }
  }
}

/** Framing of a filtered body on the wire. */
export const enum Framing {
  /** Content-Length kept: exactly that many bytes. */
  Length = 0,
  /** Transfer-Encoding: chunked, re-framed by the gateway. */
  Chunked = 1,
  /** Close-delimited (an HTTP/1.0 client). */
  Close = 2,
}

const CRLF = Buffer.from("\r\n", "latin1");
/** The last chunk of a chunked body, with no trailers. */
export const LAST_CHUNK = Buffer.from("0\r\n\r\n", "latin1");

/** `chunk` framed as one chunk of a chunked body, in one buffer (for queues of body pieces). */
export function framedChunk(chunk: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`, "latin1"), chunk, CRLF]);
}

/** Write `chunk` as one chunk of a chunked body (the caller corks around it). */
export function writeChunk(socket: { write(b: Buffer | string, enc?: BufferEncoding): boolean }, chunk: Buffer): boolean {
  socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
  socket.write(chunk);
  return socket.write(CRLF);
}

/**
 * The body filters the middlewares of `list` return for this exchange (null: none).
 * If one throws, those already returned are destroyed and the error goes to the caller.
 */
export function collectFilters(
  list: readonly Middleware[],
  exchange: Exchange,
  side: "request" | "response",
  head: UpstreamRequestHead | ResponseHeadView,
): BodyFilter[] | null {
  let filters: BodyFilter[] | null = null;
  try {
    for (const mw of list) {
      const filter = side === "request" ? mw.onRequestBody!(exchange, head as UpstreamRequestHead) : mw.onResponseBody!(exchange, head as ResponseHeadView);
      if (filter !== undefined) (filters ??= []).push(filter);
    }
  } catch (err) {
    if (filters !== null) new FilterChain(filters, IGNORE_OUTPUT).destroy();
    throw err;
  }
  return filters;
}

const IGNORE_OUTPUT: FilterOutput = { data() {}, end() {}, failed() {} };

/**
 * The Content-Length the filters kept, as a number (Transfer-Encoding then goes), or
 * -1 when they deleted it or it is not plain digits (it goes: the gateway frames the body).
 */
export function keptLength(headers: HeaderList): number {
  const declared = headers.get("content-length");
  const length = declared === undefined ? -1 : decimalLength(declared);
  if (length >= 0) headers.delete("transfer-encoding");
  else headers.delete("content-length");
  return length;
}
