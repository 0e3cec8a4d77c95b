// Hot path (routers with a compress middleware): the zlib streams behind the body filters.
import type { Transform } from "node:stream";
import zlib from "node:zlib";
import { BodyFilterError } from "../../errors.js";
import type { MetricCell } from "../../observability/metrics/plugin-metrics.js";
import type { BodyFilter, BodySink } from "../plugin.js";

/** Encodings a response may be compressed with. */
export type Encoding = "br" | "gzip" | "zstd";

type ZstdZlib = {
  createZstdCompress(options: object): Transform;
  createZstdDecompress(options?: object): Transform;
  constants: Record<string, number>;
};

/** How to open one encoder, compiled once per configuration load. */
export interface EncoderSpec {
  readonly encoding: Encoding;
  readonly open: () => Transform;
  /** The whole body at once, synchronously (no stream, no thread-pool hop). */
  readonly oneShot: (body: Buffer) => Buffer;
  /** The flush that ends a deflate block / brotli meta-block without resetting the dictionary. */
  readonly flush: number;
}

/** The encoder of `encoding` at its configured level. */
export function encoderSpec(encoding: Encoding, level: number, brWindow: number): EncoderSpec {
  const c = zlib.constants;
  if (encoding === "gzip") {
    const options: zlib.ZlibOptions = { level };
    return { encoding, open: () => zlib.createGzip(options), oneShot: (b) => zlib.gzipSync(b, options), flush: c.Z_SYNC_FLUSH };
  }
  if (encoding === "br") {
    const options: zlib.BrotliOptions = { params: { [c.BROTLI_PARAM_QUALITY]: level, [c.BROTLI_PARAM_LGWIN]: brWindow } };
    return { encoding, open: () => zlib.createBrotliCompress(options), oneShot: (b) => zlib.brotliCompressSync(b, options), flush: c.BROTLI_OPERATION_FLUSH };
  }
  const z = zlib as unknown as ZstdZlib & { zstdCompressSync(b: Buffer, o: object): Buffer };
  const options = { params: { [z.constants.ZSTD_c_compressionLevel!]: level } };
  return { encoding, open: () => z.createZstdCompress(options), oneShot: (b) => z.zstdCompressSync(b, options), flush: z.constants.ZSTD_e_flush! };
}

/** A decompressor for a request's Content-Encoding (lowercased), or undefined when there is none for it here. */
export function openDecoder(encoding: string): Transform | undefined {
  switch (encoding) {
    case "gzip":
    case "x-gzip":
      return zlib.createGunzip();
    case "deflate":
      return zlib.createInflate();
    case "br":
      return zlib.createBrotliDecompress();
    case "zstd": {
      const z = zlib as unknown as Partial<ZstdZlib>;
      return typeof z.createZstdDecompress === "function" ? z.createZstdDecompress() : undefined;
    }
    default:
      return undefined;
  }
}

/** Counters one filter adds its bytes to. */
export interface ByteCounters {
  readonly input: MetricCell;
  readonly output: MetricCell;
}

/**
 * A body filter around one zlib stream: input bytes go in, its output goes to
 * the sink as zlib produces it, its end ends the sink. A subclass decides what an
 * output chunk and an error mean.
 */
abstract class ZlibFilter implements BodyFilter {
  protected sink: BodySink | null = null;
  /** No more input is taken: the body ended, was refused, or the exchange is gone. */
  protected closed = false;

  constructor(
    protected readonly stream: Transform,
    protected readonly bytes: ByteCounters,
  ) {
    stream.on("data", (out: Buffer) => this.output(out));
    stream.on("end", () => this.finished());
    stream.on("error", (err: Error) => this.failed(err));
  }

  write(chunk: Buffer, sink: BodySink): void {
    if (this.closed) return;
    this.sink = sink;
    this.bytes.input.inc(chunk.length);
    this.stream.write(chunk);
  }

  end(sink: BodySink): void {
    if (this.closed) return;
    this.sink = sink;
    this.closed = true;
    // Ending the stream flushes everything that is left.
    this.stream.end();
  }

  destroy(): void {
    this.closed = true;
    this.stream.destroy();
  }

  protected output(out: Buffer): void {
    this.bytes.output.inc(out.length);
    this.sink?.write(out);
  }

  protected finished(): void {
    this.sink?.end();
  }

  protected abstract failed(err: Error): void;
}

/** The end of an event-loop turn of a CompressFilter: open its stream, or flush it. */
function endOfTurn(filter: CompressFilter): void {
  filter.turnEnded();
}

/**
 * Compresses a response body as it streams. The first turn's chunks are held: a
 * body that ends in the same event-loop turn (most API answers) is compressed in
 * one synchronous call, with no stream and no thread-pool hop. A longer one gets
 * a zlib stream, and each event-loop turn that brought body bytes ends with a sync
 * flush, so what the backend sent reaches the client now (server-sent events, long
 * polls) without a flush per small chunk — the chunked decoder hands over many in
 * one read, and each flush costs ratio.
 */
export class CompressFilter implements BodyFilter {
  private sink: BodySink | null = null;
  private stream: Transform | null = null;
  /** Chunks of the first turn, before the stream is opened. */
  private held: Buffer[] | null = [];
  private turnScheduled = false;
  private closed = false;

  constructor(
    private readonly spec: EncoderSpec,
    private readonly bytes: ByteCounters,
  ) {}

  write(chunk: Buffer, sink: BodySink): void {
    if (this.closed) return;
    this.sink = sink;
    this.bytes.input.inc(chunk.length);
    if (this.held !== null) this.held.push(chunk);
    else this.stream!.write(chunk);
    if (!this.turnScheduled) {
      this.turnScheduled = true;
      setImmediate(endOfTurn, this);
    }
  }

  end(sink: BodySink): void {
    if (this.closed) return;
    this.sink = sink;
    this.closed = true;
    const held = this.held;
    if (held !== null) {
      this.held = null;
      const out = this.spec.oneShot(held.length === 1 ? held[0]! : Buffer.concat(held));
      this.bytes.output.inc(out.length);
      sink.write(out);
      sink.end();
      return;
    }
    // Ending the stream flushes everything that is left.
    this.stream!.end();
  }

  destroy(): void {
    this.closed = true;
    this.held = null;
    this.stream?.destroy();
  }

  /** @internal the end of a turn with writes: the body goes on, so it needs a stream; flush what came. */
  turnEnded(): void {
    this.turnScheduled = false;
    if (this.closed) return;
    let stream = this.stream;
    if (stream === null) {
      stream = this.spec.open();
      this.stream = stream;
      stream.on("data", (out: Buffer) => {
        this.bytes.output.inc(out.length);
        this.sink?.write(out);
      });
      stream.on("end", () => this.sink?.end());
      stream.on("error", (err: Error) => {
        this.closed = true;
        this.sink?.error(err);
      });
      for (const chunk of this.held!) stream.write(chunk);
      this.held = null;
    }
    (stream as unknown as { flush(kind: number): void }).flush(this.spec.flush);
  }
}

/** Limits of request decompression. */
export interface DecompressLimits {
  readonly maxSize: number;
  readonly maxRatio: number;
}

/** Decompressed bytes from which the ratio limit applies (small bodies legitimately shrink a lot). */
export const RATIO_FLOOR = 64 * 1024;

/** Refusals of request decompression, by reason. */
export interface RefusalCounters {
  readonly tooLarge: MetricCell;
  readonly ratio: MetricCell;
  readonly corrupt: MetricCell;
}

/**
 * Decompresses a request body on its way to the backend, within a bound on the
 * decompressed size and on the ratio to the compressed size: zlib inflates in
 * chunks of 16 KiB, and the first chunk past a limit stops it (a zip bomb never
 * inflates further than that).
 */
export class DecompressFilter extends ZlibFilter {
  private inflated = 0;
  /** Refused or failed: nothing more goes to the sink. */
  private refused = false;

  constructor(
    stream: Transform,
    private readonly limits: DecompressLimits,
    bytes: ByteCounters,
    private readonly refusals: RefusalCounters,
  ) {
    super(stream, bytes);
  }

  private refuse(err: BodyFilterError, counter: MetricCell): void {
    this.closed = true;
    this.refused = true;
    counter.inc();
    this.stream.destroy();
    this.sink?.error(err);
  }

  protected override output(out: Buffer): void {
    if (this.refused) return;
    this.inflated += out.length;
    const { maxSize, maxRatio } = this.limits;
    if (this.inflated > maxSize) {
      this.refuse(new BodyFilterError("ERR_DECOMPRESSED_BODY_TOO_LARGE", `the request body inflates past the ${maxSize} bytes this route accepts`, 413), this.refusals.tooLarge);
      return;
    }
    // Against what zlib consumed so far, not what arrived: the whole bomb may already be queued.
    if (this.inflated > RATIO_FLOOR && this.inflated > (this.stream as unknown as zlib.Zlib).bytesWritten * maxRatio) {
      this.refuse(
        new BodyFilterError("ERR_DECOMPRESSION_RATIO", `the request body inflates more than ${maxRatio} times its compressed size (a decompression bomb)`, 413),
        this.refusals.ratio,
      );
      return;
    }
    super.output(out);
  }

  protected override finished(): void {
    if (!this.refused) super.finished();
  }

  protected failed(err: Error): void {
    if (this.refused) return;
    this.refuse(new BodyFilterError("ERR_CORRUPT_REQUEST_BODY", `the request body is not valid for its Content-Encoding (${err.message})`, 400), this.refusals.corrupt);
  }
}

/** A request body in an encoding this gateway cannot decompress: refused with 415 before any byte goes on. */
export class UnsupportedEncodingFilter implements BodyFilter {
  constructor(private readonly encoding: string) {}
  write(_chunk: Buffer, sink: BodySink): void {
    this.refuse(sink);
  }
  end(sink: BodySink): void {
    this.refuse(sink);
  }
  private refuse(sink: BodySink): void {
    sink.error(new BodyFilterError("ERR_UNSUPPORTED_CONTENT_ENCODING", `request bodies in Content-Encoding "${this.encoding}" are not accepted here (gzip, br, deflate are)`, 415));
  }
}
