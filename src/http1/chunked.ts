// Hot path: incremental, strict chunked transfer-coding decoder (RFC 9112 §7.1).
import { HttpParseError } from "../errors.js";
import { FIELD_VALUE, HEX, QDTEXT, TOKEN } from "./chars.js";
import type { RawHeaders } from "./types.js";

// Module-local aliases and byte values: see chars.ts for why.
const TOKEN_T = TOKEN;
const VALUE_T = FIELD_VALUE;
const QDTEXT_T = QDTEXT;
const HEX_T = HEX;
const HTAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const DQUOTE = 0x22;
const COLON = 0x3a;
const SEMI = 0x3b;
const EQUALS = 0x3d;
const BACKSLASH = 0x5c;

/** Receives the body data of a chunked message, without the framing; the range is only valid during the call. */
export interface ChunkSink {
  onData(buf: Buffer, start: number, end: number): void;
}

/** Longest chunk-size line (size and extensions, CRLF excluded) accepted by default. */
export const DEFAULT_MAX_CHUNK_LINE_LENGTH = 4096;
/** Largest trailer section (final CRLF included) accepted by default. */
export const DEFAULT_MAX_TRAILER_SIZE = 16 * 1024;

enum State {
  /** First hex digit of a chunk size. */
  Size,
  /** More hex digits, or what follows the size. */
  SizeMore,
  /** After ';': an extension name. */
  ExtNameStart,
  ExtName,
  /** After '=': a token or a quoted string. */
  ExtValueStart,
  ExtValueToken,
  Quoted,
  QuotedEscape,
  AfterQuoted,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  /** Start of a trailer field line, or the CRLF ending the message. */
  TrailerStart,
  TrailerName,
  /** OWS and value of a trailer field, up to its CR. */
  TrailerValue,
  TrailerLf,
  FinalLf,
  Done,
}

/**
 * Incremental, strict chunked-body decoder/validator (RFC 9112 §7.1). The engine forwards the raw bytes it consumed
 * verbatim, so everything consumed has been checked: 1*HEXDIG sizes up to 2^53-1 (no sign, prefix or whitespace),
 * chunk extensions exactly per grammar and without whitespace, CRLF after every line and after the data, trailer fields as strict as header
 * fields (and no Content-Length, Transfer-Encoding or Host among them).
 *
 * @example
 * const decoder = new ChunkedDecoder();
 * const used = decoder.push(buf, start, buf.length, { onData: (b, s, e) => out.write(b.subarray(s, e)) });
 * if (decoder.done) nextMessageStartsAt(start + used);
 */
export class ChunkedDecoder {
  private readonly maxChunkLineLength: number;
  private readonly maxTrailerSize: number;
  private state = State.Size;
  /** Size of the current chunk while its line is read, then the data bytes still to come. */
  private remaining = 0;
  private lineLength = 0;
  private trailerSize = 0;
  /** Text of the trailer line being read, kept across push calls. */
  private pendingLine = "";
  private fields: RawHeaders = [];

  constructor(options?: { maxChunkLineLength?: number; maxTrailerSize?: number }) {
    this.maxChunkLineLength = options?.maxChunkLineLength ?? DEFAULT_MAX_CHUNK_LINE_LENGTH;
    this.maxTrailerSize = options?.maxTrailerSize ?? DEFAULT_MAX_TRAILER_SIZE;
  }

  /** The whole message body, last chunk and trailer section included, has been consumed. */
  get done(): boolean {
    return this.state === State.Done;
  }

  /** Trailer fields after the last chunk (flat name/value array), empty when none. */
  get trailers(): RawHeaders {
    return this.fields;
  }

  /** Start over for a new message. */
  reset(): void {
    this.state = State.Size;
    this.remaining = 0;
    this.lineLength = 0;
    this.trailerSize = 0;
    this.pendingLine = "";
    this.fields = [];
  }

  /**
   * Consume bytes of buf[start..end); returns how many were consumed, fewer than offered only once `done` (the rest
   * belongs to the next pipelined message). Calls sink.onData for body data. Throws HttpParseError on invalid framing.
   */
  push(buf: Buffer, start: number, end: number, sink?: ChunkSink): number {
    let state = this.state;
    let p = start;
    let lineStart = start;
    while (p < end && state !== State.Done) {
      if (state === State.Data) {
        const take = Math.min(this.remaining, end - p);
        if (sink !== undefined) sink.onData(buf, p, p + take);
        p += take;
        this.remaining -= take;
        if (this.remaining === 0) state = State.DataCr;
        continue;
      }
      const c = buf[p]!;
      if (state < State.SizeLf) {
        // lineLength counts the line's CR too, hence the + 1
        if (++this.lineLength > this.maxChunkLineLength + 1) throw new HttpParseError("chunk-size line too long");
        state = this.chunkLine(state, c);
      } else if (state >= State.TrailerStart) {
        if (++this.trailerSize > this.maxTrailerSize) throw new HttpParseError("trailer section too large", 431);
        switch (state) {
          case State.TrailerStart:
            if (c === CR) state = State.FinalLf;
            else if (TOKEN_T[c]! === 1) {
              state = State.TrailerName;
              lineStart = p;
            } else throw new HttpParseError(c === SP || c === HTAB ? "obsolete line folding in trailer" : "invalid trailer field name");
            break;
          case State.TrailerName:
            if (c === COLON) state = State.TrailerValue;
            else if (TOKEN_T[c]! !== 1) throw new HttpParseError("invalid trailer field name");
            break;
          case State.TrailerValue:
            if (c === CR) {
              this.pendingLine += buf.latin1Slice(lineStart, p);
              state = State.TrailerLf;
            } else if (VALUE_T[c]! !== 1) throw new HttpParseError("invalid character in trailer field value");
            break;
          case State.TrailerLf:
            if (c !== LF) throw new HttpParseError("bare CR in trailer section");
            this.addTrailer();
            state = State.TrailerStart;
            break;
          case State.FinalLf:
            if (c !== LF) throw new HttpParseError("bare CR after trailer section");
            state = State.Done;
            break;
        }
      } else {
        switch (state) {
          case State.SizeLf:
            if (c !== LF) throw new HttpParseError("bare CR in chunk-size line");
            this.lineLength = 0;
            state = this.remaining === 0 ? State.TrailerStart : State.Data;
            break;
          case State.DataCr:
            if (c !== CR) throw new HttpParseError("missing CRLF after chunk data");
            state = State.DataLf;
            break;
          case State.DataLf:
            if (c !== LF) throw new HttpParseError("missing CRLF after chunk data");
            state = State.Size;
            break;
        }
      }
      p++;
    }
    if (state === State.TrailerName || state === State.TrailerValue) {
      this.pendingLine += buf.latin1Slice(lineStart, p);
    }
    this.state = state;
    return p - start;
  }

  /**
   * One byte of a chunk-size line: 1*HEXDIG *( ";" token [ "=" ( token / quoted-string ) ] ) up to its CR. The BWS
   * that RFC 9112 §7.1.1 tolerates around ';' and '=' is rejected, as Node's parser rejects it: a backend reading the
   * line differently from us is exactly what smuggling needs.
   */
  private chunkLine(state: State, c: number): State {
    switch (state) {
      case State.Size: {
        const d = HEX_T[c]!;
        if (d === -1) throw new HttpParseError("invalid chunk size");
        this.remaining = d;
        return State.SizeMore;
      }
      case State.SizeMore: {
        const d = HEX_T[c]!;
        if (d !== -1) {
          this.remaining = this.remaining * 16 + d;
          if (this.remaining > Number.MAX_SAFE_INTEGER) throw new HttpParseError("chunk size too large");
          return State.SizeMore;
        }
        return this.afterItem(c, "invalid chunk size");
      }
      case State.ExtNameStart:
        if (TOKEN_T[c]! === 1) return State.ExtName;
        throw new HttpParseError("invalid chunk extension name");
      case State.ExtName:
        if (TOKEN_T[c]! === 1) return State.ExtName;
        if (c === EQUALS) return State.ExtValueStart;
        return this.afterItem(c, "invalid chunk extension name");
      case State.ExtValueStart:
        if (c === DQUOTE) return State.Quoted;
        if (TOKEN_T[c]! === 1) return State.ExtValueToken;
        throw new HttpParseError("invalid chunk extension value");
      case State.ExtValueToken:
        if (TOKEN_T[c]! === 1) return State.ExtValueToken;
        return this.afterItem(c, "invalid chunk extension value");
      case State.Quoted:
        if (c === DQUOTE) return State.AfterQuoted;
        if (c === BACKSLASH) return State.QuotedEscape;
        if (QDTEXT_T[c]! === 1) return State.Quoted;
        throw new HttpParseError("invalid character in quoted chunk extension value");
      case State.QuotedEscape:
        // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
        if (VALUE_T[c]! === 1) return State.Quoted;
        throw new HttpParseError("invalid quoted-pair in chunk extension value");
      default:
        return this.afterItem(c, "invalid chunk extension");
    }
  }

  /** After a size, an extension name or value: ';' starts another extension, CR ends the line. */
  private afterItem(c: number, reason: string): State {
    if (c === CR) return State.SizeLf;
    if (c === SEMI) return State.ExtNameStart;
    throw new HttpParseError(reason);
  }

  private addTrailer(): void {
    const line = this.pendingLine;
    this.pendingLine = "";
    const colon = line.indexOf(":");
    const name = line.slice(0, colon);
    const lower = name.toLowerCase();
    if (lower === "content-length" || lower === "transfer-encoding" || lower === "host") {
      throw new HttpParseError(`${name} is not allowed in a trailer section`);
    }
    let from = colon + 1;
    let to = line.length;
    let c = 0;
    while (from < to && ((c = line.charCodeAt(from)) === SP || c === HTAB)) from++;
    while (to > from && ((c = line.charCodeAt(to - 1)) === SP || c === HTAB)) to--;
    this.fields.push(name, line.slice(from, to));
  }
}
