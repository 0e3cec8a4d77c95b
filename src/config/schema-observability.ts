/**
 * The observability part of the one schema: the admin listener, metrics, logs
 * and tracing. Composed into `configSchema` by schema.ts; kept apart so the
 * request path's schema stays readable.
 */
import { z } from "zod";
import { address, duration, positiveInt } from "./schema-scalars.js";

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

export const loggingSchema = z
  .strictObject({
    level: logLevel.default("info").meta({ description: "Level of the gateway's own log lines." }),
    format: z
      .enum(["auto", "json", "pretty"])
      .default("auto")
      .meta({ description: '"json": one JSON object a line; "pretty": readable text; "auto": pretty when stdout is a terminal, else JSON.' }),
  })
  .prefault({})
  .meta({ description: "The gateway's logs." });

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
export type TracingConfig = z.output<typeof tracingSchema>;

