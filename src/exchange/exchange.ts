// Hot path: one request/response pair, from routed head to logged response.
import { BodyFilterError, DivisorError, HttpParseError, UpstreamError, type UpstreamFailure, statusForUpstreamFailure } from "../errors.js";
import { ChunkedDecoder } from "../http1/chunked.js";
import { HeaderList } from "../http1/headers.js";
import { parseResponseHead } from "../http1/parse-response.js";
import { BodyKind, type RequestHead, type ResponseHead } from "../http1/types.js";
import { clientCertificateOf } from "./client-certificate.js";
import type { ProxyEndpoint } from "../listener/proxy-protocol.js";
import type { BodyFilter, ClientCertificate, DirectResponse, Exchange, ExchangeRequest, Middleware, ResponseHeadView, UpstreamRequestHead } from "../middleware/plugin.js";
import type { BackendState, SelectContext } from "../service/balancers/types.js";
import { Admission, type Admittee } from "../service/admission.js";
import { type ServiceBackend, selectBackend } from "../service/service.js";
import type { ConnectionUser, PoolClient, UpstreamConnection } from "../upstream/pool.js";
import { collectFilters, FilterChain, type FilterOutput, Framing, framedChunk, keptLength, LAST_CHUNK, writeChunk } from "./body-filter.js";
import { type HedgeOwner, HedgeTry } from "./hedge.js";
import { hasDotSegment } from "./path-safety.js";
import { ACME_CHALLENGE_PREFIX, acmeChallengeResponse, directResponseHead, errorResponse, httpsRedirectResponse, RETRY_AFTER, STATUS_REASON } from "./responses.js";
import { clientIpFrom, findCookie, isTrusted, normalizeIp, serializeRequestHead, serializeResponseHead, stripResponseHopByHop, upstreamRequestHeaders } from "./forwarding.js";
import type { ExchangeTrace, TryTrace } from "../observability/tracing/types.js";
import type { ClientSide, RouteTarget } from "./types.js";

const MAX_PENDING_BODY = 64 * 1024;
const MAX_RESPONSE_HEAD = 64 * 1024;
/** Largest first body slice copied behind the response head to save a write. */
const MAX_COALESCE = 16 * 1024;
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

const enum Phase {
  Request = 0,
  Connecting = 1,
  AwaitingHead = 2,
  RelayingBody = 3,
  Tunnel = 4,
  Done = 5,
}

const enum Slot {
  None = 0,
  Queued = 1,
  Held = 2,
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";
}

/** A discarding sink for the chunked decoder when bytes are forwarded raw. */
const NO_SINK = undefined;
/** What Exchange.resetConnection returns; sendDirect knows it by identity. */
const RESET_CONNECTION: DirectResponse = Object.freeze({ status: 0, headers: Object.freeze({}), body: "" });

export class ProxyExchange implements Exchange, PoolClient, ConnectionUser, SelectContext, Admittee, HedgeOwner {
  readonly id: number;
  readonly request: ExchangeRequest;
  readonly listener: string;
  readonly startTime: number;
  router: string | undefined = undefined;
  tenant: string | undefined = undefined;
  service: string | undefined = undefined;
  params: Record<string, string> | null = null;
  backend: ServiceBackend | undefined = undefined;
  status = 0;
  durationMs = 0;
  requestBytes = 0;
  responseBytes = 0;
  errorCode: string | undefined = undefined;
  traceId: string | undefined = undefined;
  /** Milliseconds from the last try's connect to its response head; -1 until a backend answers. */
  upstreamMs = -1;
  /** The relayed response's headers (for the access log); null for direct answers. */
  responseHeaders: HeaderList | null = null;
  private _locals: Map<string | symbol, unknown> | null = null;
  private _clientCertificate: ClientCertificate | null | undefined = undefined;

  private readonly client: ClientSide;
  private readonly head: RequestHead;
  private target: RouteTarget | undefined = undefined;
  private phase = Phase.Request;
  private upstream: UpstreamConnection | null = null;
  private upstreamHead: UpstreamRequestHead | null = null;
  /** Request body bytes that arrived before the upstream connection was ready. */
  private pendingBody: Buffer[] | null = null;
  private pendingBytes = 0;
  private reqRemaining: number;
  private reqDecoder: ChunkedDecoder | null = null;
  reqDone: boolean;
  private resHeadBuf: Buffer | null = null;
  private resHead: ResponseHead | null = null;
  private resRemaining = 0;
  private resDecoder: ChunkedDecoder | null = null;
  /** Response body must be de-chunked for an HTTP/1.0 client. */
  private dechunk = false;
  private headSent = false;
  /** Response head not written yet because it goes out together with the first body bytes. */
  private pendingHead: string | null = null;
  private closeAfter = false;
  private attempts = 0;
  /** Retries taken (tries after the first, each on another backend). */
  private retriesDone = 0;
  /** Body bytes already sent upstream on this try (a retry must replay them). */
  private bodySent = false;
  /** Every body chunk so far, for replay; null when retries can't replay (over bufferBody, or not retryable). */
  private replay: Buffer[] | null = null;
  private replayBytes = 0;
  /** The Host header names the backend (preserveHost: false): a retry must rename it. */
  private hostOverridden = false;
  /** The hedged second try, while one runs. */
  private hedge: HedgeTry | null = null;
  /** When to start the hedge (performance.now() ms); 0 = no hedge pending. */
  private hedgeAt = 0;
  /** The response deadline of the current try (the connection's deadline may be the earlier hedgeAt). */
  private responseDeadline = 0;
  /** The first try failed while the hedge still runs: the error to answer if the hedge fails too. */
  private pendingFailure: UpstreamError | null = null;
  /** Whether this exchange holds (or waits for) one of its service's in-flight slots. */
  private slot = Slot.None;
  private upstreamStart = 0;
  /** The SERVER span, when tracing is on (null = off: every tracing step is this one check). */
  private trace: ExchangeTrace | null = null;
  /** The CLIENT span of the current try, and of the hedge while one runs. */
  private tryTrace: TryTrace | null = null;
  private hedgeTrace: TryTrace | null = null;
  /** Behind `signal`, created only when a middleware asks for it. */
  private ended: AbortController | null = null;
  /** Response body filters, when a middleware returned one (null: bytes relay untouched). */
  private resFilters: FilterChain | null = null;
  private resFraming = Framing.Length;
  /** Bytes still due to the client under a kept Content-Length (Framing.Length). */
  private resOutRemaining = 0;
  /** Request body filters, when a middleware returned one. */
  private reqFilters: FilterChain | null = null;
  /** Decodes a chunked request body for its filters (the raw bytes are validated by reqDecoder). */
  private reqFilterDecoder: ChunkedDecoder | null = null;
  private reqFraming = Framing.Length;
  private reqOutRemaining = 0;

  constructor(client: ClientSide, head: RequestHead, host: string) {
    this.client = client;
    this.head = head;
    this.id = client.nextExchangeId();
    this.listener = client.listenerName;
    this.startTime = performance.now();
    client.stats.inFlight++;
    const policy = client.table.forwarding;
    const headers = new HeaderList(head.headers);
    const clientIp =
      policy.trusted === null ? client.peerIp : clientIpFrom(policy, client.peerIp, headers.get("x-forwarded-for"));
    this.request = {
      method: head.method,
      path: head.path,
      query: head.query,
      headers,
      host,
      scheme: client.scheme,
      clientIp,
      versionMinor: head.versionMinor,
      httpVersion: client.http2 ? "2" : head.versionMinor === 0 ? "1.0" : "1.1",
    };
    this.reqRemaining = head.bodyKind === BodyKind.Length ? head.contentLength : 0;
    this.reqDone = head.bodyKind === BodyKind.None || (head.bodyKind === BodyKind.Length && head.contentLength === 0);
    if (head.bodyKind === BodyKind.Chunked) this.reqDecoder = new ChunkedDecoder();
    if (!head.keepAlive) this.closeAfter = true;
  }

  get locals(): Map<string | symbol, unknown> {
    if (this._locals === null) this._locals = new Map();
    return this._locals;
  }

  respond(status: number, body: string | Buffer = "", headers: Readonly<Record<string, string | readonly string[]>> = {}): DirectResponse {
    return { status, body, headers };
  }

  resetConnection(): DirectResponse {
    return RESET_CONNECTION;
  }

  /** For a PROXY header to the backend: the client (as the gateway sees it) and the listener address it reached. */
  clientEndpoints(): readonly [ProxyEndpoint, ProxyEndpoint] {
    const s = this.client.socket;
    return [
      { address: this.client.peerIp, port: s.remotePort ?? 0 },
      { address: normalizeIp(s.localAddress), port: s.localPort ?? 0 },
    ];
  }

  get clientCertificate(): ClientCertificate | null {
    if (this._clientCertificate === undefined) this._clientCertificate = clientCertificateOf(this.client.socket);
    return this._clientCertificate;
  }

  get signal(): AbortSignal {
    if (this.ended === null) this.ended = new AbortController();
    return this.ended.signal;
  }

  // ---------------------------------------------------------------- MatchRequest + SelectContext

  get host(): string {
    return this.request.host;
  }

  get path(): string {
    return this.head.path;
  }

  get method(): string {
    return this.head.method;
  }

  get clientIp(): string {
    return this.request.clientIp;
  }

  /** The query as received (request.query is what middlewares made of it). */
  get query(): string {
    return this.head.query;
  }

  /** Retries taken (tries after the first). */
  get retries(): number {
    return this.retriesDone;
  }

  header(name: string): string | undefined {
    return this.request.headers.get(name);
  }

  cookie(name: string): string | undefined {
    return findCookie(this.request.headers.get("cookie"), name);
  }

  useService(name: string): void {
    if (this.target === undefined || this.phase !== Phase.Request || this.backend !== undefined) {
      throw new DivisorError("ERR_USE_SERVICE", `useService("${name}") is for onRequest, after routing and before a backend is chosen`);
    }
    const target = this.target.withService(name);
    if (target === undefined) throw new DivisorError("ERR_USE_SERVICE", `useService: no service named "${name}" in the configuration in force`);
    this.target = target;
    this.service = name;
  }

  // ---------------------------------------------------------------- request side

  /** Route and run the request phases. */
  start(): void {
    const tracer = this.client.table.tracer;
    if (tracer !== null) {
      this.trace = tracer.startExchange(this.request, this.listener, this.client.socket.localPort ?? 0, this.startTime);
      this.traceId = this.trace.traceId;
    }
    if (hasDotSegment(this.head.path)) {
      this.sendDirect(errorResponse(400, 'the path has a "." or ".." segment; send it normalized'));
      return;
    }
    // Before the redirect to HTTPS: ACME validates over plain HTTP.
    const challenges = this.client.acmeChallenges;
    if (challenges !== null && this.head.path.startsWith(ACME_CHALLENGE_PREFIX)) {
      challenges.http01(this.head.path).then(
        (answer) => {
          if (this.phase !== Phase.Done) this.sendDirect(acmeChallengeResponse(answer));
        },
        () => {
          if (this.phase !== Phase.Done) this.sendDirect(errorResponse(503, "the ACME challenge storage did not answer"));
        },
      );
      return;
    }
    if (this.client.httpsRedirect !== null) {
      this.sendDirect(httpsRedirectResponse(this.client.httpsRedirect, this.request));
      return;
    }
    const match = this.client.table.routers.match(this);
    if (match === undefined) {
      this.sendDirect(errorResponse(404, "no router matches this host and path"));
      return;
    }
    let target = match.route.target;
    if (target.split !== null) target = target.split.choose(this);
    this.target = target;
    this.router = target.router;
    this.tenant = target.tenant;
    this.service = target.service?.name;
    this.params = match.params;
    if (this.trace !== null) this.trace.routed(target.router, target.tenant, this.service, target.route);
    if (this.requestBytes > target.maxBodySize || (this.head.bodyKind === BodyKind.Length && this.head.contentLength > target.maxBodySize)) {
      this.bodyTooLarge();
      return;
    }
    if (target.onRequest.length === 0) this.proceed();
    else this.runRequestPhases(0);
  }

  private runRequestPhases(from: number): void {
    const list = this.target!.onRequest;
    for (let i = from; i < list.length; i++) {
      let result: ReturnType<NonNullable<Middleware["onRequest"]>>;
      try {
        result = list[i]!.onRequest!(this);
      } catch (err) {
        this.pluginFailed(err);
        return;
      }
      if (isThenable(result)) {
        result.then(
          (r) => {
            if (this.phase === Phase.Done) return;
            if (r) this.sendDirect(r as DirectResponse);
            else this.runRequestPhases(i + 1);
          },
          (err) => this.pluginFailed(err),
        );
        return;
      }
      if (result) {
        this.sendDirect(result);
        return;
      }
    }
    this.proceed();
  }

  private proceed(): void {
    const target = this.target!;
    const service = target.service;
    if (service === undefined) {
      this.sendDirect(errorResponse(502, `router ${target.router} has no service and no middleware answered`));
      return;
    }
    if (!service.breaker.allowRequest()) {
      this.errorCode = "ERR_SERVICE_CIRCUIT_OPEN";
      if (!this.reqDone) this.closeAfter = true;
      this.sendDirect(errorResponse(503, `service ${service.name} keeps failing; its circuit breaker is open`, RETRY_AFTER));
      return;
    }
    switch (service.limit.enter(this)) {
      case Admission.Admitted:
        this.slot = Slot.Held;
        break;
      case Admission.Queued:
        this.slot = Slot.Queued;
        return;
      case Admission.Full:
        this.overloaded("its queue is full");
        return;
    }
    this.proceedAdmitted();
  }

  /** Admittee: a queued exchange got its slot. */
  admitted(): void {
    this.slot = Slot.Held;
    if (this.phase === Phase.Done) {
      this.releaseSlot();
      return;
    }
    this.proceedAdmitted();
  }

  /** Admittee: no slot within queueTimeout. */
  timedOut(): void {
    this.slot = Slot.None;
    if (this.phase !== Phase.Done) this.overloaded("no slot freed up in time");
  }

  private overloaded(why: string): void {
    const service = this.target!.service!;
    this.errorCode = "ERR_SERVICE_OVERLOADED";
    if (!this.reqDone) this.closeAfter = true;
    this.sendDirect(errorResponse(503, `service ${service.name} is at its limit of ${service.limit.maxInFlight} requests in flight and ${why}`, RETRY_AFTER));
  }

  private releaseSlot(): void {
    const slot = this.slot;
    this.slot = Slot.None;
    if (slot === Slot.Held) this.target!.service!.limit.leave();
    else if (slot === Slot.Queued) this.target!.service!.limit.cancel(this);
  }

  private proceedAdmitted(): void {
    const target = this.target!;
    const service = target.service!;
    const backend = this.pickBackend(undefined);
    if (backend === undefined) {
      if (target.stats !== null) target.stats.noBackend++;
      this.failUpstream(new UpstreamError("no-backend", `service ${service.name} has no available backend`));
      return;
    }
    this.backend = backend;
    const head = this.head;
    service.budget.recordRequest();
    if (service.retries.attempts > 0 && head.bodyKind !== BodyKind.None && this.retryable() && this.pendingBytes <= service.retries.bufferBody) {
      // Body bytes that arrived with the head are already waiting in pendingBody.
      this.replay = this.pendingBody === null ? [] : this.pendingBody.slice();
      this.replayBytes = this.pendingBytes;
    }
    const policy = this.client.table.forwarding;
    const headers = upstreamRequestHeaders(policy, {
      raw: this.request.headers.raw,
      connectionTokens: head.connectionTokens,
      upgrade: head.upgrade,
      peerIp: this.client.peerIp,
      peerTrusted: policy.trusted !== null && isTrusted(policy, this.client.peerIp),
      scheme: this.client.scheme,
      host: head.host,
      hostOverride: service.preserveHost && head.host !== "" ? null : backend.address,
    });
    this.hostOverridden = !(service.preserveHost && head.host !== "");
    this.upstreamHead = { method: head.method, target: this.request.path + this.request.query, headers: new HeaderList(headers) };
    const list = target.onUpstreamRequest;
    if (list.length === 0) this.upstreamPhasesDone();
    else this.runUpstreamPhases(0);
  }

  private pickBackend(exclude: BackendState | undefined): ServiceBackend | undefined {
    const target = this.target!;
    const service = target.service!;
    for (const mw of target.selectBackend) {
      const candidates = service.backends.filter((b) => b.available && b.weight > 0 && b !== exclude);
      const steered = mw.selectBackend!(this, candidates);
      if (steered !== undefined) return steered as ServiceBackend;
    }
    return selectBackend(service, this, exclude);
  }

  private runUpstreamPhases(from: number): void {
    const list = this.target!.onUpstreamRequest;
    for (let i = from; i < list.length; i++) {
      let result: unknown;
      try {
        result = list[i]!.onUpstreamRequest!(this, this.upstreamHead!);
      } catch (err) {
        this.pluginFailed(err);
        return;
      }
      if (isThenable(result)) {
        result.then(
          () => {
            if (this.phase !== Phase.Done) this.runUpstreamPhases(i + 1);
          },
          (err) => this.pluginFailed(err),
        );
        return;
      }
    }
    this.upstreamPhasesDone();
  }

  /** The upstream head is final: open the request body filters, if any, then connect. */
  private upstreamPhasesDone(): void {
    if (this.target!.onRequestBody.length > 0 && this.head.bodyKind !== BodyKind.None && !this.openRequestFilters()) return;
    this.connect();
  }

  /** Ask the middlewares for request body filters; false when one failed (the exchange is answered). */
  private openRequestFilters(): boolean {
    const head = this.upstreamHead!;
    let filters: BodyFilter[] | null;
    try {
      filters = collectFilters(this.target!.onRequestBody, this, "request", head);
    } catch (err) {
      this.pluginFailed(err);
      return false;
    }
    if (filters === null) return true;
    const length = keptLength(head.headers);
    if (length >= 0) {
      this.reqFraming = Framing.Length;
      this.reqOutRemaining = length;
    } else {
      this.reqFraming = Framing.Chunked;
      head.headers.set("Transfer-Encoding", "chunked");
    }
    if (this.head.bodyKind === BodyKind.Chunked) this.reqFilterDecoder = new ChunkedDecoder();
    // What arrived so far is raw: it goes through the filters; the replay keeps their output.
    const raw = this.pendingBody;
    this.pendingBody = null;
    this.pendingBytes = 0;
    if (this.replay !== null) {
      this.replay = [];
      this.replayBytes = 0;
    }
    const chain = new FilterChain(filters, new RequestOutput(this));
    this.reqFilters = chain;
    if (raw !== null) for (const chunk of raw) this.feedRequestFilters(chunk);
    if (this.reqDone) chain.end();
    return this.phase !== Phase.Done;
  }

  /** Raw request body bytes (framing included) into the filters. */
  private feedRequestFilters(raw: Buffer): void {
    const chain = this.reqFilters!;
    const decoder = this.reqFilterDecoder;
    if (decoder === null) {
      chain.write(raw);
      return;
    }
    try {
      decoder.push(raw, 0, raw.length, chain);
    } catch (err) {
      // reqDecoder validated these bytes already; a disagreement is a bug, not the client's fault.
      chain.fail(err);
    }
  }

  /** RequestOutput: a chunk of the filtered request body, towards the backend. */
  filteredRequestData(chunk: Buffer): void {
    if (this.phase === Phase.Done || this.reqFilters === null) return;
    if (this.reqFraming === Framing.Length) {
      if (chunk.length > this.reqOutRemaining) {
        this.filteredRequestFailed(new Error("a request body filter sent more bytes than the Content-Length it kept"));
        return;
      }
      this.reqOutRemaining -= chunk.length;
      this.sendUpstreamBody(chunk);
    } else this.sendUpstreamBody(framedChunk(chunk));
  }

  /** RequestOutput: the filtered request body is complete. */
  filteredRequestEnd(): void {
    if (this.phase === Phase.Done || this.reqFilters === null) return;
    if (this.reqFraming === Framing.Length && this.reqOutRemaining !== 0) {
      this.filteredRequestFailed(new Error(`a request body filter ended ${this.reqOutRemaining} bytes short of the Content-Length it kept`));
      return;
    }
    if (this.reqFraming === Framing.Chunked) this.sendUpstreamBody(LAST_CHUNK);
    this.reqFilters = null;
    if (this.upstream !== null) this.armResponseTimeout();
  }

  /** RequestOutput: a filter refused the body (400/413 when it says so and no response started) or broke (500). */
  filteredRequestFailed(err: unknown): void {
    if (this.phase === Phase.Done) return;
    this.reqFilters?.destroy();
    this.reqFilters = null;
    if (err instanceof BodyFilterError) {
      this.refuseClient(err.code, err.status, err.message);
      return;
    }
    this.errorCode = "ERR_MIDDLEWARE_BODY_FILTER";
    this.middlewareFailed(err, "a middleware's request body filter failed");
    this.closeAfter = true;
    this.dropUpstream();
    if (this.headSent) this.abort();
    else this.sendDirect(errorResponse(500, "a middleware failed while handling this request body"));
  }

  private connect(): void {
    this.phase = Phase.Connecting;
    this.attempts++;
    const backend = this.backend!;
    if (this.trace !== null) this.traceTry(backend);
    backend.active++;
    this.upstreamStart = performance.now();
    backend.pool.acquire(this);
  }

  /** Start the CLIENT span of a try (ending the previous one) and write its traceparent into the head. */
  private traceTry(backend: ServiceBackend): void {
    this.endTry(undefined);
    this.tryTrace = this.trace!.startTry(backend.address, this.retriesDone, false, this.upstreamHead!.headers);
  }

  private endTry(errorType: string | undefined): void {
    const t = this.tryTrace;
    if (t !== null) {
      this.tryTrace = null;
      t.end(errorType);
    }
  }

  /** Bytes from the client after the head; returns how many belong to this request's body. */
  onClientBody(buf: Buffer, start: number): number {
    if (this.reqDone) return 0;
    let used: number;
    if (this.reqDecoder !== null) {
      try {
        used = this.reqDecoder.push(buf, start, buf.length, NO_SINK);
      } catch (err) {
        this.clientProtocolError(err);
        return buf.length - start;
      }
      if (this.reqDecoder.done) this.reqDone = true;
    } else {
      used = Math.min(this.reqRemaining, buf.length - start);
      this.reqRemaining -= used;
      if (this.reqRemaining === 0) this.reqDone = true;
    }
    this.requestBytes += used;
    if (this.target !== undefined && this.requestBytes > this.target.maxBodySize) {
      this.bodyTooLarge();
      return buf.length - start;
    }
    if (used > 0) {
      const chunk = used === buf.length && start === 0 ? buf : buf.subarray(start, start + used);
      if (this.reqFilters === null) this.sendUpstreamBody(chunk);
      else this.feedRequestFilters(chunk);
    }
    if (this.reqDone) {
      if (this.reqFilters !== null) this.reqFilters.end();
      else if (this.upstream !== null) this.armResponseTimeout();
    }
    return used;
  }

  /** Request body bytes as the backend gets them: to its connection, or queued until there is one. */
  private sendUpstreamBody(chunk: Buffer): void {
    if (this.phase === Phase.Done) return;
    const replay = this.replay;
    if (replay !== null) {
      this.replayBytes += chunk.length;
      if (this.replayBytes > this.target!.service!.retries.bufferBody) this.replay = null;
      else replay.push(chunk);
    }
    const up = this.upstream;
    if (up === null) {
      if (this.pendingBody === null) this.pendingBody = [];
      this.pendingBody.push(Buffer.from(chunk)); // the socket's buffer is reused by Node after 'data'
      this.pendingBytes += chunk.length;
      if (this.pendingBytes > MAX_PENDING_BODY) this.client.socket.pause();
      return;
    }
    this.bodySent = true;
    if (!up.socket.write(chunk)) this.client.socket.pause();
  }

  // ---------------------------------------------------------------- outcomes and retries

  /**
   * A try failed: its backend's and its service's breakers learn it; `failure` is
   * counted for metrics unless the backend answered (with a failure status).
   */
  private tryFailed(now: number, failure: UpstreamFailure | null): void {
    if (failure !== null) {
      this.backend!.pool.stats.failures[failure]++;
      if (this.trace !== null) this.endTry(failure);
    }
    this.backend!.breaker.onFailure(now);
    this.target!.service!.breaker.onFailure(now);
  }

  private trySucceeded(now: number): void {
    this.backend!.breaker.onSuccess(now);
    this.target!.service!.breaker.onSuccess(now);
  }

  /** The method may be retried: idempotent, or the router opted in. */
  private retryable(): boolean {
    return IDEMPOTENT.has(this.head.method) || this.target!.retryNonIdempotent;
  }

  /**
   * The backend for another try, with a retry taken from the budget, or undefined
   * when this exchange may not be retried: out of attempts, a response already
   * started, a body that went out and cannot be replayed, an upgrade, no other
   * backend, or the service's retry budget spent.
   */
  private retryTarget(): ServiceBackend | undefined {
    const service = this.target!.service!;
    if (this.retriesDone >= service.retries.attempts || this.headSent || this.phase === Phase.Done || this.head.upgrade) return undefined;
    const overall = service.retries.timeout;
    if (overall !== undefined && performance.now() - this.startTime >= overall) return undefined;
    if (!this.retryable()) return undefined;
    if (this.bodySent && !(this.reqDone && this.reqFilters === null && this.replay !== null)) return undefined;
    const next = this.pickBackend(this.backend);
    if (next === undefined || next === this.backend) return undefined;
    if (!service.budget.tryRetry()) return undefined;
    return next;
  }

  /** Start the next try on `next` (the previous try's connection is already dropped). */
  private retryOn(next: ServiceBackend): void {
    this.retriesDone++;
    this.backend = next;
    if (this.hostOverridden) this.upstreamHead!.headers.set("Host", next.address);
    if (this.bodySent) {
      this.pendingBody = this.replay!.slice();
      this.pendingBytes = this.replayBytes;
      this.bodySent = false;
    }
    this.resHeadBuf = null;
    this.resHead = null;
    this.connect();
  }

  /**
   * End the exchange because of what the client sent (or didn't): answer `status`
   * when no response has started, else cut the connection; either way it closes.
   */
  private refuseClient(code: string, status: number, message: string): void {
    this.errorCode = code;
    this.closeAfter = true;
    if (this.headSent) {
      this.abort();
      return;
    }
    this.dropUpstream();
    this.sendDirect(errorResponse(status, message));
  }

  private bodyTooLarge(): void {
    this.refuseClient("ERR_BODY_TOO_LARGE", 413, `the request body is larger than this route's limit of ${this.target!.maxBodySize} bytes`);
  }

  private clientProtocolError(err: unknown): void {
    if (err instanceof HttpParseError) this.refuseClient(err.code, err.status, err.message);
    else this.refuseClient("ERR_CLIENT_PROTOCOL", 400, err instanceof Error ? err.message : "malformed request body");
  }

  // ---------------------------------------------------------------- upstream side

  onUpstreamReady(conn: UpstreamConnection): void {
    if (this.phase === Phase.Done) {
      // The client went away while we were connecting.
      this.backend!.active--;
      conn.release();
      return;
    }
    conn.user = this;
    this.upstream = conn;
    this.phase = Phase.AwaitingHead;
    const h = this.upstreamHead!;
    const socket = conn.socket;
    const pending = this.pendingBody;
    if (pending !== null && pending.length > 0) this.bodySent = true;
    if (pending === null) {
      socket.write(serializeRequestHead(h.method, h.target, h.headers.raw), "latin1");
    } else {
      socket.cork();
      socket.write(serializeRequestHead(h.method, h.target, h.headers.raw), "latin1");
      for (const chunk of pending) socket.write(chunk);
      socket.uncork();
      this.pendingBody = null;
      this.pendingBytes = 0;
      this.client.socket.resume();
    }
    // While the body is still arriving, the client connection's body deadline stands.
    if (this.reqDone && this.reqFilters === null) this.armResponseTimeout();
  }

  private armResponseTimeout(): void {
    if (this.phase !== Phase.AwaitingHead) return;
    const target = this.target!;
    const service = target.service!;
    const now = performance.now();
    let deadline = now + service.responseTimeoutMs;
    const overall = service.retries.timeout;
    if (overall !== undefined) deadline = Math.min(deadline, this.startTime + overall);
    this.responseDeadline = deadline;
    this.client.deadline = deadline;
    const hedge = target.hedge;
    if (hedge !== null && this.hedgeAt === 0 && this.hedge === null && this.retriesDone === 0 && this.mayHedge()) {
      const typical = service.latency.percentile(hedge.percentile);
      if (typical !== undefined) {
        this.hedgeAt = now + Math.max(hedge.minDelay, typical);
        if (this.hedgeAt < deadline) this.client.deadline = this.hedgeAt;
        else this.hedgeAt = 0;
      }
    }
  }

  // ---------------------------------------------------------------- hedging

  /** Only idempotent requests without a body, and not upgrades, are hedged. */
  private mayHedge(): boolean {
    const head = this.head;
    return head.bodyKind === BodyKind.None && !head.upgrade && IDEMPOTENT.has(head.method) && this.target!.service!.backends.length > 1;
  }

  /** The first try is slower than usual: send the same request to another backend. */
  private startHedge(): void {
    const next = this.pickBackend(this.backend);
    if (next === undefined || next === this.backend) return;
    if (!this.target!.service!.budget.tryRetry()) return;
    if (this.target!.stats !== null) this.target!.stats.hedges++;
    // The first try's head is already sent, so the shared head can carry the hedge's traceparent.
    if (this.trace !== null) this.hedgeTrace = this.trace.startTry(next.address, 0, true, this.upstreamHead!.headers);
    this.hedge = new HedgeTry(this, next);
  }

  hedgeHead(backend: ServiceBackend): string {
    const h = this.upstreamHead!;
    if (this.hostOverridden) h.headers.set("Host", backend.address);
    return serializeRequestHead(h.method, h.target, h.headers.raw);
  }

  hedgeWon(hedge: HedgeTry, conn: UpstreamConnection, chunk: Buffer): void {
    this.hedge = null;
    if (this.phase !== Phase.AwaitingHead) {
      hedge.backend.active--;
      conn.destroy();
      return;
    }
    this.dropUpstream();
    this.pendingFailure = null;
    if (this.trace !== null) {
      this.endTry("cancelled"); // the first try lost the race
      this.tryTrace = this.hedgeTrace;
      this.hedgeTrace = null;
    }
    this.backend = hedge.backend;
    this.upstream = conn;
    conn.user = this;
    this.resHeadBuf = null;
    this.onResponseHeadBytes(chunk);
  }

  hedgeFailed(_hedge: HedgeTry): void {
    this.hedge = null;
    if (this.hedgeTrace !== null) this.endHedgeTrace("hedge-failed");
    const failure = this.pendingFailure;
    if (failure !== null && this.phase === Phase.AwaitingHead) {
      this.pendingFailure = null;
      this.failUpstream(failure);
    }
  }

  private cancelHedge(): void {
    if (this.hedge !== null) {
      this.hedge.cancel();
      this.hedge = null;
      if (this.hedgeTrace !== null) this.endHedgeTrace("cancelled");
    }
    this.hedgeAt = 0;
  }

  private endHedgeTrace(errorType: string): void {
    const t = this.hedgeTrace!;
    this.hedgeTrace = null;
    t.end(errorType);
  }

  onUpstreamFailed(err: UpstreamError): void {
    this.backend!.active--;
    if (this.phase === Phase.Done) return;
    const now = performance.now();
    this.target!.service!.balancer.observe?.(this.backend!, now - this.upstreamStart, false);
    this.tryFailed(now, err.failure);
    const next = this.retryTarget();
    if (next !== undefined) this.retryOn(next);
    else this.failUpstream(err);
  }

  onUpstreamData(chunk: Buffer): void {
    switch (this.phase) {
      case Phase.AwaitingHead:
        this.onResponseHeadBytes(chunk);
        return;
      case Phase.RelayingBody:
        if (this.resFilters === null) this.relayResponseBody(chunk, 0);
        else this.relayFilteredBody(chunk, 0);
        return;
      case Phase.Tunnel:
        this.responseBytes += chunk.length;
        if (!this.client.socket.write(chunk)) this.upstream!.socket.pause();
        return;
      default:
        // Bytes before the request was even sent, or after the response ended: framing is broken.
        this.dropUpstream();
    }
  }

  private onResponseHeadBytes(chunk: Buffer): void {
    if (this.hedge !== null || this.hedgeAt !== 0) this.cancelHedge();
    let buf = chunk;
    if (this.resHeadBuf !== null) buf = this.resHeadBuf = Buffer.concat([this.resHeadBuf, chunk]);
    let offset = 0;
    while (offset < buf.length) {
      let parsed: { head: ResponseHead; length: number } | null;
      try {
        parsed = parseResponseHead(buf, offset, buf.length, this.head.method, MAX_RESPONSE_HEAD);
      } catch (err) {
        this.tryFailed(performance.now(), "protocol-error");
        this.failUpstream(
          new UpstreamError("protocol-error", `backend ${this.backend!.address} sent a malformed response: ${(err as Error).message}`),
        );
        return;
      }
      if (parsed === null) {
        this.resHeadBuf = offset === 0 && buf !== chunk ? buf : Buffer.from(buf.subarray(offset));
        return;
      }
      offset += parsed.length;
      const head = parsed.head;
      if (head.statusCode >= 100 && head.statusCode < 200 && head.statusCode !== 101) {
        // Interim response (100 Continue, 103 Early Hints): relay to HTTP/1.1 clients, keep reading.
        if (this.head.versionMinor >= 1) {
          stripResponseHopByHop(head.headers, head.connectionTokens, false);
          this.client.socket.write(serializeResponseHead(head.statusCode, head.reason || reasonOf(head.statusCode), head.headers), "latin1");
        }
        continue;
      }
      this.resHeadBuf = null;
      this.onResponseHead(head, buf, offset);
      return;
    }
    this.resHeadBuf = null;
  }

  private onResponseHead(head: ResponseHead, buf: Buffer, offset: number): void {
    const now = performance.now();
    this.upstreamMs = now - this.upstreamStart;
    if (this.tryTrace !== null) this.tryTrace.responded(head.statusCode);
    if (this.backend!.breaker.isFailureStatus(head.statusCode)) this.tryFailed(now, null);
    else {
      this.trySucceeded(now);
      this.target!.service!.latency.record(now - this.upstreamStart);
    }
    const retryOn = this.target!.service!.retries.onStatus;
    if (retryOn.length > 0 && retryOn.includes(head.statusCode)) {
      const next = this.retryTarget();
      if (next !== undefined) {
        // Discard this answer (and its connection, whose body we won't read) and try elsewhere.
        this.dropUpstream();
        this.retryOn(next);
        return;
      }
    }
    this.resHead = head;
    this.client.deadline = 0;
    const upgraded = head.statusCode === 101;
    if (upgraded && !this.head.upgrade) {
      this.failUpstream(new UpstreamError("protocol-error", `backend ${this.backend!.address} switched protocols without being asked`));
      return;
    }
    stripResponseHopByHop(head.headers, head.connectionTokens, upgraded);
    const headers = new HeaderList(head.headers);
    const service = this.target!.service!;
    if (service.sticky !== undefined && !upgraded) {
      const cookieName = service.stickyConfig!.cookie;
      if (this.cookie(cookieName) !== service.sticky.valueFor(this.backend!)) {
        headers.add("Set-Cookie", service.sticky.setCookieHeader(this.backend!));
      }
    }
    const via = this.client.table.forwarding.via;
    if (via !== null) headers.add("Via", via);
    const view: ResponseHeadView = { status: head.statusCode, headers };
    const list = this.target!.onResponse;
    if (list.length === 0) this.sendResponseHead(view, head, buf, offset);
    else this.runResponsePhases(0, view, head, buf, offset);
  }

  private runResponsePhases(from: number, view: ResponseHeadView, head: ResponseHead, buf: Buffer, offset: number): void {
    const list = this.target!.onResponse;
    for (let i = from; i < list.length; i++) {
      let result: unknown;
      try {
        result = list[i]!.onResponse!(this, view);
      } catch (err) {
        this.pluginFailed(err);
        return;
      }
      if (isThenable(result)) {
        const rest = Buffer.from(buf.subarray(offset));
        this.upstream!.socket.pause();
        result.then(
          () => {
            if (this.phase === Phase.Done) return;
            this.upstream?.socket.resume();
            this.runResponsePhases(i + 1, view, head, rest, 0);
          },
          (err) => this.pluginFailed(err),
        );
        return;
      }
    }
    this.sendResponseHead(view, head, buf, offset);
  }

  private sendResponseHead(view: ResponseHeadView, head: ResponseHead, buf: Buffer, offset: number): void {
    const headers = view.headers;
    const upgraded = head.statusCode === 101;
    if (this.target!.onResponseBody.length > 0 && !upgraded && this.openResponseFilters(view)) {
      if (this.phase !== Phase.Done) this.sendFilteredHead(view, head, buf, offset);
      return;
    }
    const http10 = this.head.versionMinor === 0;
    switch (head.bodyKind) {
      case BodyKind.Length:
        this.resRemaining = head.contentLength;
        break;
      case BodyKind.Chunked:
        this.resDecoder = new ChunkedDecoder();
        if (http10) {
          // An HTTP/1.0 client cannot read chunked: send the decoded body and close.
          this.dechunk = true;
          this.closeAfter = true;
          headers.delete("transfer-encoding");
        }
        break;
      case BodyKind.UntilClose:
        this.closeAfter = true;
        break;
    }
    if (this.client.draining) this.closeAfter = true;
    if (!upgraded) {
      if (this.closeAfter) headers.set("Connection", "close");
      else if (http10) headers.set("Connection", "keep-alive");
    }
    this.status = view.status;
    this.headSent = true;
    this.responseHeaders = headers;
    const reason = view.status === head.statusCode && head.reason !== "" ? head.reason : reasonOf(view.status);
    const headText = serializeResponseHead(view.status, reason, headers.raw);
    const client = this.client.socket;
    if (upgraded) {
      client.write(headText, "latin1");
      this.phase = Phase.Tunnel;
      this.client.startTunnel();
      if (offset < buf.length) this.onUpstreamData(buf.subarray(offset));
      return;
    }
    if (head.bodyKind === BodyKind.None || (head.bodyKind === BodyKind.Length && head.contentLength === 0)) {
      client.write(headText, "latin1");
      this.responseComplete(head.keepAlive);
      return;
    }
    this.phase = Phase.RelayingBody;
    this.client.deadline = 0;
    if (offset < buf.length && !this.dechunk) {
      // Body bytes came with the head: send both in one write (one syscall, like nginx's writev).
      this.pendingHead = headText;
      this.relayResponseBody(buf, offset);
      return;
    }
    client.write(headText, "latin1");
    if (offset < buf.length) this.relayResponseBody(buf, offset);
  }

  private relayResponseBody(buf: Buffer, start: number): void {
    const head = this.resHead!;
    const client = this.client.socket;
    let end = buf.length;
    let complete = false;
    if (head.bodyKind === BodyKind.Length) {
      if (end - start >= this.resRemaining) {
        end = start + this.resRemaining;
        complete = true;
      }
      this.resRemaining -= end - start;
    } else if (head.bodyKind === BodyKind.Chunked) {
      let used: number;
      try {
        used = this.resDecoder!.push(buf, start, end, this.dechunk ? this : NO_SINK);
      } catch (err) {
        this.errorCode = "ERR_UPSTREAM_PROTOCOL_ERROR";
        this.backend!.pool.stats.failures["protocol-error"]++;
        this.dropUpstream();
        this.abort();
        void err;
        return;
      }
      end = start + used;
      complete = this.resDecoder!.done;
      if (this.dechunk) {
        if (complete) this.responseComplete(false);
        return;
      }
    }
    const headText = this.pendingHead;
    if (headText !== null) {
      this.pendingHead = null;
      this.responseBytes += end - start;
      let ok: boolean;
      if (end - start <= MAX_COALESCE) ok = client.write(withHead(headText, buf, start, end));
      else {
        client.cork();
        client.write(headText, "latin1");
        ok = client.write(buf.subarray(start, end));
        client.uncork();
      }
      if (!ok && !complete) this.upstream?.socket.pause();
    } else if (end > start) {
      this.responseBytes += end - start;
      const ok = client.write(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
      if (!ok && !complete) this.upstream?.socket.pause();
    }
    if (complete) {
      // Anything after the body on a keep-alive upstream connection is a framing error.
      const reusable = head.keepAlive && end === buf.length;
      this.responseComplete(reusable);
    }
  }

  // ---------------------------------------------------------------- response body filters

  /** Ask the response's middlewares for body filters; true when one returned a filter (or one failed). */
  private openResponseFilters(view: ResponseHeadView): boolean {
    const status = view.status;
    if (this.head.method === "HEAD" || status < 200 || status === 204 || status === 304) return false;
    let filters: BodyFilter[] | null;
    try {
      filters = collectFilters(this.target!.onResponseBody, this, "response", view);
    } catch (err) {
      this.pluginFailed(err);
      return true;
    }
    if (filters === null) return false;
    this.resFilters = new FilterChain(filters, new ResponseOutput(this));
    return true;
  }

  /** The head of a filtered response: the gateway frames the filters' output itself. */
  private sendFilteredHead(view: ResponseHeadView, head: ResponseHead, buf: Buffer, offset: number): void {
    const headers = view.headers;
    const http10 = this.head.versionMinor === 0;
    if (head.bodyKind === BodyKind.Length) this.resRemaining = head.contentLength;
    else if (head.bodyKind === BodyKind.Chunked) this.resDecoder = new ChunkedDecoder();
    const length = keptLength(headers);
    if (length >= 0) {
      this.resFraming = Framing.Length;
      this.resOutRemaining = length;
    } else {
      if (http10) {
        this.resFraming = Framing.Close;
        this.closeAfter = true;
        headers.delete("transfer-encoding");
      } else {
        this.resFraming = Framing.Chunked;
        headers.set("Transfer-Encoding", "chunked");
      }
    }
    if (head.bodyKind === BodyKind.UntilClose) this.closeAfter = true;
    if (this.client.draining) this.closeAfter = true;
    if (this.closeAfter) headers.set("Connection", "close");
    else if (http10) headers.set("Connection", "keep-alive");
    this.status = view.status;
    this.headSent = true;
    this.responseHeaders = headers;
    const reason = view.status === head.statusCode && head.reason !== "" ? head.reason : reasonOf(view.status);
    this.client.socket.write(serializeResponseHead(view.status, reason, headers.raw), "latin1");
    this.phase = Phase.RelayingBody;
    this.client.deadline = 0;
    if (head.bodyKind === BodyKind.None || (head.bodyKind === BodyKind.Length && head.contentLength === 0)) {
      this.upstreamBodyDone(head.keepAlive);
      return;
    }
    if (offset < buf.length) this.relayFilteredBody(buf, offset);
  }

  /** Backend body bytes into the filters, decoded from their framing. */
  private relayFilteredBody(buf: Buffer, start: number): void {
    const head = this.resHead!;
    const chain = this.resFilters!;
    if (head.bodyKind === BodyKind.Chunked) {
      let used: number;
      try {
        used = this.resDecoder!.push(buf, start, buf.length, chain);
      } catch {
        this.errorCode = "ERR_UPSTREAM_PROTOCOL_ERROR";
        this.backend!.pool.stats.failures["protocol-error"]++;
        this.dropUpstream();
        this.abort();
        return;
      }
      if (this.resDecoder!.done && this.phase !== Phase.Done) this.upstreamBodyDone(head.keepAlive && start + used === buf.length);
      return;
    }
    let end = buf.length;
    let complete = false;
    if (head.bodyKind === BodyKind.Length) {
      if (end - start >= this.resRemaining) {
        end = start + this.resRemaining;
        complete = true;
      }
      this.resRemaining -= end - start;
    }
    if (end > start) chain.write(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    if (complete && this.phase !== Phase.Done) this.upstreamBodyDone(head.keepAlive && end === buf.length);
  }

  /** The backend's body is all read: give back its connection, then let the filters finish. */
  private upstreamBodyDone(reusable: boolean): void {
    const conn = this.upstream;
    if (conn !== null) {
      this.upstream = null;
      if (reusable && this.reqDone && this.reqFilters === null && !conn.closed) conn.release();
      else conn.destroy();
      const backend = this.backend!;
      backend.active--;
      this.target!.service!.balancer.observe?.(backend, performance.now() - this.upstreamStart, true);
    }
    this.resFilters!.end();
  }

  /** ResponseOutput: a chunk of the filtered body, to the client. */
  filteredResponseData(chunk: Buffer): void {
    if (this.phase === Phase.Done) return;
    const socket = this.client.socket;
    let ok: boolean;
    if (this.resFraming === Framing.Length) {
      if (chunk.length > this.resOutRemaining) {
        this.filteredResponseFailed(new Error(`a body filter sent more than the ${this.responseBytes + this.resOutRemaining} bytes its Content-Length declares`));
        return;
      }
      this.resOutRemaining -= chunk.length;
      ok = socket.write(chunk);
    } else if (this.resFraming === Framing.Chunked) {
      socket.cork();
      ok = writeChunk(socket, chunk);
      socket.uncork();
    } else ok = socket.write(chunk);
    this.responseBytes += chunk.length;
    if (!ok) this.upstream?.socket.pause();
  }

  /** ResponseOutput: the filtered body is complete. */
  filteredResponseEnd(): void {
    if (this.phase === Phase.Done) return;
    if (this.resFraming === Framing.Length && this.resOutRemaining !== 0) {
      this.filteredResponseFailed(new Error(`a body filter ended ${this.resOutRemaining} bytes short of the Content-Length it kept`));
      return;
    }
    if (this.resFraming === Framing.Chunked) this.client.socket.write(LAST_CHUNK);
    if (this.upstream !== null) {
      // The filters finished before the backend's body did (they answered from elsewhere).
      this.dropUpstream();
    }
    this.resFilters = null;
    this.finish(!this.closeAfter && this.reqDone);
  }

  /** ResponseOutput: a filter failed once the head was sent: only closing the connection tells the client. */
  filteredResponseFailed(err: unknown): void {
    if (this.phase === Phase.Done) return;
    this.errorCode = err instanceof BodyFilterError ? err.code : "ERR_MIDDLEWARE_BODY_FILTER";
    this.middlewareFailed(err, "a middleware's response body filter failed; closing the connection");
    this.resFilters?.destroy();
    this.resFilters = null;
    this.abort();
  }

  /** ChunkSink for de-chunking towards an HTTP/1.0 client. */
  onData(buf: Buffer, start: number, end: number): void {
    this.responseBytes += end - start;
    this.client.socket.write(buf.subarray(start, end));
  }

  onUpstreamEnd(): void {
    if (this.phase === Phase.RelayingBody && this.resHead?.bodyKind === BodyKind.UntilClose) {
      if (this.resFilters === null) this.responseComplete(false);
      else this.upstreamBodyDone(false);
      return;
    }
    if (this.phase === Phase.Tunnel) {
      this.client.socket.end();
      this.finish(false);
      return;
    }
    this.upstreamBroke(new Error("backend closed the connection"));
  }

  onUpstreamError(err: Error): void {
    if (this.phase === Phase.Tunnel) {
      this.client.socket.destroy();
      this.finish(false);
      return;
    }
    this.upstreamBroke(err);
  }

  private upstreamBroke(err: Error): void {
    if (this.phase === Phase.Done || this.upstream === null) return;
    const conn = this.upstream;
    const noResponseYet = this.phase === Phase.AwaitingHead && this.resHeadBuf === null;
    // A keep-alive connection the backend closed while idle: replay on a fresh one when that is safe.
    if (noResponseYet && conn.reused && this.head.bodyKind === BodyKind.None && IDEMPOTENT.has(this.head.method) && this.attempts < 2) {
      conn.destroy();
      this.upstream = null;
      this.backend!.active--;
      this.phase = Phase.Connecting;
      this.attempts++;
      this.backend!.active++;
      this.backend!.pool.acquire(this);
      return;
    }
    if (this.phase === Phase.AwaitingHead) {
      const failure = new UpstreamError("reset", `backend ${this.backend!.address} closed the connection before responding (${err.message})`);
      this.tryFailed(performance.now(), "reset");
      if (this.hedge !== null && noResponseYet) {
        // The hedge may still answer: wait for it.
        this.dropUpstream();
        this.pendingFailure = failure;
        return;
      }
      const next = noResponseYet ? this.retryTarget() : undefined;
      if (next !== undefined) {
        this.dropUpstream();
        this.retryOn(next);
      } else this.failUpstream(failure);
      return;
    }
    // Mid-body: the client can only learn by the connection closing.
    this.errorCode = "ERR_UPSTREAM_RESET";
    this.backend!.pool.stats.failures.reset++;
    this.dropUpstream();
    this.abort();
  }

  /** Called by the client connection when a deadline this exchange armed passes. */
  onDeadline(): void {
    if (!this.reqDone) {
      // The client stopped sending its body (slowloris on bodies).
      this.refuseClient("ERR_CLIENT_BODY_TIMEOUT", 408, "the request body stopped arriving");
      return;
    }
    if (this.phase === Phase.AwaitingHead) {
      if (this.hedgeAt !== 0 && performance.now() < this.responseDeadline) {
        this.hedgeAt = 0;
        this.startHedge();
        this.client.deadline = this.responseDeadline;
        return;
      }
      this.cancelHedge();
      const ms = this.target!.service!.responseTimeoutMs;
      const failure = new UpstreamError("response-timeout", `backend ${this.backend!.address} did not respond within ${ms} ms`);
      this.tryFailed(performance.now(), "response-timeout");
      const next = this.resHeadBuf === null ? this.retryTarget() : undefined;
      if (next !== undefined) {
        this.dropUpstream();
        this.retryOn(next);
      } else this.failUpstream(failure);
    }
  }

  // ---------------------------------------------------------------- endings

  private failUpstream(err: UpstreamError): void {
    this.errorCode = err.code;
    this.dropUpstream();
    if (this.headSent) {
      this.abort();
      return;
    }
    if (!this.reqDone) this.closeAfter = true;
    const status = statusForUpstreamFailure(err.failure);
    const service = this.target?.service;
    // A service that takes its backends from a provider says which one has reported none yet.
    const why =
      err.failure === "no-backend" && service !== undefined && service.backends.length === 0 && service.discovery !== undefined
        ? `no backend is known yet: provider "${service.discovery}" has reported none`
        : describeFailure(err);
    this.sendDirect(errorResponse(status, `${why} (service ${this.service ?? "?"})`, status === 503 ? RETRY_AFTER : undefined));
  }

  private pluginFailed(err: unknown): void {
    this.errorCode = "ERR_PLUGIN";
    this.middlewareFailed(err, "a middleware failed; answering 500 (or closing the connection)");
    this.dropUpstream();
    if (this.headSent) this.abort();
    else {
      if (!this.reqDone) this.closeAfter = true;
      this.sendDirect(errorResponse(500, "a middleware failed while handling this request"));
    }
  }

  /** Answer the client without (further) proxying. */
  private sendDirect(res: DirectResponse): void {
    if (this.phase === Phase.Done) return;
    if (res === RESET_CONNECTION) {
      this.errorCode = "ERR_MIDDLEWARE_RESET";
      this.dropUpstream();
      this.client.socket.resetAndDestroy();
      this.finish(false);
      return;
    }
    if (!this.reqDone || this.client.draining) this.closeAfter = true;
    const body = typeof res.body === "string" ? Buffer.from(res.body) : res.body;
    this.status = res.status;
    this.headSent = true;
    const noBody = this.head.method === "HEAD" || res.status === 204 || res.status === 304;
    const socket = this.client.socket;
    const headText = directResponseHead(res, body.length, this.closeAfter, this.head.versionMinor);
    if (noBody || body.length === 0) socket.write(headText, "latin1");
    else {
      // Head and body in one write (one syscall), as for a proxied response's first bytes.
      if (body.length <= MAX_COALESCE) socket.write(withHead(headText, body, 0, body.length));
      else {
        socket.cork();
        socket.write(headText, "latin1");
        socket.write(body);
        socket.uncork();
      }
      this.responseBytes += body.length;
    }
    this.finish(!this.closeAfter);
  }

  private responseComplete(upstreamReusable: boolean): void {
    const conn = this.upstream;
    if (conn !== null) {
      this.upstream = null;
      if (upstreamReusable && this.reqDone && this.reqFilters === null && !conn.closed) conn.release();
      else conn.destroy();
    }
    const backend = this.backend!;
    backend.active--;
    this.target!.service!.balancer.observe?.(backend, performance.now() - this.upstreamStart, true);
    this.finish(!this.closeAfter && this.reqDone);
  }

  /** Drop the upstream connection (not reusable). */
  private dropUpstream(): void {
    const conn = this.upstream;
    if (conn !== null) {
      this.upstream = null;
      this.backend!.active--;
      conn.destroy();
    } else if (this.phase === Phase.Connecting && this.backend!.pool.cancel(this)) {
      // It was waiting for a free connection: no callback will come.
      this.backend!.active--;
    }
  }

  /** Close the client connection abruptly (the response cannot be completed). */
  abort(): void {
    if (this.phase === Phase.Done) return;
    if (this.errorCode === undefined) this.errorCode = "ERR_CLIENT_ABORTED";
    this.dropUpstream();
    this.client.socket.destroy();
    this.finish(false);
  }

  /**
   * The client closed its side with the request complete. A half-closed client is
   * served, except while a request phase waits on `signal`: a client that gives up
   * during a middleware's wait (a fault delay, a lookup) has left, as nginx sees it.
   */
  onClientEnded(): void {
    if (this.ended !== null && this.phase === Phase.Request) this.abort();
  }

  /** The client went away. */
  onClientClosed(): void {
    if (this.phase === Phase.Tunnel) {
      this.upstream?.destroy();
      this.upstream = null;
      this.backend!.active--;
      this.finish(false);
      return;
    }
    this.abort();
  }

  /** Tunnel: client bytes go straight to the backend. */
  tunnelToUpstream(chunk: Buffer): void {
    this.requestBytes += chunk.length;
    if (this.upstream !== null && !this.upstream.socket.write(chunk)) this.client.socket.pause();
  }

  tunnelClientEnded(): void {
    this.upstream?.socket.end();
  }

  onClientDrain(): void {
    this.upstream?.socket.resume();
  }

  onUpstreamDrain(): void {
    this.client.socket.resume();
  }

  /** Log a middleware's failure on the "middleware" logger (a process warning outside a gateway). */
  private middlewareFailed(err: unknown, message: string): void {
    const detail = err instanceof Error ? err.stack : String(err);
    const log = this.client.table.middlewareLog;
    if (log === null) process.emitWarning(`${message} (exchange ${this.id}): ${detail}`, "DivisorPluginWarning");
    else log.error({ exchange: this.id, router: this.router, err: detail }, message);
  }

  private finish(reusable: boolean): void {
    if (this.phase === Phase.Done) return;
    if (this.hedge !== null || this.hedgeAt !== 0) this.cancelHedge();
    if (this.slot !== Slot.None) this.releaseSlot();
    const wasTunnel = this.phase === Phase.Tunnel;
    if (wasTunnel && this.upstream !== null) {
      this.upstream.destroy();
      this.upstream = null;
      this.backend!.active--;
    }
    this.phase = Phase.Done;
    if (this.ended !== null) this.ended.abort();
    if (this.resFilters !== null) {
      this.resFilters.destroy();
      this.resFilters = null;
    }
    if (this.reqFilters !== null) {
      this.reqFilters.destroy();
      this.reqFilters = null;
    }
    this.durationMs = performance.now() - this.startTime;
    this.client.stats.inFlight--;
    if (this.trace !== null) {
      this.endTry(this.errorCode);
      this.trace.end(this.status, this.errorCode);
    }
    const target = this.target;
    const stats = target === undefined ? this.client.table.unrouted : target.stats;
    if (stats !== null) {
      stats.record(this.backend ?? null, this.head.method, this.status, this.durationMs, this.requestBytes, this.responseBytes);
      stats.retries += this.retriesDone;
    }
    const access = this.client.table.access;
    if (access !== null) access.log(this, stats);
    if (target !== undefined) {
      for (const mw of target.onLog) {
        try {
          mw.onLog!(this);
        } catch (err) {
          this.middlewareFailed(err, "a middleware's onLog failed");
        }
      }
    }
    this.client.exchangeDone(reusable);
  }
}

/** One buffer with a latin1 head followed by buf[start..end). */
function withHead(head: string, buf: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(head.length + (end - start));
  out.write(head, 0, "latin1");
  buf.copy(out, head.length, start, end);
  return out;
}

function reasonOf(status: number): string {
  return STATUS_REASON[status] ?? "Unknown";
}

function describeFailure(err: UpstreamError): string {
  switch (err.failure) {
    case "connect-refused":
      return "the backend refused the connection";
    case "connect-timeout":
      return "connecting to the backend timed out";
    case "connect-error":
      return "connecting to the backend failed";
    case "tls-error":
      return "the TLS handshake with the backend failed";
    case "response-timeout":
      return "the backend did not respond in time";
    case "protocol-error":
      return "the backend sent an invalid response";
    case "reset":
      return "the backend closed the connection before responding";
    case "no-backend":
      return "no backend is available";
    case "pool-exhausted":
      return "every connection to the backend is busy";
  }
}

/** Where the last response body filter's output goes. */
class ResponseOutput implements FilterOutput {
  constructor(private readonly exchange: ProxyExchange) {}
  data(chunk: Buffer): void {
    this.exchange.filteredResponseData(chunk);
  }
  end(): void {
    this.exchange.filteredResponseEnd();
  }
  failed(err: unknown): void {
    this.exchange.filteredResponseFailed(err);
  }
}

/** Where the last request body filter's output goes. */
class RequestOutput implements FilterOutput {
  constructor(private readonly exchange: ProxyExchange) {}
  data(chunk: Buffer): void {
    this.exchange.filteredRequestData(chunk);
  }
  end(): void {
    this.exchange.filteredRequestEnd();
  }
  failed(err: unknown): void {
    this.exchange.filteredRequestFailed(err);
  }
}
