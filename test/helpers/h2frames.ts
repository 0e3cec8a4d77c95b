// A hand-written HTTP/2 frame writer and reader (RFC 9113 §4, HPACK literals from RFC 7541 §6.2.2),
// for tests that must send what no well-behaved client would: floods, rapid resets, oversized headers.
import net from "node:net";
import tls from "node:tls";

export const FrameType = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
export const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** One frame: 9-byte header then the payload. */
export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1); `high` holds the bits above the prefix. */
function hpackInt(value: number, prefixBits: number, high: number): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [high | value];
  const out = [high | max];
  let v = value - max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, "latin1");
  return Buffer.concat([Buffer.from(hpackInt(bytes.length, 7, 0)), bytes]);
}

/** A header block of literal fields without indexing and without Huffman coding. */
export function headerBlock(fields: readonly (readonly [string, string])[]): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => [Buffer.from([0x00]), hpackString(name), hpackString(value)]));
}

/** A GET's HEADERS frame on `stream`. */
export function getHeaders(stream: number, path = "/", extra: readonly (readonly [string, string])[] = [], endStream = true): Buffer {
  const block = headerBlock([[":method", "GET"], [":scheme", "https"], [":path", path], [":authority", "raw.test"], ...extra]);
  return frame(FrameType.HEADERS, Flag.END_HEADERS | (endStream ? Flag.END_STREAM : 0), stream, block);
}

export function rstStream(stream: number, code: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(code);
  return frame(FrameType.RST_STREAM, 0, stream, p);
}

export function ping(data = 0): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(data, 4);
  return frame(FrameType.PING, 0, 0, p);
}

export function settings(entries: readonly (readonly [number, number])[] = []): Buffer {
  const p = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    p.writeUInt16BE(id, i * 6);
    p.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, p);
}

export const SETTINGS_ACK = frame(FrameType.SETTINGS, Flag.ACK, 0);

export function windowUpdate(stream: number, increment: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(increment);
  return frame(FrameType.WINDOW_UPDATE, 0, stream, p);
}

/** A raw HTTP/2 connection: writes bytes as given, parses every frame the server sends. */
export class RawH2Connection {
  readonly socket: net.Socket;
  readonly frames: Frame[] = [];
  readonly closed: Promise<void>;
  private buf = Buffer.alloc(0);
  private waiters: { pred: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("error", () => {});
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
  }

  /** Connects (TLS with ALPN h2 when `tlsOptions` is given, else h2c) and sends the preface and an empty SETTINGS. */
  static async open(port: number, tlsOptions?: tls.ConnectionOptions): Promise<RawH2Connection> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s =
        tlsOptions === undefined
          ? net.connect({ host: "127.0.0.1", port }, () => resolve(s))
          : tls.connect({ host: "127.0.0.1", port, ALPNProtocols: ["h2"], ...tlsOptions }, () => resolve(s));
      s.once("error", reject);
    });
    const c = new RawH2Connection(socket);
    c.send(Buffer.concat([PREFACE, settings()]));
    // The server's SETTINGS must be acknowledged for its limits to be in force on both sides.
    await c.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0);
    c.send(SETTINGS_ACK);
    return c;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** The first frame (already received or still to come) that `pred` accepts; rejects after `ms` or when the connection closes first. */
  waitFor(pred: (f: Frame) => boolean, ms = 5000): Promise<Frame> {
    const seen = this.frames.find(pred);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${ms} ms; got types ${this.frames.map((f) => f.type).join(",")}`)), ms);
      const entry = {
        pred,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      this.waiters.push(entry);
      void this.closed.then(() => {
        if (this.waiters.includes(entry)) {
          clearTimeout(timer);
          reject(new Error(`the connection closed first; got types ${this.frames.map((f) => f.type).join(",")}`));
        }
      });
    });
  }

  /** The GOAWAY frame's error code, once one comes. */
  async goawayCode(ms = 5000): Promise<number> {
    const f = await this.waitFor((x) => x.type === FrameType.GOAWAY, ms);
    return f.payload.readUInt32BE(4);
  }

  destroy(): void {
    this.socket.destroy();
  }

  private read(chunk: Buffer): void {
    this.buf = Buffer.concat([this.buf, chunk]);
    while (this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (this.buf.length < 9 + len) return;
      const f: Frame = { type: this.buf[3]!, flags: this.buf[4]!, stream: this.buf.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(this.buf.subarray(9, 9 + len)) };
      this.buf = this.buf.subarray(9 + len);
      this.frames.push(f);
      for (const w of this.waiters.slice()) {
        if (w.pred(f)) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(f);
        }
      }
    }
  }
}
