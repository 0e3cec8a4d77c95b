// Hot path: the access log, decided (sampled) and written once per finished exchange.
import { pino } from "pino";
import { type AccessLogConfig, ACCESS_LOG_FIELD_NAMES, type AccessSampleRule, HEADER_FIELD_RE } from "../config/schema-observability.js";
import type { HeaderList } from "../http1/headers.js";
import type { Logger } from "./logger.js";
import type { RouterStats } from "./metrics/http-stats.js";

type SonicBoom = ReturnType<typeof pino.destination>;

/** What the access log reads from a finished exchange (the ProxyExchange has all of it). */
export interface LoggedExchange {
  readonly status: number;
  readonly durationMs: number;
  /** Time from the upstream connect/send to the response head, ms; -1 when no backend answered. */
  readonly upstreamMs: number;
  readonly method: string;
  /** Path and query as received, before middlewares rewrite them. */
  readonly path: string;
  readonly query: string;
  readonly listener: string;
  readonly router: string | undefined;
  readonly tenant: string | undefined;
  readonly service: string | undefined;
  readonly backend: { readonly address: string } | undefined;
  readonly requestBytes: number;
  readonly responseBytes: number;
  readonly retries: number;
  readonly errorCode: string | undefined;
  readonly traceId: string | undefined;
  readonly request: { readonly host: string; readonly clientIp: string; readonly versionMinor: number; readonly httpVersion: string; readonly headers: HeaderList };
  /** The response head's headers as sent, when a backend's response was relayed; null for direct answers. */
  readonly responseHeaders: HeaderList | null;
}

const enum F {
  Time,
  TraceId,
  ClientIp,
  Method,
  Host,
  Path,
  Query,
  Protocol,
  Status,
  DurationMs,
  UpstreamMs,
  RequestBytes,
  ResponseBytes,
  Listener,
  Tenant,
  Router,
  Service,
  Backend,
  Retries,
  Error,
  UserAgent,
  Referer,
  RequestHeader,
  ResponseHeader,
  Redacted,
}

/**
 * Fields whose values are plain ASCII without quotes, backslashes or controls: the
 * time, a method (a token the parser checked), config names and backend addresses
 * (validated by the schema), status and error codes. They skip JSON.stringify.
 */
const PLAIN = new Set([F.Time, F.Method, F.Protocol, F.Tenant, F.Router, F.Service, F.Backend, F.Error]);

/** Header values never written, whatever the configuration says. */
const REDACTED_HEADERS = new Set(["authorization", "proxy-authorization", "cookie", "set-cookie"]);
export const REDACTED = "[redacted]";

/** One field of a line: what to read, under which key. */
interface Field {
  readonly kind: F;
  readonly key: string;
  /** `"key":`, escaped once. */
  readonly jsonKey: string;
  /** Its strings never need JSON escaping (validated names, tokens, addresses, our own codes). */
  readonly plain: boolean;
  /** Header name, for header fields. */
  readonly header: string;
  /** For a redacted header: read from the request (true) or the response. */
  readonly request: boolean;
}

function compileField(name: string): Field {
  const fixed = (ACCESS_LOG_FIELD_NAMES as string[]).indexOf(name);
  const jsonKey = `${JSON.stringify(name)}:`;
  if (fixed >= 0) return { kind: fixed as F, key: name, jsonKey, plain: PLAIN.has(fixed as F), header: "", request: true };
  const m = HEADER_FIELD_RE.exec(name)!;
  const header = m[2]!.toLowerCase();
  const request = m[1] === "request_header";
  if (REDACTED_HEADERS.has(header)) return { kind: F.Redacted, key: name, jsonKey, plain: true, header, request };
  return { kind: request ? F.RequestHeader : F.ResponseHeader, key: name, jsonKey, plain: false, header, request };
}

/** One sampling rule, compiled: numbers to compare and sets to test, no parsing per request. */
interface Rule {
  readonly lo: number;
  readonly hi: number;
  /** duration_ms must be above this; -1 = any. */
  readonly slowerThan: number;
  readonly routers: ReadonlySet<string> | null;
  readonly tenants: ReadonlySet<string> | null;
  readonly keep: number;
}

function compileRule(rule: AccessSampleRule): Rule {
  let lo = 0;
  let hi = 999;
  const s = rule.status;
  if (typeof s === "number") lo = hi = s;
  else if (typeof s === "string") {
    // "5xx" or "500-504" (the schema allows nothing else).
    lo = s.endsWith("xx") ? Number(s[0]) * 100 : Number(s.slice(0, 3));
    hi = s.endsWith("xx") ? lo + 99 : Number(s.slice(4));
  }
  return {
    lo,
    hi,
    slowerThan: rule.slowerThan ?? -1,
    routers: rule.routers === undefined ? null : new Set(rule.routers),
    tenants: rule.tenants === undefined ? null : new Set(rule.tenants),
    keep: rule.keep,
  };
}

/** Lines gathered before they are handed to the writer: about 70 lines of the default fields. */
const BATCH = 16 * 1024;
/** Longest a line waits in a batch (ms), however quiet the gateway. */
const BATCH_DELAY = 200;

/** Room in a batch buffer: a batch plus the worst case (3 bytes a UTF-16 unit) of a line of 2 KiB. */
const BATCH_ROOM = BATCH + 6 * 1024;

/**
 * One destination: lines are encoded into a buffer here and handed to pino's
 * asynchronous destination (sonic-boom, in buffer mode) 16 KiB at a time.
 * Measured: handing it each line as a string cost about 4 µs a line (it measures
 * and appends to its growing string on every write), and 16 KiB strings made of
 * concatenated lines still cost 1.6 µs a line to encode when written; one
 * encoding of each line into the batch's buffer is a fraction of that.
 */
export class AccessSink {
  readonly destination: string;
  private readonly writer: SonicBoom;
  private batch = Buffer.allocUnsafe(BATCH_ROOM);
  private used = 0;
  /** Closed by a reload that dropped this destination: late lines of requests still in flight are let go. */
  private closed = false;

  constructor(destination: string, log: Logger) {
    this.destination = destination;
    const toStdout = destination === "stdout";
    // Bounded, so a stuck disk costs lines, not memory.
    this.writer = pino.destination({
      dest: toStdout ? 1 : destination,
      sync: false,
      mkdir: !toStdout,
      append: true,
      contentMode: "buffer",
      maxLength: 16 * 1024 * 1024,
    });
    this.writer.on("error", (err: Error) => log.error({ destination, err: err.message }, "cannot write the access log"));
    let warned = false;
    this.writer.on("drop", () => {
      if (warned) return;
      warned = true;
      log.warn({ destination }, "the access log cannot keep up; lines are dropped while 16 MiB wait to be written");
    });
  }

  write(line: string): void {
    if (line.length * 3 > BATCH_ROOM - this.used) {
      this.flush();
      if (line.length * 3 > BATCH_ROOM) {
        // A line longer than a batch (very long headers): on its own.
        if (!this.closed && !isDestroyed(this.writer)) this.writer.write(Buffer.from(line) as unknown as string);
        return;
      }
    }
    this.used += this.batch.write(line, this.used);
    if (this.used >= BATCH) this.flush();
  }

  /** Hand the batch to the writer (which writes it asynchronously). */
  flush(): void {
    if (this.used === 0 || this.closed || isDestroyed(this.writer)) return;
    // The writer keeps the buffer until it is written: the next batch gets a new one.
    this.writer.write(this.batch.subarray(0, this.used) as unknown as string);
    this.batch = Buffer.allocUnsafe(BATCH_ROOM);
    this.used = 0;
  }

  /** Write everything now, synchronously (process exit). */
  flushSync(): void {
    this.flush();
    if (isDestroyed(this.writer)) return;
    try {
      this.writer.flushSync();
    } catch {
      // Not open yet, or the disk refuses: nothing more can be done at exit.
    }
  }

  /** Lines so far go to the file as it was; the ones after, to a new file at the same path. */
  reopen(): void {
    if (this.destination === "stdout" || isDestroyed(this.writer)) return;
    this.flush();
    // While a write is in flight sonic-boom reopens once it completes.
    this.writer.reopen();
  }

  close(): Promise<void> {
    this.flush();
    this.closed = true;
    const writer = this.writer;
    return new Promise((resolve) => {
      if (isDestroyed(writer)) return resolve();
      if (this.destination === "stdout") {
        // fd 1 is flushed, never closed.
        writer.flush(() => resolve());
        return;
      }
      writer.once("close", () => resolve());
      writer.once("error", () => resolve());
      writer.end();
    });
  }
}

/** Every destination in use, kept across reloads; flushed every BATCH_DELAY ms and at exit. */
export class AccessLogSinks {
  private readonly sinks = new Map<string, AccessSink>();
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined = undefined;
  private readonly onExit = () => {
    for (const sink of this.sinks.values()) sink.flushSync();
  };

  constructor(log: Logger) {
    this.log = log;
  }

  /** The sink of `destination` ("stdout" or a file path), opened on first use. */
  open(destination: string): AccessSink {
    let sink = this.sinks.get(destination);
    if (sink !== undefined) return sink;
    sink = new AccessSink(destination, this.log);
    this.sinks.set(destination, sink);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.flush(), BATCH_DELAY);
      this.timer.unref();
      process.on("exit", this.onExit);
    }
    return sink;
  }

  flush(): void {
    for (const sink of this.sinks.values()) sink.flush();
  }

  /** Reopen every file (after logrotate renamed it): new lines go to a new file at the same path. */
  reopen(): void {
    for (const sink of this.sinks.values()) sink.reopen();
  }

  /** Flush and close the files no longer configured. */
  retain(destinations: ReadonlySet<string>): void {
    for (const [destination, sink] of this.sinks) {
      if (destinations.has(destination)) continue;
      this.sinks.delete(destination);
      void sink.close();
    }
  }

  /** Flush everything and close the files (gateway close). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    process.off("exit", this.onExit);
    const all = [...this.sinks.values()];
    this.sinks.clear();
    await Promise.all(all.map((s) => s.close()));
  }
}

function isDestroyed(writer: SonicBoom): boolean {
  return (writer as unknown as { destroyed: boolean }).destroyed;
}

/** The access log of one runtime table: fields, sampling rules and the writer; swapped with the table on reload. */
export class AccessLog {
  readonly destination: string;
  private readonly fields: readonly Field[];
  private readonly rules: readonly Rule[];
  private readonly sink: AccessSink;
  private seed: number;
  private lastMs = 0;
  private lastIso = "";

  constructor(config: AccessLogConfig, sinks: AccessLogSinks) {
    this.destination = config.destination;
    this.fields = config.fields.map(compileField);
    this.rules = config.sample.map(compileRule);
    this.sink = sinks.open(config.destination);
    this.seed = (Math.random() * 0xffffffff) >>> 0 || 1;
  }

  /** Write (or sample out) the line of a finished exchange; `stats` counts either. */
  log(ex: LoggedExchange, stats: RouterStats | null): void {
    if (!this.keep(ex)) {
      if (stats !== null) stats.accessDropped++;
      return;
    }
    if (stats !== null) stats.accessLines++;
    this.sink.write(this.line(ex));
  }

  /** First matching rule decides; no rule matching = keep. */
  keep(ex: LoggedExchange): boolean {
    const rules = this.rules;
    const status = ex.status === 0 ? 499 : ex.status;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if (status < r.lo || status > r.hi || ex.durationMs <= r.slowerThan) continue;
      if (r.routers !== null && (ex.router === undefined || !r.routers.has(ex.router))) continue;
      if (r.tenants !== null && (ex.tenant === undefined || !r.tenants.has(ex.tenant))) continue;
      return r.keep >= 1 || (r.keep > 0 && this.random() < r.keep);
    }
    return true;
  }

  /** xorshift32 in [0, 1): sampling needs speed, not unpredictability. */
  private random(): number {
    let x = this.seed;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.seed = x >>> 0;
    return this.seed / 4294967296;
  }

  /**
   * The line as JSON, written field by field: measured faster than building an
   * object (its keys vary, so every store is a slow one) and stringifying it.
   * A field without a value is left out.
   */
  line(ex: LoggedExchange): string {
    let out = "{";
    const fields = this.fields;
    for (let i = 0; i < fields.length; i++) {
      const f = fields[i]!;
      const v = this.value(f, ex);
      if (v === undefined) continue;
      if (out.length > 1) out += ",";
      out += f.jsonKey;
      if (typeof v === "number") out += Number.isFinite(v) ? String(v) : "null";
      else if (f.plain) out += `"${v}"`;
      else out += JSON.stringify(v);
    }
    return `${out}}\n`;
  }

  private value(f: Field, ex: LoggedExchange): string | number | undefined {
    switch (f.kind) {
      case F.Time:
        return this.now();
      case F.TraceId:
        return ex.traceId;
      case F.ClientIp:
        return ex.request.clientIp;
      case F.Method:
        return ex.method;
      case F.Host:
        return ex.request.host;
      case F.Path:
        return ex.path;
      case F.Query:
        return ex.query === "" ? undefined : ex.query;
      case F.Protocol:
        return `HTTP/${ex.request.httpVersion}`;
      case F.Status:
        return ex.status === 0 ? 499 : ex.status;
      case F.DurationMs:
        return round3(ex.durationMs);
      case F.UpstreamMs:
        return ex.upstreamMs < 0 ? undefined : round3(ex.upstreamMs);
      case F.RequestBytes:
        return ex.requestBytes;
      case F.ResponseBytes:
        return ex.responseBytes;
      case F.Listener:
        return ex.listener;
      case F.Tenant:
        return ex.tenant;
      case F.Router:
        return ex.router;
      case F.Service:
        return ex.service;
      case F.Backend:
        return ex.backend?.address;
      case F.Retries:
        return ex.retries;
      case F.Error:
        return ex.errorCode;
      case F.UserAgent:
        return ex.request.headers.get("user-agent");
      case F.Referer:
        return ex.request.headers.get("referer");
      case F.RequestHeader:
        return ex.request.headers.get(f.header);
      case F.ResponseHeader:
        return ex.responseHeaders?.get(f.header);
      case F.Redacted:
        return (f.request ? ex.request.headers.get(f.header) : ex.responseHeaders?.get(f.header)) === undefined ? undefined : REDACTED;
    }
  }

  /** ISO time, formatted once per millisecond however many lines share it. */
  private now(): string {
    const ms = Date.now();
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.lastIso = new Date(ms).toISOString();
    }
    return this.lastIso;
  }
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
