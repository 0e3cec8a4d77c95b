// Hot path: per-request counters, reached from the compiled route without any lookup by name.
import type { BackendState } from "../../service/balancers/types.js";
import { HistogramCell } from "./histogram.js";
import type { TlsStats } from "../../listener/tls.js";
import type { TcpStats } from "../../listener/tcp.js";

/** Methods counted under their own name; any other is counted as "_OTHER" (OTel semantic conventions). */
export const METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "_OTHER"] as const;
export const STATUS_CLASSES = ["1xx", "2xx", "3xx", "4xx", "5xx"] as const;
const CLASSES = STATUS_CLASSES.length;

function methodIndex(method: string): number {
  switch (method) {
    case "GET":
      return 0;
    case "HEAD":
      return 1;
    case "POST":
      return 2;
    case "PUT":
      return 3;
    case "DELETE":
      return 4;
    case "PATCH":
      return 5;
    case "OPTIONS":
      return 6;
    case "CONNECT":
      return 7;
    case "TRACE":
      return 8;
    default:
      return 9;
  }
}

/** Requests of one method and status class through one router to one backend. */
export class RequestSeries {
  readonly method: string;
  readonly statusClass: string;
  readonly duration: HistogramCell;
  requestBytes = 0;
  responseBytes = 0;

  constructor(method: string, statusClass: string, boundsMs: Float64Array) {
    this.method = method;
    this.statusClass = statusClass;
    this.duration = new HistogramCell(boundsMs);
  }
}

/** What one router sent to one backend (or answered itself: backend undefined). */
export class BackendRequests {
  readonly backend: string;
  /** Indexed by method * 5 + status class; created on first use. */
  readonly series: (RequestSeries | undefined)[] = new Array(METHODS.length * CLASSES);

  constructor(backend: string) {
    this.backend = backend;
  }
}

/**
 * Counters of one router, kept across reloads by the metrics registry (keyed by
 * tenant and router name). The compiled route holds it, so recording a request
 * costs no name lookup: only a Map.get by backend object.
 */
export class RouterStats {
  readonly router: string;
  readonly tenant: string;
  /** The service the router sends to now ("" when it has none); updated by reloads. */
  service: string;
  retries = 0;
  hedges = 0;
  /** Requests its service could not take because no backend was available. */
  noBackend = 0;
  /** Access-log lines written, and sampled out. */
  accessLines = 0;
  accessDropped = 0;
  readonly byBackend = new Map<BackendState | null, BackendRequests>();
  private readonly boundsMs: Float64Array;

  constructor(router: string, tenant: string, service: string, boundsMs: Float64Array) {
    this.router = router;
    this.tenant = tenant;
    this.service = service;
    this.boundsMs = boundsMs;
  }

  /**
   * Count one finished exchange. `status` 0 (the client left before any response)
   * is counted as 499, nginx's "client closed request".
   */
  record(backend: BackendState | null, method: string, status: number, durationMs: number, requestBytes: number, responseBytes: number): void {
    let cell = this.byBackend.get(backend);
    if (cell === undefined) {
      cell = new BackendRequests(backend === null ? "" : backend.address);
      this.byBackend.set(backend, cell);
    }
    const m = methodIndex(method);
    const s = status === 0 ? 499 : status;
    const c = s < 200 ? 0 : s < 300 ? 1 : s < 400 ? 2 : s < 500 ? 3 : 4;
    const i = m * CLASSES + c;
    let series = cell.series[i];
    if (series === undefined) {
      series = new RequestSeries(METHODS[m]!, STATUS_CLASSES[c]!, this.boundsMs);
      cell.series[i] = series;
    }
    series.duration.observe(durationMs);
    series.requestBytes += requestBytes;
    series.responseBytes += responseBytes;
  }
}

/** HTTP/2 counters of a listener (made when it first offers HTTP/2). */
export interface Http2Stats {
  /** Client connections speaking HTTP/2: open now, opened in all. */
  sessionsOpen: number;
  sessionsOpened: number;
  /** Streams (requests) opened by clients. */
  streams: number;
  /** Streams the client reset (RST_STREAM) before their response was complete. */
  clientResets: number;
  /** Connections the gateway closed, by reason (rapid-reset, settings-flood, ping-flood, invalid-frames, protocol-error, idle). */
  closed: Map<string, number>;
  /** gRPC calls ended, by "tenant\0router\0service\0grpc-status". */
  grpc: Map<string, number>;
}

export function newHttp2Stats(): Http2Stats {
  return { sessionsOpen: 0, sessionsOpened: 0, streams: 0, clientResets: 0, closed: new Map(), grpc: new Map() };
}

/** Counters of one listener, kept across reloads. */
export class ListenerStats {
  readonly listener: string;
  accepted = 0;
  inFlight = 0;
  /** Requests refused before routing because their head was malformed or too large. */
  rejectedHeads = 0;
  /** Upgraded connections (WebSocket...): open now, opened in all, closed for idleness. */
  tunnelsOpen = 0;
  tunnelsOpened = 0;
  tunnelsIdleClosed = 0;
  /** Handshake and certificate counters, once the listener has spoken TLS. */
  tls: TlsStats | null = null;
  /** PROXY protocol listeners: headers read by version, and headers refused. */
  proxyProtocol: { headers: Map<string, number>; errors: number } | null = null;
  /** TCP listeners: tunnels and bytes. */
  tcp: TcpStats | null = null;
  /** Listeners that offer HTTP/2: sessions, streams, abuse closes, gRPC statuses. */
  http2: Http2Stats | null = null;

  constructor(listener: string) {
    this.listener = listener;
  }
}
