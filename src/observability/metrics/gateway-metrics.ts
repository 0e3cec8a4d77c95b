/**
 * The gateway's metrics: counters the request path updates (per router, per
 * listener, per backend) and the gauges read from live state at scrape time,
 * rendered in the Prometheus text format or OpenMetrics.
 *
 * Label values are names from the configuration (tenants, routers, services,
 * listeners, backend addresses) and small fixed sets (method, status class,
 * failure kind), never a request's raw path or host, so cardinality is bounded
 * by the configuration.
 */
import type { MetricsConfig } from "../../config/schema-observability.js";
import { BREAKER_STATE_NAMES } from "../../service/breaker.js";
import { ADMIN_STATES, type BackendRegistry } from "../../service/service.js";
import { UPSTREAM_FAILURES } from "../../upstream/stats.js";
import type { TracingStats } from "../tracing/stats.js";
import { VERSION } from "../version.js";
import { ExpositionWriter, type Labels } from "./exposition.js";
import { boundsInMs } from "./histogram.js";
import { PluginMetricsRegistry } from "./plugin-metrics.js";
import type { ProcessMetrics } from "./process-metrics.js";
import type { CertificateSet } from "../../listener/tls.js";
import type { AcmeRegistry } from "../../listener/acme/registry.js";
import { ListenerStats, type RequestSeries, RouterStats } from "./http-stats.js";

/** A listener as metrics see it at scrape time. */
export interface ListenerGauge {
  readonly name: string;
  readonly connectionCount: number;
  /** The certificates in force, for HTTPS listeners. */
  readonly certificateSet?: CertificateSet | null;
}

/** What a scrape reads besides the counters: live state owned by the gateway. */
export interface MetricsSources {
  readonly registry: BackendRegistry;
  listeners(): Iterable<ListenerGauge>;
  /** The tracer's own counters, once tracing has been configured; else null. */
  tracing?(): TracingStats | null;
  /** The traffic splits of the table in force. */
  splits?(): Iterable<SplitGauge>;
  /** The ACME managers of the HTTPS listeners with tls.acme. */
  acme?(): AcmeRegistry;
  /** The providers (providers:), in order. */
  providers?(): readonly ProviderGauge[];
}

/** A provider as a scrape shows it. */
export interface ProviderGauge {
  readonly name: string;
  readonly type: string;
  readonly state: string;
  readonly lastSuccessAt: string | null;
  readonly updates: { readonly accepted: number; readonly refused: number };
  readonly errors: number;
}

/** A router's traffic split as a scrape shows it. */
export interface SplitGauge {
  readonly router: string;
  readonly services: readonly { readonly service: string; readonly weight: number }[];
  readonly overridden: boolean;
}

const BREAKER_STATES = ["closed", "open", "half_open"] as const;

/** Configuration reloads so far (the first load is not one). */
export interface ReloadStatus {
  success: number;
  failure: number;
  /** Result of the last reload, or null when none was tried. */
  lastResult: "success" | "failure" | null;
  /** When the last reload was tried (ISO 8601), or null. */
  lastAttemptAt: string | null;
  /** When the configuration in force was loaded (ISO 8601). */
  configLoadedAt: string;
}

export class GatewayMetrics {
  readonly enabled: boolean;
  readonly bucketsSeconds: readonly number[];
  readonly boundsMs: Float64Array;
  private readonly routers = new Map<string, RouterStats>();
  private readonly listenerStats = new Map<string, ListenerStats>();
  /** Requests no router matched (and malformed paths), counted with router="". */
  readonly unrouted: RouterStats;
  /** Families middlewares declared through their PluginContext. */
  readonly plugins = new PluginMetricsRegistry();
  private reloads = { success: 0, failure: 0 };
  /** Imports of each `plugins:` entry's module (the start's, and a reload's of a changed file), by entry name. */
  private readonly pluginImports = new Map<string, number>();
  private lastReloadOk = true;
  private lastSuccessAt = Date.now() / 1000;
  private lastAttemptAt = 0;
  private process: ProcessMetrics | null = null;

  constructor(config: MetricsConfig) {
    this.enabled = config.enabled;
    this.bucketsSeconds = config.buckets;
    this.boundsMs = boundsInMs(config.buckets);
    this.unrouted = new RouterStats("", "", "", this.boundsMs);
  }

  /** The counters of a router (kept across reloads), or null when metrics are off. */
  router(tenant: string | undefined, router: string, service: string | undefined, splitArm = false): RouterStats | null {
    if (!this.enabled) return null;
    // The sides of a traffic split count apart, each under its own service label.
    const key = splitArm ? `${tenant ?? ""}/${router}\n${service}` : `${tenant ?? ""}/${router}`;
    let stats = this.routers.get(key);
    if (stats === undefined) {
      stats = new RouterStats(router, tenant ?? "", service ?? "", this.boundsMs);
      this.routers.set(key, stats);
    } else stats.service = service ?? "";
    return stats;
  }

  listener(name: string): ListenerStats {
    let stats = this.listenerStats.get(name);
    if (stats === undefined) {
      stats = new ListenerStats(name);
      this.listenerStats.set(name, stats);
    }
    return stats;
  }

  reloaded(ok: boolean): void {
    this.lastAttemptAt = Date.now() / 1000;
    if (ok) {
      this.reloads.success++;
      this.lastSuccessAt = Date.now() / 1000;
    } else this.reloads.failure++;
    this.lastReloadOk = ok;
  }

  /** A `plugins:` entry's module was imported (at start, or again because its file changed). */
  pluginImported(name: string): void {
    this.pluginImports.set(name, (this.pluginImports.get(name) ?? 0) + 1);
  }

  /** Reload counts and the last one's result, for the admin API's /api/runtime. */
  reloadStatus(): ReloadStatus {
    return {
      success: this.reloads.success,
      failure: this.reloads.failure,
      lastResult: this.lastAttemptAt === 0 ? null : this.lastReloadOk ? "success" : "failure",
      lastAttemptAt: this.lastAttemptAt === 0 ? null : new Date(this.lastAttemptAt * 1000).toISOString(),
      configLoadedAt: new Date(this.lastSuccessAt * 1000).toISOString(),
    };
  }

  /** The process collectors, while they run (admin configured and metrics.process on). */
  get processMetrics(): ProcessMetrics | null {
    return this.process;
  }

  /**
   * Start collecting process and runtime metrics (CPU, memory, heap, GC,
   * event-loop delay, handles); loaded only when asked for (admin configured).
   */
  async collectProcessMetrics(): Promise<void> {
    if (this.process !== null) return;
    const { ProcessMetrics } = await import("./process-metrics.js");
    this.process = new ProcessMetrics();
  }

  /** Stop the process collectors' timers and observers. */
  stopProcessMetrics(): void {
    this.process?.stop();
    this.process = null;
  }

  render(sources: MetricsSources, openMetrics: boolean): string {
    const w = new ExpositionWriter(openMetrics);
    w.family("divisor_build_info", "gauge", "Divisor's version; always 1.").sample(
      [
        ["version", VERSION],
        ["nodejs_version", process.versions.node],
      ],
      1,
    );
    if (this.enabled) this.renderRequests(w);
    this.renderListeners(w, sources);
    this.renderBackends(w, sources.registry);
    if (sources.splits !== undefined) renderSplits(w, [...sources.splits()]);
    this.renderReloads(w);
    const providers = sources.providers?.() ?? [];
    if (providers.length > 0) renderProviders(w, providers);
    sources.tracing?.()?.render(w);
    this.plugins.render(w);
    this.process?.render(w);
    return w.finish();
  }

  private renderRequests(w: ExpositionWriter): void {
    const all = [...this.routers.values(), this.unrouted];
    type Row = { labels: Labels; series: RequestSeries };
    const rows: Row[] = [];
    for (const stats of all) {
      for (const cell of stats.byBackend.values()) {
        for (const series of cell.series) {
          if (series === undefined) continue;
          rows.push({
            labels: [
              ["tenant", stats.tenant],
              ["router", stats.router],
              ["service", stats.service],
              ["backend", cell.backend],
              ["method", series.method],
              ["status_class", series.statusClass],
            ],
            series,
          });
        }
      }
    }
    w.family("divisor_http_requests", "counter", "Requests answered, by tenant, router, service, backend, method and status class (499: the client left first).");
    for (const r of rows) w.sample(r.labels, r.series.duration.count);
    w.family("divisor_http_request_duration_seconds", "histogram", "Time from a request's head to the end of its response.", "seconds");
    for (const r of rows) w.histogram(r.labels, r.series.duration, this.bucketsSeconds);
    w.family("divisor_http_request_body_bytes", "counter", "Request body bytes received from clients.");
    for (const r of rows) w.sample(r.labels, r.series.requestBytes);
    w.family("divisor_http_response_body_bytes", "counter", "Response body bytes sent to clients.");
    for (const r of rows) w.sample(r.labels, r.series.responseBytes);

    const routerLabels = (s: RouterStats): Labels => [
      ["tenant", s.tenant],
      ["router", s.router],
      ["service", s.service],
    ];
    w.family("divisor_retries", "counter", "Retries taken (tries after the first, each on another backend).");
    for (const s of this.routers.values()) w.sample(routerLabels(s), s.retries);
    w.family("divisor_hedged_requests", "counter", "Requests that got a hedged second try because the first was slow.");
    for (const s of this.routers.values()) w.sample(routerLabels(s), s.hedges);
    w.family("divisor_access_log_lines", "counter", "Access-log lines written (router \"\": requests no router took).");
    for (const s of all) w.sample(routerLabels(s), s.accessLines);
    w.family("divisor_access_log_lines_dropped", "counter", "Access-log lines left out by logging.access.sample.");
    for (const s of all) w.sample(routerLabels(s), s.accessDropped);
  }

  private renderListeners(w: ExpositionWriter, sources: MetricsSources): void {
    const open = new Map<string, number>();
    for (const l of sources.listeners()) open.set(l.name, l.connectionCount);
    const stats = [...this.listenerStats.values()];
    const label = (name: string): Labels => [["listener", name]];
    w.family("divisor_listener_connections", "gauge", "Client connections open now.");
    for (const [name, count] of open) w.sample(label(name), count);
    w.family("divisor_listener_connections_accepted", "counter", "Client connections accepted.");
    for (const s of stats) w.sample(label(s.listener), s.accepted);
    w.family("divisor_http_requests_in_flight", "gauge", "Requests being served now.");
    for (const s of stats) w.sample(label(s.listener), s.inFlight);
    w.family("divisor_http_request_parse_errors", "counter", "Requests refused before routing: malformed, ambiguous or oversized heads.");
    for (const s of stats) w.sample(label(s.listener), s.rejectedHeads);
    w.family("divisor_tunnels", "gauge", "Upgraded connections (WebSocket and other 101 tunnels) open now.");
    for (const s of stats) w.sample(label(s.listener), s.tunnelsOpen);
    w.family("divisor_tunnels_opened", "counter", "Upgraded connections opened.");
    for (const s of stats) w.sample(label(s.listener), s.tunnelsOpened);
    w.family("divisor_tunnels_idle_closed", "counter", "Upgraded connections closed by timeouts.tunnelIdle.");
    for (const s of stats) w.sample(label(s.listener), s.tunnelsIdleClosed);
    this.renderTls(w, sources, stats);
    this.renderAcme(w, sources.acme?.());
    this.renderHttp2(w, stats);
    const tcp = stats.filter((s) => s.tcp !== null);
    if (tcp.length > 0) {
      w.family("divisor_tcp_connections", "counter", "TCP listener connections, by result: proxied (joined to a backend) or failed (no backend took it).");
      for (const s of tcp) {
        w.sample([["listener", s.listener], ["result", "proxied"]], s.tcp!.proxied);
        w.sample([["listener", s.listener], ["result", "failed"]], s.tcp!.failed);
      }
      w.family("divisor_tcp_received_bytes", "counter", "Bytes TCP listeners copied from clients to backends.", "bytes");
      for (const s of tcp) w.sample([["listener", s.listener]], s.tcp!.bytesIn);
      w.family("divisor_tcp_sent_bytes", "counter", "Bytes TCP listeners copied from backends to clients.", "bytes");
      for (const s of tcp) w.sample([["listener", s.listener]], s.tcp!.bytesOut);
    }
    const pp = stats.filter((s) => s.proxyProtocol !== null);
    if (pp.length > 0) {
      w.family("divisor_proxy_protocol_headers", "counter", "PROXY protocol headers read from trusted balancers, by version (v1, v2).");
      for (const s of pp) for (const [version, n] of s.proxyProtocol!.headers) w.sample([["listener", s.listener], ["version", version]], n);
      w.family("divisor_proxy_protocol_errors", "counter", "Connections closed because their PROXY header was malformed or incomplete in time.");
      for (const s of pp) w.sample([["listener", s.listener]], s.proxyProtocol!.errors);
    }
  }

  private renderAcme(w: ExpositionWriter, acme: AcmeRegistry | undefined): void {
    if (acme === undefined || acme.listenerStats.size === 0) return;
    const stats = [...acme.listenerStats];
    w.family("divisor_acme_orders", "counter", "ACME orders finished, by result (issued, failed, rate-limited).");
    for (const [listener, s] of stats) for (const [result, n] of s.orders) w.sample([["listener", listener], ["result", result]], n);
    w.family("divisor_acme_renewals", "counter", "ACME certificates issued again before they expired.");
    for (const [listener, s] of stats) w.sample([["listener", listener]], s.renewals);
    w.family("divisor_acme_on_demand_refusals", "counter", "TLS handshakes for a name with no certificate that ordered none, by reason (not-allowed, ask-refused, rate-limited, backoff).");
    for (const [listener, s] of stats) for (const [reason, n] of s.onDemandRefusals) w.sample([["listener", listener], ["reason", reason]], n);
    w.family("divisor_acme_certificates", "gauge", "ACME certificates held and served.");
    for (const m of acme.managers) w.sample([["listener", m.listener]], m.certificateCount);
    w.family("divisor_acme_challenge_responses", "counter", "ACME validation requests answered (HTTP-01 requests, tls-alpn-01 handshakes), by challenge type.");
    for (const [type, n] of acme.challengeResponses) w.sample([["type", type]], n);
  }

  private renderHttp2(w: ExpositionWriter, stats: ListenerStats[]): void {
    const h2 = stats.filter((s) => s.http2 !== null);
    if (h2.length === 0) return;
    const label = (s: ListenerStats): Labels => [["listener", s.listener]];
    w.family("divisor_http2_sessions", "gauge", "HTTP/2 client connections open now.");
    for (const s of h2) w.sample(label(s), s.http2!.sessionsOpen);
    w.family("divisor_http2_sessions_opened", "counter", "HTTP/2 client connections opened (also counted in divisor_listener_connections_accepted_total).");
    for (const s of h2) w.sample(label(s), s.http2!.sessionsOpened);
    w.family("divisor_http2_streams", "counter", "HTTP/2 streams (requests) clients opened.");
    for (const s of h2) w.sample(label(s), s.http2!.streams);
    w.family("divisor_http2_client_resets", "counter", "HTTP/2 streams the client reset (RST_STREAM) before their response was complete.");
    for (const s of h2) w.sample(label(s), s.http2!.clientResets);
    w.family(
      "divisor_http2_sessions_closed",
      "counter",
      "HTTP/2 connections the gateway closed, by reason: rapid-reset, settings-flood, ping-flood, invalid-frames, protocol-error, idle.",
    );
    for (const s of h2) for (const [reason, n] of s.http2!.closed) w.sample([["listener", s.listener], ["reason", reason]], n);
    w.family("divisor_grpc_responses", "counter", "gRPC calls ended, by grpc-status (from the backend's trailers, or the gateway's own answer).");
    for (const s of h2) {
      for (const [key, n] of s.http2!.grpc) {
        const [tenant, router, service, status] = key.split("\0") as [string, string, string, string];
        w.sample([["listener", s.listener], ["tenant", tenant], ["router", router], ["service", service], ["grpc_status", status]], n);
      }
    }
  }

  private renderTls(w: ExpositionWriter, sources: MetricsSources, stats: ListenerStats[]): void {
    const tls = stats.filter((s) => s.tls !== null);
    if (tls.length === 0) return;
    w.family("divisor_tls_handshakes", "counter", "TLS handshakes completed, by protocol version.");
    for (const s of tls) for (const [version, n] of s.tls!.handshakes) w.sample([["listener", s.listener], ["version", version]], n);
    w.family("divisor_tls_handshake_errors", "counter", "TLS handshakes that failed, by reason (timeout, reset, protocol-mismatch, plain-http, unknown-server-name, alert, other).");
    for (const s of tls) for (const [reason, n] of s.tls!.handshakeErrors) w.sample([["listener", s.listener], ["reason", reason]], n);
    w.family("divisor_tls_certificate_reloads", "counter", "Certificate files reloaded after they changed.");
    for (const s of tls) w.sample([["listener", s.listener]], s.tls!.certificateReloads);
    w.family("divisor_tls_certificate_reload_errors", "counter", "Certificate files that changed but did not load (the certificates in force stayed).");
    for (const s of tls) w.sample([["listener", s.listener]], s.tls!.certificateReloadErrors);
    w.family("divisor_tls_certificate_expiry_timestamp_seconds", "gauge", "When each certificate in force expires (Unix time), by its first server name; alert well before it.", "seconds");
    for (const l of sources.listeners()) {
      for (const c of l.certificateSet?.certificates ?? []) w.sample([["listener", l.name], ["certificate", c.names[0]!]], Math.floor(c.notAfter / 1000));
    }
  }

  private renderBackends(w: ExpositionWriter, registry: BackendRegistry): void {
    const backends = [...registry.entries()];
    const label = (service: string, address: string): Labels => [
      ["service", service],
      ["backend", address],
    ];
    w.family("divisor_backend_up", "gauge", "1 when the backend is in rotation (health checks pass, circuit not open, admin state active), else 0.");
    for (const [service, b] of backends) w.sample(label(service, b.address), b.available ? 1 : 0);
    w.family("divisor_backend_admin_state", "gauge", "The backend's admin state (set through the admin API): 1 for the current of active, drain, maintenance; 0 for the others.");
    for (const [service, b] of backends) {
      for (const state of ADMIN_STATES) w.sample([...label(service, b.address), ["state", state]], state === b.adminState ? 1 : 0);
    }
    w.family("divisor_backend_healthy", "gauge", "Result of the backend's active health checks (1 healthy, 0 not); only for services with healthCheck.");
    for (const [service, b] of backends) if (b.health !== undefined) w.sample(label(service, b.address), b.health.healthy ? 1 : 0);
    w.family("divisor_backend_circuit_state", "gauge", "The backend's circuit breaker state: 1 for the current state, 0 for the others.");
    for (const [service, b] of backends) {
      const now = BREAKER_STATE_NAMES[b.breaker.state].replace("-", "_");
      for (const state of BREAKER_STATES) w.sample([...label(service, b.address), ["state", state]], state === now ? 1 : 0);
    }
    w.family("divisor_backend_requests_in_flight", "gauge", "Exchanges in flight to the backend.");
    for (const [service, b] of backends) w.sample(label(service, b.address), b.active);
    w.family("divisor_backend_weight", "gauge", "The backend's effective weight (lower while slow start ramps it up).");
    for (const [service, b] of backends) w.sample(label(service, b.address), b.weight);
    w.family("divisor_backend_latency_ewma_seconds", "gauge", "Moving average of the backend's response time, as latency-aware balancers see it.", "seconds");
    for (const [service, b] of backends) w.sample(label(service, b.address), b.ewmaMs / 1000);

    w.family("divisor_upstream_connections", "gauge", "Connections to the backend, by state (idle in the pool, or active in an exchange).");
    for (const [service, b] of backends) {
      w.sample([...label(service, b.address), ["state", "idle"]], b.pool.idleCount);
      w.sample([...label(service, b.address), ["state", "active"]], b.pool.leasedCount);
    }
    w.family("divisor_upstream_connect_duration_seconds", "histogram", "Time to open a new connection to the backend.", "seconds");
    for (const [service, b] of backends) w.histogram(label(service, b.address), b.pool.stats.connect, this.bucketsSeconds);
    w.family("divisor_upstream_errors", "counter", "Failed tries to a backend, by kind (connect-refused, response-timeout, reset...).");
    for (const [service, b] of backends) {
      const failures = b.pool.stats.failures;
      for (const kind of UPSTREAM_FAILURES) {
        if (kind === "no-backend") continue;
        w.sample([...label(service, b.address), ["kind", kind]], failures[kind]);
      }
    }
    const noBackend = new Map<string, number>();
    for (const s of this.routers.values()) if (s.service !== "") noBackend.set(s.service, (noBackend.get(s.service) ?? 0) + s.noBackend);
    for (const [service, count] of noBackend) w.sample([...label(service, ""), ["kind", "no-backend"]], count);

    const services = registry.services();
    w.family("divisor_service_circuit_state", "gauge", "The service-wide circuit breaker state: 1 for the current state, 0 for the others.");
    for (const s of services) {
      const now = s.breaker.replace("-", "_");
      for (const state of BREAKER_STATES) w.sample([["service", s.name], ["state", state]], state === now ? 1 : 0);
    }
    w.family("divisor_service_requests_in_flight", "gauge", "Requests holding one of the service's in-flight slots.");
    for (const s of services) w.sample([["service", s.name]], s.inFlight);
    w.family("divisor_service_queued_requests", "gauge", "Requests waiting for one of the service's in-flight slots.");
    for (const s of services) w.sample([["service", s.name]], s.queued);
  }

  private renderReloads(w: ExpositionWriter): void {
    w.family("divisor_config_reloads", "counter", "Configuration reloads, by result (success, failure).");
    w.sample([["result", "success"]], this.reloads.success);
    w.sample([["result", "failure"]], this.reloads.failure);
    w.family("divisor_config_last_reload_successful", "gauge", "1 when the last reload succeeded (or none was tried), 0 when it was refused.");
    w.sample([], this.lastReloadOk ? 1 : 0);
    w.family("divisor_config_last_reload_success_timestamp_seconds", "gauge", "When the configuration in force was loaded (Unix time).", "seconds");
    w.sample([], this.lastSuccessAt);
    w.family("divisor_plugin_imports", "counter", "Imports of each plugins: entry's module: one at start, one more for each reload that found its files changed.");
    for (const [name, count] of this.pluginImports) w.sample([["plugin", name]], count);
  }
}

function renderProviders(w: ExpositionWriter, providers: readonly ProviderGauge[]): void {
  const label = (p: ProviderGauge): Labels => [
    ["provider", p.name],
    ["type", p.type],
  ];
  w.family("divisor_provider_up", "gauge", "1 when the provider's last state went into force and its source answers; 0 while starting, refused or failed (its last good state stays in force).");
  for (const p of providers) w.sample(label(p), p.state === "ok" ? 1 : 0);
  w.family("divisor_provider_updates", "counter", "States a provider delivered, by result: accepted (in force) or refused (name collision, invalid configuration).");
  for (const p of providers) {
    w.sample([...label(p), ["result", "accepted"]], p.updates.accepted);
    w.sample([...label(p), ["result", "refused"]], p.updates.refused);
  }
  w.family("divisor_provider_errors", "counter", "Failures a provider's source reported (connection lost, query failed, malformed data).");
  for (const p of providers) w.sample(label(p), p.errors);
  w.family("divisor_provider_last_success_timestamp_seconds", "gauge", "When the provider last delivered a state that went into force (Unix time; 0 = never).", "seconds");
  for (const p of providers) w.sample(label(p), p.lastSuccessAt === null ? 0 : Date.parse(p.lastSuccessAt) / 1000);
}

function renderSplits(w: ExpositionWriter, splits: readonly SplitGauge[]): void {
  w.family("divisor_split_weight", "gauge", "The weight in force of each service of a router's traffic split (set by the configuration or through the admin API).");
  for (const s of splits) for (const side of s.services) w.sample([["router", s.router], ["service", side.service]], side.weight);
  w.family("divisor_split_weights_overridden", "gauge", "1 when the router's split weights were set at run time (admin API) in place of the configuration's, else 0.");
  for (const s of splits) w.sample([["router", s.router]], s.overridden ? 1 : 0);
}
