/**
 * The one extension interface of Divisor. Every middleware, built-in or a user's
 * plugin, is an object with optional phase methods, called in this order for each
 * exchange (one request/response pair):
 *
 * 1. `onRequest(exchange)` — may answer directly by returning `exchange.respond(...)`.
 * 2. `selectBackend(exchange, candidates)` — may steer the service's choice.
 * 3. `onUpstreamRequest(exchange, head)` — rewrite what goes to the backend.
 * 4. `onResponse(exchange, head)` — rewrite what goes back to the client.
 * 5. body filters — `onRequestBody(exchange)` and `onResponseBody(exchange, head)`
 *    return a BodyFilter that sees (and may rewrite) every body chunk; only exchanges
 *    whose middlewares return one pay for it, the others stream bytes untouched.
 * 6. `onLog(exchange)` — after the response is done (metrics, access logs).
 *
 * Phases may return a promise; a phase that returns nothing costs no await.
 */
import type { StandardSchemaV1 } from "@standard-schema/spec";
import type { HeaderList } from "../http1/headers.js";
import type { Logger } from "../observability/logger.js";
import type { PluginMetrics } from "../observability/metrics/plugin-metrics.js";
import type { BackendState } from "../service/balancers/types.js";
import type { UpstreamClient } from "./upstream-client.js";

/** A response produced by a middleware instead of proxying. */
export interface DirectResponse {
  readonly status: number;
  /** Header fields by name; an array sends the field once per value (Set-Cookie, a cache's stored fields). */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: string | Buffer;
}

/** The client's request as middlewares see and change it. */
export interface ExchangeRequest {
  /** Method as received, e.g. "GET". */
  readonly method: string;
  /** Path, without the query. Middlewares may rewrite it; the backend receives `path + query`. */
  path: string;
  /** Query string with its leading "?", or "". */
  query: string;
  /** Request headers (changes here reach the backend). */
  readonly headers: HeaderList;
  /** Host the request was for, lowercased, without port. */
  readonly host: string;
  readonly scheme: "http" | "https";
  /** Client address after trusted-proxy processing. */
  readonly clientIp: string;
  /** HTTP minor version of the client's request (0 or 1; 1 for HTTP/2, whose requests are served as HTTP/1.1). */
  readonly versionMinor: number;
  /** The protocol the client spoke: "1.0", "1.1" or "2". */
  readonly httpVersion: "1.0" | "1.1" | "2";
}

/** The request head about to be sent upstream. */
export interface UpstreamRequestHead {
  method: string;
  /** Request-target sent to the backend (path + query). */
  target: string;
  readonly headers: HeaderList;
}

/** The response head about to be sent to the client. */
export interface ResponseHeadView {
  status: number;
  readonly headers: HeaderList;
}

/** A client's TLS certificate, as the client-cert middleware and plugins see it. */
export interface ClientCertificate {
  /** Whether it chains to the listener's clientAuth.ca (and is within its validity). */
  readonly verified: boolean;
  /** Why it did not verify (OpenSSL's reason, e.g. "UNABLE_TO_VERIFY_LEAF_SIGNATURE"), else null. */
  readonly verifyError: string | null;
  /** Subject as "CN=alice,O=Example" (RFC 4514 order as OpenSSL prints it). */
  readonly subject: string;
  /** The subject's common name, or "" without one. */
  readonly commonName: string;
  readonly issuer: string;
  /** subjectAltName entries, e.g. ["DNS:svc.internal", "URI:spiffe://prod/web", "email:a@example.com"]. */
  readonly subjectAltNames: readonly string[];
  /** SHA-256 fingerprint, "AB:CD:...". */
  readonly fingerprint256: string;
  readonly serialNumber: string;
  readonly validFrom: string;
  readonly validTo: string;
  /** The certificate in DER. */
  readonly raw: Buffer;
}

/** One request/response pair travelling through the gateway. */
export interface Exchange {
  /** Per-process sequence number. */
  readonly id: number;
  readonly request: ExchangeRequest;
  /** Name of the listener that accepted the connection. */
  readonly listener: string;
  /** Name of the matched router, its tenant and its service (undefined before routing / when none). */
  readonly router: string | undefined;
  readonly tenant: string | undefined;
  readonly service: string | undefined;
  /** Path parameters captured by a `pattern` match, else null. */
  readonly params: Readonly<Record<string, string>> | null;
  /** The backend chosen, once chosen. */
  readonly backend: BackendState | undefined;
  /** Final status sent to the client (0 until the response head is sent). */
  readonly status: number;
  /** `performance.now()` when the request head was parsed. */
  readonly startTime: number;
  /** Milliseconds from startTime to the end of the response (set before onLog). */
  readonly durationMs: number;
  /** Body bytes received from the client and sent to it. */
  readonly requestBytes: number;
  readonly responseBytes: number;
  /** Stable code of the error that ended the exchange, if any (e.g. "ERR_UPSTREAM_CONNECT_TIMEOUT"). */
  readonly errorCode: string | undefined;
  /** W3C trace id (32 hex digits) of the exchange's trace when tracing is on, else undefined. */
  readonly traceId: string | undefined;
  /** Scratch space for plugins, shared across the phases of this exchange. */
  readonly locals: Map<string | symbol, unknown>;
  /**
   * The certificate the client presented over TLS (listeners with
   * tls.clientAuth), or null when it sent none or the connection is not TLS.
   * Read on first use.
   */
  readonly clientCertificate: ClientCertificate | null;
  /** Build a direct response; return it from `onRequest` to answer without proxying. */
  respond(status: number, body?: string | Buffer, headers?: Readonly<Record<string, string | readonly string[]>>): DirectResponse;
  /**
   * A direct response that sends no response at all: return it from `onRequest`
   * to reset the client connection (TCP RST), as a crashed backend would.
   * The exchange ends with errorCode "ERR_MIDDLEWARE_RESET".
   */
  resetConnection(): DirectResponse;
  /**
   * Aborted when the exchange ends: answered, or the client went away. Pass it
   * to timers and I/O that an async phase waits on so they stop with the client
   * (created on first use; an exchange that never asks pays nothing). Asking for
   * it also means that a client closing its side of the connection while the
   * request phases wait ends the exchange (otherwise a half-closed client is served).
   */
  readonly signal: AbortSignal;
  /**
   * Send this exchange to another service of the configuration in force than the one its
   * router (or split) chose: call it from `onRequest` (canary by header, blue/green,
   * A/B). The router's middlewares and settings stay; the service's balancer, retries
   * and counters apply. Throws a DivisorError when there is no such service or a
   * backend was already chosen.
   */
  useService(name: string): void;
}

type Awaitable<T> = T | Promise<T>;

/** Where a body filter passes its output: the next filter, or the wire. */
export interface BodySink {
  /** Pass a chunk on (the sink may keep it: do not reuse the buffer afterwards). */
  write(chunk: Buffer): void;
  /** The filter's output is complete; call once, after the last write. */
  end(): void;
  /** The filter cannot go on (e.g. a corrupt compressed body): the exchange ends with this error. */
  error(err: Error): void;
}

/**
 * Sees a body chunk by chunk, decoded from its framing (chunked or Content-Length),
 * and passes on what should be sent instead, now or later (a filter may be
 * asynchronous, like a zlib stream; the gateway applies backpressure to the sender
 * while the receiver is slow).
 *
 * A filter that changes the body's length must delete the head's Content-Length in
 * the phase that returns it; the gateway then frames the body itself (chunked, or
 * close-delimited for an HTTP/1.0 client). One that keeps Content-Length must pass
 * on exactly that many bytes, or the connection is closed as broken.
 */
export interface BodyFilter {
  /** One chunk of the body; pass output on with `sink.write` (or keep it for later). */
  write(chunk: Buffer, sink: BodySink): void;
  /** The body ended (also called, with no write before, for an empty body): flush, then `sink.end()`. */
  end(sink: BodySink): void;
  /** The exchange ended before the body did (client or backend gone): release resources. */
  destroy?(): void;
}

/** What a plugin's `create` returns: the phases it takes part in. */
export interface Middleware {
  // biome-ignore lint/suspicious/noConfusingVoidType: lets a phase written as a plain function return nothing
  onRequest?(exchange: Exchange): Awaitable<DirectResponse | undefined | void>;
  /**
   * Steer backend selection: return one of `candidates` (the service's available
   * backends) to use it, or undefined to let the service's balancer choose.
   */
  selectBackend?(exchange: Exchange, candidates: readonly BackendState[]): BackendState | undefined;
  onUpstreamRequest?(exchange: Exchange, head: UpstreamRequestHead): Awaitable<void>;
  onResponse?(exchange: Exchange, head: ResponseHeadView): Awaitable<void>;
  /**
   * Filter the request body on its way to the backend (decompression, a copy for a
   * mirror). Called once per exchange after the request phases, before the first body
   * byte is sent, only when the request has a body; return undefined to let it stream
   * through. `head` is the head about to be sent (delete its Content-Length when the
   * filter changes the length). Retries replay the filtered body.
   */
  onRequestBody?(exchange: Exchange, head: UpstreamRequestHead): BodyFilter | undefined;
  /**
   * Filter the response body on its way to the client (compression, caching, hashing),
   * called after every onResponse, once the head is final, even when the response has
   * no body (a filter may produce one, e.g. a cache answering a 304 revalidation with its
   * stored body). Filters run in response order: the one of the middleware nearest the
   * backend sees the backend's bytes first. Return undefined to let the body stream
   * through untouched. Not called for HEAD requests, 1xx, or upgraded connections.
   */
  onResponseBody?(exchange: Exchange, head: ResponseHeadView): BodyFilter | undefined;
  onLog?(exchange: Exchange): void;
}

/** Context a plugin instance is created in. */
export interface PluginContext {
  /** Name of the middleware entry in the config. */
  readonly name: string;
  /**
   * Declare counters and gauges served at /metrics with the gateway's own, labelled
   * middleware="<name>" and kept across reloads (see PluginMetrics).
   */
  readonly metrics: PluginMetrics;
  /**
   * State kept across reloads for this middleware's name (buckets, caches), owned by
   * the gateway; a reload that drops the middleware drops it. Empty in offline checks.
   */
  readonly state: Map<string | symbol, unknown>;
  /**
   * Send requests of the plugin's own to a configured service (a mirror's copies, a
   * cache's revalidations): the service's balancer picks among its available backends
   * of the configuration in force at call time. Refuses every request in offline checks.
   */
  readonly upstream: UpstreamClient;
  /** The gateway's "middleware" logger (its level is set with logging.levels.middleware); silent in offline checks. */
  readonly log: Logger;
}

/**
 * What a plugin's lifecycle hooks (`init`, `reload`) get: where it was loaded from
 * and the gateway's logger. One plugin may serve several middlewares; this context
 * belongs to the plugin, not to one of them.
 */
export interface PluginLifecycleContext {
  /** The name the config's middlewares use for it (`plugins[].name`, or the plugin's own for one passed in code). */
  readonly name: string;
  /** The module's resolved file URL, for a plugin loaded through the config's `plugins:`; undefined for one passed in code. */
  readonly from: string | undefined;
  /** The gateway's "middleware" logger. */
  readonly log: Logger;
}

/**
 * An options schema: any Standard Schema validator (zod 3.24+ and 4, valibot,
 * arktype... from the plugin's own dependencies: no shared copy with Divisor is
 * needed). Validation must be synchronous. Errors are reported as config errors at
 * `middlewares.<name>.options.<path>`.
 */
export type PluginOptionsSchema<Options> = StandardSchemaV1<unknown, Options>;

/**
 * A plugin: a named factory of middlewares, with an optional schema for its
 * options (validated when the config is compiled; errors name the middleware and
 * the option) and optional lifecycle hooks:
 *
 * - `init(context)` once per load of the plugin (gateway start; a reload that
 *   re-imports a changed plugin file), before any `create`; may be async, and the
 *   gateway waits; a throw refuses the start or the reload.
 * - `create(options, context)` once per middleware that uses it, at every load and reload.
 * - `reload(context)` on every configuration reload that keeps this plugin loaded
 *   (same module), before its middlewares are created again; a throw refuses the reload.
 * - `close()` when the plugin is unloaded: gateway close, a reload that drops it
 *   from `plugins:` or replaces it with a re-imported file. Errors are logged.
 *
 * @example
 * import { definePlugin } from "divisor";
 * import { z } from "zod";
 * export default definePlugin({
 *   name: "request-id",
 *   schema: z.object({ header: z.string().default("x-request-id") }),
 *   create: ({ header }) => ({
 *     onUpstreamRequest(ex, head) { head.headers.set(header, String(ex.id)) },
 *   }),
 * });
 */
export interface Plugin<Options = unknown> {
  readonly name: string;
  readonly schema?: PluginOptionsSchema<Options>;
  init?(context: PluginLifecycleContext): Awaitable<void>;
  reload?(context: PluginLifecycleContext): Awaitable<void>;
  create(options: Options, context: PluginContext): Middleware;
  close?(): Awaitable<void>;
}

/**
 * Identity helper that gives a plugin definition its types; a module loaded
 * through the config's `plugins:` exports its result as `default` (or as `plugin`).
 */
export function definePlugin<Options>(plugin: Plugin<Options>): Plugin<Options> {
  return plugin;
}
