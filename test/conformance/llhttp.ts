// Node's own HTTP/1.1 parser (llhttp, through the internal binding node:http uses), as a reference for our codec.

/** What Node's parser made of a request head. */
export type NodeVerdict =
  | { kind: "error"; code: string }
  | { kind: "incomplete" }
  | {
      kind: "ok";
      method: string;
      target: string;
      versionMajor: number;
      versionMinor: number;
      headers: string[];
      keepAlive: boolean;
      upgrade: boolean;
    };

/** How Node's parser frames the body after a head: none, chunked, or a number of bytes. */
export type NodeFraming = "none" | "chunked" | { length: number } | "unknown";

interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenientFlags: number): void;
  execute(buf: Buffer): number | Error;
  [callback: number]: unknown;
}
interface Binding {
  methods: string[];
  HTTPParser: {
    new (): Parser;
    REQUEST: number;
    kOnHeaders: number;
    kOnHeadersComplete: number;
    kOnBody: number;
    kOnMessageComplete: number;
  };
}

/** The binding, or the reason it is not available (then the caller must use real sockets instead). */
export function loadLlhttp(): Binding {
  const saved = process.noDeprecation;
  process.noDeprecation = true; // DEP0111: process.binding is deprecated, but still the way to reach llhttp directly
  try {
    return (process as unknown as { binding(name: string): Binding }).binding("http_parser");
  } finally {
    process.noDeprecation = saved;
  }
}

/** One request parse with Node's settings for `node:http` servers: strict (no lenient flags), 16 KiB of head. */
class Session {
  verdict: NodeVerdict = { kind: "incomplete" };
  bodyBytes = 0;
  readonly body: Buffer[] = [];
  complete = false;
  /** Node's error code, once it rejected the head or the body. */
  error: string | null = null;
  /** Trailer fields, which Node hands over through kOnHeaders after the head. */
  readonly trailers: string[] = [];
  private readonly parser: Parser;
  private pendingHeaders: string[] = [];
  private pendingUrl = "";

  constructor(binding: Binding, maxHeaderSize: number) {
    const { HTTPParser } = binding;
    const parser = new HTTPParser();
    parser.initialize(HTTPParser.REQUEST, {}, maxHeaderSize, 0);
    // Node hands over headers and URL in batches through kOnHeaders when a head has many fields, and trailers too.
    parser[HTTPParser.kOnHeaders] = (headers: string[], url: string | undefined) => {
      if (this.verdict.kind === "ok") this.trailers.push(...headers);
      else {
        this.pendingHeaders.push(...headers);
        this.pendingUrl += url ?? "";
      }
    };
    parser[HTTPParser.kOnHeadersComplete] = (
      versionMajor: number,
      versionMinor: number,
      headers: string[] | undefined,
      method: number,
      url: string | undefined,
      _status: unknown,
      _message: unknown,
      upgrade: boolean,
      keepAlive: boolean,
    ) => {
      this.verdict = {
        kind: "ok",
        method: binding.methods[method] ?? `#${method}`,
        target: this.pendingUrl + (url ?? ""),
        versionMajor,
        versionMinor,
        headers: headers === undefined ? this.pendingHeaders : [...this.pendingHeaders, ...headers],
        keepAlive,
        upgrade,
      };
      return 0;
    };
    parser[HTTPParser.kOnBody] = (chunk: Buffer) => {
      if (this.complete) return;
      this.bodyBytes += chunk.length;
      this.body.push(Buffer.from(chunk));
    };
    parser[HTTPParser.kOnMessageComplete] = () => {
      this.complete = true;
    };
    this.parser = parser;
  }

  result(): NodeVerdict {
    return this.verdict;
  }

  /** Feed bytes; an error after the message completed belongs to a next message and is ignored. */
  feed(buf: Buffer): void {
    if (buf.length === 0 || this.error !== null || this.complete) return;
    const r = this.parser.execute(buf);
    if (r instanceof Error && !this.complete) {
      this.error = (r as Error & { code?: string }).code ?? "ERROR";
      if (this.verdict.kind === "incomplete") this.verdict = { kind: "error", code: this.error };
    }
  }
}

export class NodeReference {
  private readonly binding = loadLlhttp();
  constructor(private readonly maxHeaderSize = 16 * 1024) {}

  /** Node's verdict on the head at the start of `raw` (bytes after the head are fed too and may only affect the body). */
  parse(raw: Buffer): NodeVerdict {
    const session = new Session(this.binding, this.maxHeaderSize);
    session.feed(raw);
    return session.verdict;
  }

  /**
   * Node's reading of the body after a head it accepts, fed `body[0..upTo)`: the error that stopped it, whether the
   * message completed, the body data and the trailers it delivered.
   */
  body(headBytes: Buffer, body: Buffer, upTo = body.length): { error: string | null; complete: boolean; data: Buffer; trailers: string[] } {
    const session = new Session(this.binding, this.maxHeaderSize);
    session.feed(headBytes);
    if (session.result().kind !== "ok") throw new Error("the head of a body case must be valid");
    session.feed(body.subarray(0, upTo));
    return { error: session.error, complete: session.complete, data: Buffer.concat(session.body), trailers: session.trailers };
  }

  /**
   * Whether Node's parser sees the head end exactly at `length`: not complete after length-1 bytes, complete after
   * `length`. Returns Node's verdict at that point and how it frames the body that follows.
   */
  parseExactly(raw: Buffer, length: number, expectedLength: number): { verdict: NodeVerdict; endsThere: boolean; framing: NodeFraming } {
    const session = new Session(this.binding, this.maxHeaderSize);
    session.feed(raw.subarray(0, length - 1));
    const before = session.result();
    if (before.kind !== "incomplete") return { verdict: before, endsThere: false, framing: "unknown" };
    session.feed(raw.subarray(length - 1, length));
    const verdict = session.result();
    if (verdict.kind !== "ok") return { verdict, endsThere: false, framing: "unknown" };
    if (verdict.upgrade) return { verdict, endsThere: true, framing: "unknown" };
    if (session.complete) return { verdict, endsThere: true, framing: "none" };
    // A last-chunk ends a chunked body without any body data; a length body takes those 5 bytes as data.
    session.feed(Buffer.from("0\r\n\r\n"));
    if (session.complete && session.bodyBytes === 0) return { verdict, endsThere: true, framing: "chunked" };
    if (session.bodyBytes > 0 && !session.complete && expectedLength > session.bodyBytes && expectedLength <= 1 << 20) {
      session.feed(Buffer.alloc(expectedLength - session.bodyBytes, 0x78));
    }
    if (session.complete) return { verdict, endsThere: true, framing: { length: session.bodyBytes } };
    return { verdict, endsThere: true, framing: session.bodyBytes > 0 ? { length: -1 } : "unknown" };
  }
}
