/**
 * The Grafana dashboard shipped as deploy/grafana/divisor.json, written as code:
 * panels are described by their queries and units, and the grid layout, ids and
 * datasource references are filled in here, so the JSON stays consistent.
 * `npm run gen` writes the file; a test fails while it is stale, and another
 * checks every metric its queries name against a real gateway's /metrics. The
 * result is typed with Grafana's own dashboard model (@grafana/schema).
 */
import {
  type AnnotationQuery,
  type Dashboard,
  DashboardCursorSync,
  type DataQuery,
  FieldColorModeId,
  type FieldConfigSource,
  MappingType,
  type Panel,
  type RowPanel,
  ThresholdsMode,
  type ValueMapping,
  VariableHide,
  type VariableModel,
  VariableRefresh,
  VariableSort,
} from "@grafana/schema";

/** Every panel and variable reads from the dashboard's `DS` datasource variable. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a JavaScript template
const DS = { type: "prometheus", uid: "${DS}" } as const;

/** Label matchers of the dashboard's variables, by what a metric is labelled with. */
const INSTANCE = 'instance=~"$instance"';
const ROUTER = `${INSTANCE}, tenant=~"$tenant", router=~"$router"`;
const SERVICE = `${INSTANCE}, service=~"$service"`;
const BACKEND = `${SERVICE}, backend=~"$backend"`;
const W = "[$__rate_interval]";

type Unit = "reqps" | "s" | "bytes" | "Bps" | "percentunit" | "short" | "dateTimeAsIso" | "none";

interface Query {
  readonly expr: string;
  readonly legend: string;
}

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly unit: Unit;
  readonly queries: readonly Query[];
  readonly kind?: "timeseries" | "stat" | "state-timeline";
  /** Grid width out of 24 (default 8). */
  readonly width?: number;
  readonly stack?: boolean;
  readonly min?: number;
  readonly max?: number;
  /** Value → text and colour, for state panels. */
  readonly states?: readonly (readonly [number, string, string])[];
}

interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

const q = (expr: string, legend: string): Query => ({ expr, legend });

const UP_DOWN = [
  [0, "down", "red"],
  [1, "up", "green"],
] as const;
const BREAKER = [
  [0, "closed", "green"],
  [1, "half-open", "yellow"],
  [2, "open", "red"],
] as const;

/** 0 closed, 1 half-open, 2 open: one value per breaker out of its three state series. */
function breakerState(metric: string, matchers: string): string {
  return `(${metric}{${matchers}, state="open"} * 2) + ignoring(state) ${metric}{${matchers}, state="half_open"}`;
}

function ratio5xx(by: string): string {
  const all = `sum by (${by}) (rate(divisor_http_requests_total{${ROUTER}}${W}))`;
  return `sum by (${by}) (rate(divisor_http_requests_total{${ROUTER}, status_class="5xx"}${W})) / ${all}`;
}

function quantile(p: number, metric: string, matchers: string, by: string): string {
  return `histogram_quantile(${p}, sum by (${by === "" ? "le" : `${by}, le`}) (rate(${metric}_bucket{${matchers}}${W})))`;
}

export const ROWS: readonly RowSpec[] = [
  {
    title: "Traffic",
    panels: [
      {
        title: "Requests by router",
        description: "Requests answered per second, by tenant and router (router \"\" = no router matched).",
        unit: "reqps",
        queries: [q(`sum by (tenant, router) (rate(divisor_http_requests_total{${ROUTER}}${W}))`, "{{router}} {{tenant}}")],
      },
      {
        title: "Responses by status class",
        description: "Requests per second by status class; 4xx includes 499, the client leaving before the response.",
        unit: "reqps",
        stack: true,
        queries: [q(`sum by (status_class) (rate(divisor_http_requests_total{${ROUTER}}${W}))`, "{{status_class}}")],
      },
      {
        title: "Requests by backend",
        description: 'Requests per second by service and backend (backend "" = answered by the gateway itself).',
        unit: "reqps",
        queries: [q(`sum by (service, backend) (rate(divisor_http_requests_total{${ROUTER}, service=~"$service", backend=~"$backend"}${W}))`, "{{service}} {{backend}}")],
      },
      {
        title: "Body bytes",
        description: "Request body bytes received from clients and response body bytes sent to them, per second.",
        unit: "Bps",
        width: 12,
        queries: [
          q(`sum by (router) (rate(divisor_http_request_body_bytes_total{${ROUTER}}${W}))`, "in {{router}}"),
          q(`sum by (router) (rate(divisor_http_response_body_bytes_total{${ROUTER}}${W}))`, "out {{router}}"),
        ],
      },
      {
        title: "Requests by method",
        description: 'Requests per second by method; methods outside the standard set are counted as "_OTHER".',
        unit: "reqps",
        width: 12,
        stack: true,
        queries: [q(`sum by (method) (rate(divisor_http_requests_total{${ROUTER}}${W}))`, "{{method}}")],
      },
    ],
  },
  {
    title: "Errors",
    panels: [
      {
        title: "5xx ratio by router",
        description: "Share of requests answered with a 5xx status, by tenant and router.",
        unit: "percentunit",
        min: 0,
        queries: [q(ratio5xx("tenant, router"), "{{router}} {{tenant}}")],
      },
      {
        title: "5xx ratio by service",
        description: "Share of requests answered with a 5xx status, by the service their router sends to.",
        unit: "percentunit",
        min: 0,
        queries: [q(ratio5xx("service"), "{{service}}")],
      },
      {
        title: "Upstream errors by kind",
        description: "Failed tries to backends per second, by kind (connect-refused, connect-timeout, response-timeout, reset, no-backend, ...).",
        unit: "reqps",
        stack: true,
        queries: [q(`sum by (service, kind) (rate(divisor_upstream_errors_total{${BACKEND}}${W})) > 0`, "{{service}} {{kind}}")],
      },
      {
        title: "Retries and hedges",
        description: "Retries (tries after the first, each on another backend) and hedged second tries per second, by router.",
        unit: "reqps",
        queries: [
          q(`sum by (router) (rate(divisor_retries_total{${ROUTER}}${W}))`, "retries {{router}}"),
          q(`sum by (router) (rate(divisor_hedged_requests_total{${ROUTER}}${W}))`, "hedges {{router}}"),
        ],
      },
      {
        title: "No backend available",
        description: "Requests per second a service could not take because none of its backends was in rotation (answered 503).",
        unit: "reqps",
        queries: [q(`sum by (service) (rate(divisor_upstream_errors_total{${SERVICE}, kind="no-backend"}${W}))`, "{{service}}")],
      },
      {
        title: "Parse errors by listener",
        description: "Requests refused before routing per second: malformed, ambiguous (smuggling) or oversized heads.",
        unit: "reqps",
        queries: [q(`sum by (listener) (rate(divisor_http_request_parse_errors_total{${INSTANCE}}${W}))`, "{{listener}}")],
      },
    ],
  },
  {
    title: "Latency",
    panels: [
      {
        title: "Request duration p50 / p95 / p99",
        description: "Quantiles of the time from a request's head to the end of its response, over the selected routers.",
        unit: "s",
        queries: [0.5, 0.95, 0.99].map((p) => q(quantile(p, "divisor_http_request_duration_seconds", ROUTER, ""), `p${p * 100}`)),
      },
      {
        title: "p99 by router",
        description: "99th percentile request duration, by tenant and router.",
        unit: "s",
        queries: [q(quantile(0.99, "divisor_http_request_duration_seconds", ROUTER, "tenant, router"), "{{router}} {{tenant}}")],
      },
      {
        title: "p99 by service",
        description: "99th percentile request duration, by the service their router sends to.",
        unit: "s",
        queries: [q(quantile(0.99, "divisor_http_request_duration_seconds", `${ROUTER}, service=~"$service"`, "service"), "{{service}}")],
      },
      {
        title: "Mean request duration by router",
        description: "Average request duration (sum of durations / requests), by router.",
        unit: "s",
        queries: [
          q(
            `sum by (router) (rate(divisor_http_request_duration_seconds_sum{${ROUTER}}${W})) / sum by (router) (rate(divisor_http_request_duration_seconds_count{${ROUTER}}${W}))`,
            "{{router}}",
          ),
        ],
      },
      {
        title: "Upstream connect time p99",
        description: "99th percentile time to open a new connection to a backend (keep-alive makes new connections rare).",
        unit: "s",
        queries: [q(quantile(0.99, "divisor_upstream_connect_duration_seconds", BACKEND, "service, backend"), "{{service}} {{backend}}")],
      },
      {
        title: "Backend latency EWMA",
        description: "Moving average of each backend's response time, as the latency-aware balancers (p2c-ewma, hedging) see it.",
        unit: "s",
        queries: [q(`divisor_backend_latency_ewma_seconds{${BACKEND}}`, "{{service}} {{backend}}")],
      },
    ],
  },
  {
    title: "Backends",
    panels: [
      {
        title: "Backend available",
        description: "Up when the backend may be picked: its health checks pass, its circuit is not open and its admin state is active (a backend configured with weight 0 stays up; see Effective weight).",
        unit: "none",
        kind: "state-timeline",
        width: 12,
        states: UP_DOWN,
        queries: [q(`max by (service, backend) (divisor_backend_up{${BACKEND}})`, "{{service}} {{backend}}")],
      },
      {
        title: "Active health checks",
        description: "Result of each backend's active health checks (only services with healthCheck).",
        unit: "none",
        kind: "state-timeline",
        width: 12,
        states: UP_DOWN,
        queries: [q(`max by (service, backend) (divisor_backend_healthy{${BACKEND}})`, "{{service}} {{backend}}")],
      },
      {
        title: "Circuit breakers",
        description: "Each backend's circuit breaker: closed, half-open (trial requests) or open (out of rotation).",
        unit: "none",
        kind: "state-timeline",
        width: 12,
        states: BREAKER,
        queries: [q(`max by (service, backend) (${breakerState("divisor_backend_circuit_state", BACKEND)})`, "{{service}} {{backend}}")],
      },
      {
        title: "Requests in flight by backend",
        description: "Exchanges in flight to each backend.",
        unit: "short",
        width: 12,
        queries: [q(`sum by (service, backend) (divisor_backend_requests_in_flight{${BACKEND}})`, "{{service}} {{backend}}")],
      },
      {
        title: "Effective weight",
        description: "Each backend's effective weight; lower than configured while slow start ramps it up.",
        unit: "short",
        width: 12,
        queries: [q(`max by (service, backend) (divisor_backend_weight{${BACKEND}})`, "{{service}} {{backend}}")],
      },
      {
        title: "Upstream connections",
        description: "Connections to backends: idle in the pool, or active in an exchange.",
        unit: "short",
        width: 12,
        stack: true,
        queries: [q(`sum by (service, backend, state) (divisor_upstream_connections{${BACKEND}})`, "{{service}} {{backend}} {{state}}")],
      },
    ],
  },
  {
    title: "Services",
    panels: [
      {
        title: "Backends in rotation by service",
        description: "How many of each service's backends take requests (available, weight above 0), out of how many it has.",
        unit: "short",
        min: 0,
        queries: [
          q(
            `sum by (service) (max by (service, backend) (divisor_backend_up{${SERVICE}}) * on (service, backend) (max by (service, backend) (divisor_backend_weight{${SERVICE}}) > bool 0))`,
            "{{service}} in rotation",
          ),
          q(`count by (service) (max by (service, backend) (divisor_backend_up{${SERVICE}}))`, "{{service}} configured"),
        ],
      },
      {
        title: "Requests in flight and queued",
        description: "Requests holding one of a service's in-flight slots (limits.maxInFlight) and requests waiting for one.",
        unit: "short",
        queries: [
          q(`sum by (service) (divisor_service_requests_in_flight{${SERVICE}})`, "in flight {{service}}"),
          q(`sum by (service) (divisor_service_queued_requests{${SERVICE}})`, "queued {{service}}"),
        ],
      },
      {
        title: "Service circuit breakers",
        description: "Each service's service-wide breaker (serviceBreaker): closed, half-open or open (answering 503).",
        unit: "none",
        kind: "state-timeline",
        states: BREAKER,
        queries: [q(`max by (service) (${breakerState("divisor_service_circuit_state", SERVICE)})`, "{{service}}")],
      },
    ],
  },
  {
    title: "Listeners",
    panels: [
      {
        title: "Open connections",
        description: "Client connections open now, by listener.",
        unit: "short",
        queries: [q(`sum by (listener) (divisor_listener_connections{${INSTANCE}})`, "{{listener}}")],
      },
      {
        title: "Accepted connections",
        description: "Client connections accepted per second, by listener.",
        unit: "reqps",
        queries: [q(`sum by (listener) (rate(divisor_listener_connections_accepted_total{${INSTANCE}}${W}))`, "{{listener}}")],
      },
      {
        title: "Requests in flight by listener",
        description: "Requests being served now, by listener.",
        unit: "short",
        queries: [q(`sum by (listener) (divisor_http_requests_in_flight{${INSTANCE}})`, "{{listener}}")],
      },
    ],
  },
  {
    title: "Configuration",
    panels: [
      {
        title: "Last reload",
        description: "Whether the last configuration reload succeeded; a refused reload leaves the previous configuration in force.",
        unit: "none",
        kind: "stat",
        width: 6,
        states: [
          [0, "failed", "red"],
          [1, "ok", "green"],
        ],
        queries: [q(`min by (instance) (divisor_config_last_reload_successful{${INSTANCE}})`, "{{instance}}")],
      },
      {
        title: "Configuration age",
        description: "Time since the configuration in force was loaded.",
        unit: "s",
        kind: "stat",
        width: 6,
        queries: [q(`time() - max by (instance) (divisor_config_last_reload_success_timestamp_seconds{${INSTANCE}})`, "{{instance}}")],
      },
      {
        title: "Reloads",
        description: "Configuration reloads by result (success, failure), per interval.",
        unit: "short",
        width: 12,
        queries: [q(`sum by (result) (increase(divisor_config_reloads_total{${INSTANCE}}${W}))`, "{{result}}")],
      },
    ],
  },
  {
    title: "Process",
    panels: [
      {
        title: "CPU",
        description: "CPU used by the gateway's process, in cores (1 = one core busy); user and system.",
        unit: "percentunit",
        stack: true,
        queries: [
          q(`sum by (instance) (rate(process_cpu_user_seconds_total{${INSTANCE}}${W}))`, "user {{instance}}"),
          q(`sum by (instance) (rate(process_cpu_system_seconds_total{${INSTANCE}}${W}))`, "system {{instance}}"),
        ],
      },
      {
        title: "Memory",
        description: "Resident memory, V8 heap used and total, and memory outside the heap (buffers).",
        unit: "bytes",
        queries: [
          q(`sum by (instance) (process_resident_memory_bytes{${INSTANCE}})`, "RSS {{instance}}"),
          q(`sum by (instance) (nodejs_heap_size_used_bytes{${INSTANCE}})`, "heap used {{instance}}"),
          q(`sum by (instance) (nodejs_heap_size_total_bytes{${INSTANCE}})`, "heap total {{instance}}"),
          q(`sum by (instance) (nodejs_external_memory_bytes{${INSTANCE}})`, "external {{instance}}"),
        ],
      },
      {
        title: "Event-loop delay",
        description: "How late the event loop ran timers: p99 and max since the previous scrape. A proxy whose loop is late delays every request.",
        unit: "s",
        queries: [
          q(`max by (instance) (nodejs_eventloop_lag_p99_seconds{${INSTANCE}})`, "p99 {{instance}}"),
          q(`max by (instance) (nodejs_eventloop_lag_max_seconds{${INSTANCE}})`, "max {{instance}}"),
        ],
      },
      {
        title: "Time in GC",
        description: "Share of time spent in garbage collection, by kind (minor, major, incremental, weakcb).",
        unit: "percentunit",
        stack: true,
        queries: [q(`sum by (kind) (rate(nodejs_gc_duration_seconds_sum{${INSTANCE}}${W}))`, "{{kind}}")],
      },
      {
        title: "Active handles",
        description: "Handles (sockets, servers, ...) keeping the event loop alive; a steady climb is a leak.",
        unit: "short",
        queries: [q(`sum by (instance) (nodejs_active_handles_total{${INSTANCE}})`, "{{instance}}")],
      },
      {
        title: "File descriptors",
        description: "Open file descriptors (each client and upstream connection holds one) and the process's limit.",
        unit: "short",
        queries: [
          q(`sum by (instance) (process_open_fds{${INSTANCE}})`, "open {{instance}}"),
          q(`min by (instance) (process_max_fds{${INSTANCE}})`, "limit {{instance}}"),
        ],
      },
    ],
  },
];

interface Variable {
  readonly name: string;
  readonly label: string;
  readonly query: string;
}

/** Label variables, each narrowed by the ones before it. */
export const VARIABLES: readonly Variable[] = [
  { name: "instance", label: "Instance", query: "label_values(divisor_build_info, instance)" },
  { name: "tenant", label: "Tenant", query: `label_values(divisor_http_requests_total{${INSTANCE}}, tenant)` },
  { name: "router", label: "Router", query: `label_values(divisor_http_requests_total{${INSTANCE}, tenant=~"$tenant"}, router)` },
  { name: "service", label: "Service", query: `label_values(divisor_backend_up{${INSTANCE}}, service)` },
  { name: "backend", label: "Backend", query: `label_values(divisor_backend_up{${SERVICE}}, backend)` },
];

/** A Prometheus query as Grafana stores it in panels and annotations. */
type PrometheusQuery = {
  refId: string;
  datasource?: DataQuery["datasource"];
  expr: string;
  legendFormat?: string;
  range?: boolean;
  instant?: boolean;
  interval?: string;
};

/** Prometheus annotations keep their title and text templates beside the query. */
interface PrometheusAnnotation extends AnnotationQuery<PrometheusQuery> {
  titleFormat?: string;
  textFormat?: string;
}

function fieldConfig(p: PanelSpec): FieldConfigSource {
  const custom =
    p.kind === "state-timeline"
      ? { fillOpacity: 80, lineWidth: 0 }
      : p.kind === "stat"
        ? {}
        : { drawStyle: "line", lineWidth: 1, fillOpacity: p.stack ? 30 : 10, showPoints: "never", spanNulls: false, stacking: { mode: p.stack ? "normal" : "none", group: "A" } };
  const mappings: ValueMapping[] =
    p.states === undefined
      ? []
      : [{ type: MappingType.ValueToText, options: Object.fromEntries(p.states.map(([value, text, color], index) => [String(value), { text, color, index }])) }];
  const steps = p.states === undefined ? [{ color: "green", value: null }] : p.states.map(([value, , color], i) => ({ color, value: i === 0 ? null : value }));
  return {
    defaults: {
      unit: p.unit,
      ...(p.min === undefined ? {} : { min: p.min }),
      ...(p.max === undefined ? {} : { max: p.max }),
      color: { mode: p.states === undefined ? FieldColorModeId.PaletteClassic : FieldColorModeId.Thresholds },
      custom,
      mappings,
      thresholds: { mode: ThresholdsMode.Absolute, steps },
    },
    overrides: [],
  };
}

function options(p: PanelSpec) {
  if (p.kind === "stat") return { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, colorMode: "background", graphMode: "none", textMode: "auto" };
  const legend = { showLegend: true, displayMode: "list", placement: "bottom" };
  if (p.kind === "state-timeline") return { legend, mergeValues: true, showValue: "never", rowHeight: 0.9 };
  return { legend, tooltip: { mode: "multi", sort: "desc" } };
}

/** The dashboard as Grafana's JSON model (schema version 39: Grafana 10.4 and later import it as is). */
export function dashboard(): Dashboard {
  const panels: (Panel | RowPanel)[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({ type: "row", id: id++, title: row.title, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 }, panels: [] });
    y += 1;
    let x = 0;
    const height = 8;
    for (const p of row.panels) {
      const w = p.width ?? 8;
      if (x + w > 24) {
        x = 0;
        y += height;
      }
      panels.push({
        type: p.kind ?? "timeseries",
        id: id++,
        title: p.title,
        description: p.description,
        datasource: DS,
        gridPos: { x, y, w, h: height },
        fieldConfig: fieldConfig(p),
        options: options(p),
        targets: p.queries.map((t, i): PrometheusQuery => ({ datasource: DS, refId: String.fromCharCode(65 + i), expr: t.expr, legendFormat: t.legend, range: true, instant: false })),
      });
      x += w;
    }
    y += height;
  }
  const reloads: PrometheusAnnotation = {
    datasource: DS,
    enable: true,
    iconColor: "orange",
    name: "Configuration reloads",
    target: { refId: "Anno", expr: `changes(divisor_config_last_reload_success_timestamp_seconds{${INSTANCE}}[2m]) > 0`, interval: "1m" },
    titleFormat: "configuration reloaded",
    textFormat: "{{instance}}",
  };
  const variables: VariableModel[] = [
    { name: "DS", label: "Data source", type: "datasource", query: "prometheus", hide: VariableHide.dontHide, refresh: VariableRefresh.onDashboardLoad, regex: "", options: [] },
    ...VARIABLES.map(
      (v): VariableModel => ({
        name: v.name,
        label: v.label,
        type: "query",
        datasource: DS,
        // A string query: every Grafana version since 7 reads it (and migrates it to its editor's form).
        query: v.query,
        current: { selected: true, text: ["All"], value: ["$__all"] },
        includeAll: true,
        allValue: ".*",
        multi: true,
        refresh: VariableRefresh.onTimeRangeChanged,
        sort: VariableSort.alphabeticalAsc,
        regex: "",
        hide: VariableHide.dontHide,
        options: [],
      }),
    ),
  ];
  return {
    title: "Divisor",
    uid: "divisor-gateway",
    description: "Divisor gateway: traffic, errors, latency, backends, services, listeners, configuration and process (docs/metrics.md).",
    tags: ["divisor", "gateway", "prometheus"],
    editable: true,
    graphTooltip: DashboardCursorSync.Crosshair,
    schemaVersion: 39,
    version: 1,
    time: { from: "now-1h", to: "now" },
    refresh: "30s",
    timezone: "",
    fiscalYearStartMonth: 0,
    liveNow: false,
    weekStart: "",
    links: [],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: "grafana", uid: "-- Grafana --" },
          enable: true,
          hide: true,
          iconColor: "rgba(0, 211, 255, 1)",
          name: "Annotations & Alerts",
          type: "dashboard",
        },
        reloads,
      ],
    },
    templating: { list: variables },
    panels,
  };
}

/** The text of deploy/grafana/divisor.json. */
export function dashboardJson(): string {
  return `${JSON.stringify(dashboard(), null, 2)}\n`;
}
