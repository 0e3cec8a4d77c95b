/**
 * The observability part of the one schema: the admin listener, metrics, logs
 * and tracing. Composed into `configSchema` by schema.ts; kept apart so the
 * request path's schema stays readable.
 */
import { z } from "zod";
import { address, duration, positiveInt } from "./schema-scalars.js";
import { didYouMeanSuffix } from "./suggest.js";

const nameKey = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { message: "names are letters, digits, '_', '.', '-'" });

// ---------------------------------------------------------------- admin

/** An address only this machine can reach: 127.0.0.0/8, [::1] or localhost. */
function isLoopbackAddress(hostPort: string): boolean {
  const host = hostPort.slice(0, hostPort.lastIndexOf(":"));
  return host.startsWith("127.") || host === "[::1]" || host === "localhost";
}

export const adminTokenSchema = z
  .strictObject({
    name: nameKey.meta({ description: "Who holds the token; shown in logs (the token itself never is)." }),
    token: z
      .string()
      .min(16, { message: "admin tokens must be at least 16 characters; generate one with `openssl rand -hex 24`" })
      .meta({ description: 'The bearer token, sent as "Authorization: Bearer <token>". Write it as an environment variable reference ($ then {ADMIN_TOKEN} in braces) rather than in the file.' }),
    tenant: nameKey
      .optional()
      .meta({ description: "Scope the token to one tenant: it sees and changes only that tenant's routers and the services they use. Omitted = the whole gateway." }),
    readOnly: z.boolean().default(false).meta({ description: "The token may read but not change anything (no reload, no drain), and may take CPU and allocation profiles but no heap snapshot (it would hold the other tokens)." }),
  })
  .meta({ description: "A bearer token for the admin API." });

export const adminSchema = z
  .strictObject({
    address: address.default("127.0.0.1:9901").meta({
      description: 'Address of the admin listener, "host:port". Anything but a loopback address requires tokens.',
    }),
    tokens: z
      .array(adminTokenSchema)
      .default([])
      .meta({ description: "Bearer tokens; when any is set, every admin request needs one (also from localhost)." }),
  })
  .superRefine((admin, ctx) => {
    if (admin.tokens.length === 0 && !isLoopbackAddress(admin.address)) {
      ctx.addIssue({
        code: "custom",
        path: ["tokens"],
        message: `the admin API on ${admin.address} would be reachable from other machines without a token; add admin.tokens or bind it to 127.0.0.1`,
      });
    }
    const names = new Set<string>();
    admin.tokens.forEach((t, i) => {
      if (names.has(t.name)) ctx.addIssue({ code: "custom", path: ["tokens", i, "name"], message: `token name "${t.name}" is used twice` });
      names.add(t.name);
    });
  })
  .meta({ description: "The admin API: metrics, health, state, reload, drain, profiling. Absent = no admin listener." });

// ---------------------------------------------------------------- metrics

/** Default histogram bucket bounds, seconds. */
export const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export const metricsSchema = z
  .strictObject({
    enabled: z.boolean().default(true).meta({ description: "Count requests, bytes, errors and latencies for /metrics. Off saves about a microsecond per request." }),
    buckets: z
      .array(z.number().positive())
      .min(1)
      .default(DEFAULT_BUCKETS)
      .refine((b) => b.every((v, i) => i === 0 || v > b[i - 1]!), { message: "buckets must be strictly increasing" })
      .meta({ description: "Upper bounds (seconds) of the request and connect duration histograms' buckets." }),
    process: z.boolean().default(true).meta({ description: "Also expose process and Node.js runtime metrics (CPU, RSS, heap, GC, event-loop delay, handles)." }),
  })
  .prefault({})
  .meta({ description: "Prometheus metrics, served at /metrics on the admin listener." });

// ---------------------------------------------------------------- logs

export const logLevel = z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]);

/** The parts of the gateway with a logger (and a level) of their own; `component` in each line. */
export const LOG_COMPONENTS = {
  gateway: "Lifecycle: listening, reloads, shutdown.",
  config: "Configurations refused by a reload, with every problem.",
  listener: "Listeners bound and closed; client connections closed after an internal error.",
  middleware: "Middlewares (plugins) that threw or rejected, and what middlewares log through their context (a mirror's differences).",
  upstream: "Upstream connections dropped after an internal error.",
  health: "Active health checks: a backend marked down or up, with the reason (each failed check at debug).",
  breaker: "Circuit breakers of backends and services: opened, half-open, closed.",
  admin: "Every state-changing admin API call, with the token's name (never the token).",
  access: "The access log's own problems (a destination that cannot be written).",
  tracing: "Tracing: exporter problems.",
  provider: "Providers (file, DNS, etcd, Consul, Kubernetes): state delivered, refused (collisions, invalid configuration) or lost (source unreachable).",
} as const;

export type LogComponent = keyof typeof LOG_COMPONENTS;
export const LOG_COMPONENT_NAMES = Object.keys(LOG_COMPONENTS) as LogComponent[];

/** `{ <component>: <level> }`, every key optional and known (a typo gets a did-you-mean). */
export const logComponentLevels = z.strictObject(
  Object.fromEntries(
    LOG_COMPONENT_NAMES.map((c) => [c, logLevel.optional().meta({ description: `Level of the "${c}" lines. ${LOG_COMPONENTS[c]}` })]),
  ) as Record<LogComponent, z.ZodOptional<typeof logLevel>>,
);

/** Fields of an access-log line, in the order they are written when chosen. */
export const ACCESS_LOG_FIELDS = {
  time: "When the response ended: ISO 8601 UTC with milliseconds.",
  trace_id: "W3C trace id of the exchange (only when tracing is on).",
  client_ip: "Client address (after proxy.trustedProxies).",
  method: "Request method.",
  host: "Host the request was for (lowercased, without port).",
  path: "Request path as received (before middlewares rewrite it), without the query.",
  query: 'Query string with its "?" ("" when none is sent, the field is omitted).',
  protocol: '"HTTP/1.1" or "HTTP/1.0".',
  status: "Status sent to the client (499: the client left before a response was sent).",
  duration_ms: "Milliseconds from the request head to the end of the response.",
  upstream_ms: "Milliseconds from the connect (or reuse) of the upstream connection to the backend's response head, for the last try; omitted when no backend answered.",
  request_bytes: "Request body bytes received.",
  response_bytes: "Response body bytes sent.",
  listener: "Name of the listener.",
  tenant: "Tenant of the router (omitted outside tenants).",
  router: 'Router that matched, "tenant/router" for a tenant\'s (omitted when none did).',
  service: "Service of the router.",
  backend: "Address of the backend that answered (the last one tried).",
  retries: "Retries taken (tries after the first).",
  error: 'Stable code of the error that ended the exchange (e.g. "ERR_UPSTREAM_CONNECT_REFUSED"); omitted when none.',
  user_agent: "User-Agent request header.",
  referer: "Referer request header.",
} as const;

export type AccessLogField = keyof typeof ACCESS_LOG_FIELDS;
export const ACCESS_LOG_FIELD_NAMES = Object.keys(ACCESS_LOG_FIELDS) as AccessLogField[];
export const DEFAULT_ACCESS_LOG_FIELDS: readonly string[] = [
  "time",
  "trace_id",
  "client_ip",
  "method",
  "host",
  "path",
  "status",
  "duration_ms",
  "upstream_ms",
  "request_bytes",
  "response_bytes",
  "router",
  "service",
  "backend",
  "retries",
  "error",
];
/** Header fields: `request_header:<name>` / `response_header:<name>`. */
export const HEADER_FIELD_RE = /^(request_header|response_header):([!#$%&'*+.^_`|~0-9A-Za-z-]+)$/;

const statusMatch = z
  .union([
    z.number().int().min(100).max(599),
    z.string().regex(/^([1-5]xx|[1-5]\d\d-[1-5]\d\d)$/, { message: 'expected a status (404), a class ("5xx") or a range ("500-504")' }),
  ])
  .meta({ description: 'Status to match: one (404), a class ("2xx") or an inclusive range ("500-504").' });

export const accessSampleRuleSchema = z
  .strictObject({
    status: statusMatch.optional(),
    slowerThan: duration.optional().meta({ description: "Match exchanges that took longer than this (duration_ms > slowerThan)." }),
    routers: z.array(z.string().min(1)).min(1).optional().meta({ description: 'Match only these routers: names under routers, or "tenant/router" for a tenant\'s (as the router field logs them).' }),
    tenants: z.array(z.string().min(1)).min(1).optional().meta({ description: "Match only routers of these tenants." }),
    keep: z.number().min(0).max(1).meta({ description: "Share of the matching lines written: 1 = all, 0.01 = 1 %, 0 = none." }),
  })
  .superRefine((rule, ctx) => {
    if (typeof rule.status === "string" && rule.status.includes("-")) {
      const [lo, hi] = rule.status.split("-").map(Number);
      if (lo! > hi!) ctx.addIssue({ code: "custom", path: ["status"], message: `the range "${rule.status}" is empty; write the lower status first` });
    }
  })
  .meta({ description: "A sampling rule: the conditions given (all must hold) and the share of matching lines kept." });

export const accessLogSchema = z
  .strictObject({
    destination: z
      .string()
      .min(1)
      .default("stdout")
      .meta({
        description:
          '"stdout", or a file path (relative to the working directory; appended to). Written asynchronously in batches, each line within 200 ms; flushed on close and at exit; files are reopened on SIGUSR1 and on reload, for logrotate.',
      }),
    fields: z
      .array(z.string())
      .min(1)
      .default([...DEFAULT_ACCESS_LOG_FIELDS])
      .superRefine((fields, ctx) => {
        const seen = new Set<string>();
        fields.forEach((f, i) => {
          if (seen.has(f)) ctx.addIssue({ code: "custom", path: [i], message: `the field "${f}" is listed twice` });
          seen.add(f);
          if ((ACCESS_LOG_FIELD_NAMES as string[]).includes(f) || HEADER_FIELD_RE.test(f)) return;
          ctx.addIssue({
            code: "custom",
            path: [i],
            message: `unknown access-log field "${f}"${didYouMeanSuffix(f, ACCESS_LOG_FIELD_NAMES)}; fields are ${ACCESS_LOG_FIELD_NAMES.join(", ")}, request_header:<name> and response_header:<name>`,
          });
        });
      })
      .meta({
        description: `Fields of each line, in this order: ${ACCESS_LOG_FIELD_NAMES.join(", ")}, and request_header:<name> / response_header:<name> (Authorization, Proxy-Authorization, Cookie and Set-Cookie are always redacted). See docs/logging.md.`,
      }),
    sample: z
      .array(accessSampleRuleSchema)
      .default([])
      .meta({ description: "Sampling rules, first match wins; a line no rule matches is written. E.g. all 5xx, all slower than 500ms, 1 % of the rest." }),
  })
  .meta({ description: "The access log: one JSON line per exchange. Absent = off, at the cost of one null check per request." });

export const loggingSchema = z
  .strictObject({
    level: logLevel.default("info").meta({ description: "Level of the gateway's own log lines (every component without a level in components)." }),
    components: logComponentLevels
      .default({})
      .meta({ description: `Levels per component, overriding level: ${LOG_COMPONENT_NAMES.join(", ")}. Changeable at run time with PUT /api/logging.` }),
    format: z
      .enum(["auto", "json", "pretty"])
      .default("auto")
      .meta({ description: '"json": one JSON object a line; "pretty": readable text; "auto": pretty when stdout is a terminal, else JSON. Read at start.' }),
    access: accessLogSchema.optional(),
  })
  .prefault({})
  .meta({ description: "The gateway's logs and the access log." });

// ---------------------------------------------------------------- tracing

/** Header names a vendor's OTLP endpoint may ask for (RFC 9110 token characters). */
const headerName = z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, { message: "expected an HTTP header name (letters, digits, '-', no spaces or colons)" });

export const tracingSamplerSchema = z
  .strictObject({
    ratio: z
      .number()
      .min(0, { message: "the sampling ratio is a fraction from 0 (none) to 1 (every trace)" })
      .max(1, { message: "the sampling ratio is a fraction from 0 (none) to 1 (every trace); write 0.1 for 10%" })
      .default(1)
      .meta({ description: "Fraction of new traces (requests without a sampled or unsampled parent) that are recorded and exported, 0..1." }),
    parentBased: z
      .boolean()
      .default(true)
      .meta({ description: "Follow the client's decision: a request whose traceparent says sampled is recorded, one that says unsampled is not; the ratio applies only to new traces. false = the ratio decides for every request." }),
  })
  .prefault({})
  .meta({ description: "Which requests' spans are recorded. Unsampled requests still propagate a valid traceparent (sampled flag 0) to backends." });

export const tracingBatchingSchema = z
  .strictObject({
    maxQueueSize: positiveInt.default(2048).meta({ description: "Ended spans held for export; when full, new spans are dropped (divisor_tracing_spans_dropped_total) rather than slowing requests." }),
    maxBatchSize: positiveInt.default(512).meta({ description: "Spans sent in one export request." }),
    delay: duration.default(1000).meta({ description: "Longest wait before a batch that is not full is exported." }),
    exportTimeout: duration.default(10_000).meta({ description: "Time one export request may take before it is abandoned and counted as failed." }),
  })
  .prefault({})
  .refine((b) => b.maxBatchSize <= b.maxQueueSize, { message: "batching.maxBatchSize must not exceed batching.maxQueueSize", path: ["maxBatchSize"] })
  .meta({ description: "How ended spans are queued and exported in batches, off the request path." });

export const tracingSchema = z
  .strictObject({
    endpoint: z
      .string()
      .regex(/^https?:\/\/[^\s/]+\S*$/, { message: 'expected an http:// or https:// URL, e.g. "http://127.0.0.1:4318/v1/traces"' })
      // zod runs refinements even after the regex failed, so only a matching value is parsed here.
      .refine((v) => !/^https?:\/\//.test(v) || URL.canParse(v), { message: "not a valid URL (check the host, and that the port is 1..65535)" })
      .meta({ description: 'OTLP/HTTP traces endpoint, the full URL including its path, e.g. "http://127.0.0.1:4318/v1/traces".' }),
    protocol: z
      .enum(["http/protobuf", "http/json"])
      .default("http/protobuf")
      .meta({ description: 'OTLP encoding: "http/protobuf" (binary, smaller) or "http/json".' }),
    headers: z
      .record(headerName, z.string())
      .default({})
      .meta({ description: "Headers sent with every export request, e.g. a vendor's API key. Values are treated as secrets: never logged; write them as environment variable references." }),
    serviceName: z.string().min(1).default("divisor").meta({ description: "The resource attribute service.name of every span (service.version is Divisor's version)." }),
    resourceAttributes: z
      .record(z.string().min(1), z.string())
      .default({})
      .meta({ description: 'More resource attributes (string values), e.g. { "deployment.environment.name": "prod", "service.instance.id": "gw-1" }.' }),
    sampler: tracingSamplerSchema,
    batching: tracingBatchingSchema,
  })
  .meta({ description: "OpenTelemetry tracing: a server span per exchange and a client span per upstream try, W3C trace context and baggage propagated to backends, exported over OTLP/HTTP. Absent = off, at no cost. See docs/tracing.md." });

export type AdminConfig = z.output<typeof adminSchema>;
export type MetricsConfig = z.output<typeof metricsSchema>;
export type LoggingConfig = z.output<typeof loggingSchema>;
export type AccessLogConfig = z.output<typeof accessLogSchema>;
export type AccessSampleRule = z.output<typeof accessSampleRuleSchema>;
export type LogLevel = z.output<typeof logLevel>;
export type TracingConfig = z.output<typeof tracingSchema>;

