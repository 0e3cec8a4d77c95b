/**
 * The one schema of a Divisor configuration. It is the source of the library's
 * TypeScript types (`DivisorConfig`, input side `DivisorConfigInput`), of YAML
 * validation, of the JSON Schema shipped for editors (`divisor schema`) and of the
 * reference docs (docs/config-reference.md, kept complete by a test).
 *
 * Every object is strict: an unknown key is an error, never silently ignored.
 */
import { z } from "zod";
import { rateLimitSchema } from "../middleware/rate-limit/schema.js";
import { apiKeySchema } from "../middleware/api-key/schema.js";
import { basicAuthSchema } from "../middleware/basic-auth/schema.js";
import { forwardAuthSchema } from "../middleware/forward-auth/schema.js";
import { jwtSchema } from "../middleware/jwt/schema.js";
import { faultMiddlewareSchema } from "../middleware/fault/schema.js";
import { mirrorSchema } from "../middleware/mirror/schema.js";
import { cacheSchema } from "../middleware/cache/schema.js";
import { address, duration, headerName, nameKey, nonNegativeInt, positiveInt, size } from "./schema-scalars.js";
import { providerEntrySchema } from "../providers/registry.js";
import { ipFilterSchema } from "../middleware/ip-filter/schema.js";
import { clientCertSchema } from "../middleware/client-cert/schema.js";
import { securityHeadersSchema } from "../middleware/security-headers/schema.js";
import { compressSchema } from "../middleware/compress/schema.js";
import { corsSchema } from "../middleware/cors/schema.js";
import { luaSchema } from "../middleware/lua/schema.js";
import { listenerTlsSchema, upstreamTlsSchema } from "./schema-tls.js";
import { listenerHttp2Schema } from "./schema-http2.js";
import { adminSchema, loggingSchema, metricsSchema, tracingSchema } from "./schema-observability.js";

export { address, duration, size } from "./schema-scalars.js";

/** HTTP header value: visible ASCII, spaces and tabs, no CR/LF/NUL. */
const headerValue = z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, { message: "header values may not contain CR, LF, NUL or other control characters" });

// ---------------------------------------------------------------- listeners

const CIDR_RE = /^([0-9.]+|[0-9a-fA-F:]+)(\/\d{1,3})?$/;

export const headLimitsSchema = z
  .strictObject({
    maxHeadSize: positiveInt.default(16 * 1024).meta({ description: "Largest request head in bytes (request line + headers); larger heads get 431." }),
    maxHeaders: positiveInt.default(100).meta({ description: "Most header fields in a request; more get 431." }),
    maxUrlLength: positiveInt.default(8 * 1024).meta({ description: "Longest request-target in bytes; longer ones get 414." }),
  })
  .meta({ description: "Limits on request heads." });

export const listenerSchema = z
  .strictObject({
    name: z.string().min(1).optional().meta({ description: "Name used in logs and metrics; defaults to the address." }),
    address: address.meta({ description: 'Address to accept connections on, "host:port". Port 0 picks a free port.' }),
    limits: headLimitsSchema.prefault({}),
    timeouts: z
      .strictObject({
        header: duration.default(10_000).meta({ description: "Time a client has to send a complete request head (slowloris guard); then 408 and close." }),
        idle: duration.default(60_000).meta({ description: "Time a keep-alive connection may sit idle between requests, and the longest pause while a request body is arriving (then 408)." }),
        tunnelIdle: duration
          .default(3_600_000)
          .meta({ description: "An upgraded connection (WebSocket and other 101 Switching Protocols tunnels) with no bytes either way for this long is closed (checked within one more period); 0 = never." }),
      })
      .prefault({})
      .meta({ description: "Client-side timeouts." }),
    maxConnections: nonNegativeInt.default(0).meta({ description: "Most open client connections on this listener; 0 = unlimited." }),
    tls: listenerTlsSchema.optional(),
    http2: listenerHttp2Schema.optional(),
    proxyProtocol: z
      .strictObject({
        trusted: z
          .array(z.string().regex(CIDR_RE, { message: 'expected an IP or CIDR like "10.0.0.0/8"' }))
          .min(1, { message: "name the balancers (IPs or CIDRs) whose PROXY headers are believed" })
          .meta({ description: "L4 balancers (IPs or CIDRs) whose PROXY headers are read; connections from anyone else are served as they come (a PROXY header from them is not believed)." }),
      })
      .optional()
      .meta({
        description:
          "Read the PROXY protocol header (v1 or v2, detected) that an L4 balancer (HAProxy send-proxy, AWS NLB, ...) puts before the client's bytes, and take the client's address from it. A trusted connection without a header is served with its own address; a malformed header closes it.",
      }),
    tcp: z
      .strictObject({
        service: z.string().min(1).meta({ description: "Service whose backends take the connections (its balancer, health checks, breakers, connect timeout, retries.attempts and tls apply)." }),
        idleTimeout: duration.default(3_600_000).meta({ description: "A tunnel with no bytes either way for this long is closed; 0 = never." }),
      })
      .optional()
      .meta({
        description:
          "Make this an L4 (TCP) listener: each connection is joined to a backend of the service and bytes are copied both ways, with no HTTP (databases, MQTT, anything). With tls, TLS is terminated first; with proxyProtocol, the client's address comes from the balancer.",
      }),
    redirectToHttps: z
      .union([
        z.literal(true).transform(() => ({ port: 443, status: 308 as const })),
        z.strictObject({
          port: z.number().int().min(1).max(65535).default(443).meta({ description: "Port of the HTTPS listener clients are sent to (left out of the Location when 443)." }),
          status: z.union([z.literal(301), z.literal(302), z.literal(307), z.literal(308)]).default(308).meta({ description: "Redirect status: 308 (permanent, keeps the method and body) by default." }),
        }),
      ])
      .optional()
      .meta({ description: "Answer every request on this (plain HTTP) listener with a redirect to the same host and path over HTTPS, without routing it. true = port 443, status 308." }),
  })
  .refine((l) => l.tcp === undefined || l.redirectToHttps === undefined, { message: "a TCP listener speaks no HTTP to redirect", path: ["redirectToHttps"] })
  .refine((l) => l.tls === undefined || l.redirectToHttps === undefined, { message: "redirectToHttps is for plain-HTTP listeners; this one already speaks HTTPS", path: ["redirectToHttps"] })
  .refine((l) => l.tcp === undefined || l.http2 === undefined, { message: "a TCP listener speaks no HTTP; remove http2 or tcp", path: ["http2"] })
  .refine((l) => l.tls !== undefined || l.http2 === undefined || !l.http2.enabled || l.http2.cleartext, {
    message: "a plain listener offers HTTP/2 only with prior knowledge: set http2.cleartext: true, or give the listener tls",
    path: ["http2", "cleartext"],
  })
  .meta({ description: "An address the gateway accepts HTTP/1.1 connections on (HTTPS when tls is set)." });

// ---------------------------------------------------------------- services

export const backendSchema = z.union([
  address.transform((a) => ({ address: a, weight: 1, maxConnections: 0 })).meta({ description: 'Shorthand for { address: "host:port" }.' }),
  z.strictObject({
    address: address.meta({ description: 'Backend address, "host:port".' }),
    weight: nonNegativeInt.default(1).meta({ description: "Relative weight; 0 drains the backend (no new requests)." }),
    maxConnections: nonNegativeInt.default(0).meta({ description: "Most connections to this backend; 0 = the service's pool limit." }),
  }),
]);

const hashKeySchema = z.discriminatedUnion("source", [
  z.strictObject({ source: z.literal("client-ip").meta({ description: "Hash the client address (after trusted-proxy processing)." }) }),
  z.strictObject({
    source: z.literal("header").meta({ description: "Hash a request header's value." }),
    name: headerName.meta({ description: "Header to hash." }),
  }),
  z.strictObject({
    source: z.literal("cookie").meta({ description: "Hash a cookie's value." }),
    name: z.string().min(1).meta({ description: "Cookie to hash." }),
  }),
]);

export const balancerSchema = z
  .discriminatedUnion("algorithm", [
    z.strictObject({ algorithm: z.literal("round-robin") }).meta({ description: "Each backend in turn, ignoring weights." }),
    z.strictObject({ algorithm: z.literal("weighted-round-robin") }).meta({ description: "Smooth weighted round-robin (nginx's algorithm)." }),
    z.strictObject({ algorithm: z.literal("least-connections") }).meta({ description: "Fewest in-flight requests relative to weight." }),
    z.strictObject({ algorithm: z.literal("random") }).meta({ description: "Weighted random choice." }),
    z
      .strictObject({
        algorithm: z.literal("p2c-ewma"),
        decay: duration.default(10_000).meta({ description: "Time constant of the latency moving average." }),
      })
      .meta({ description: "Power of two random choices, picking the lower EWMA latency x in-flight load." }),
    z
      .strictObject({
        algorithm: z.literal("consistent-hash"),
        key: hashKeySchema.meta({ description: "What to hash: client-ip, a header or a cookie." }),
        method: z.enum(["ring", "maglev"]).default("ring").meta({ description: "ring: Ketama-style hash ring; maglev: Maglev lookup table." }),
      })
      .meta({ description: "The same key always reaches the same backend; a backend leaving moves only its own keys." }),
  ])
  .meta({ description: "How the service picks a backend for each request." });

export const stickySchema = z
  .strictObject({
    cookie: z.string().min(1).default("divisor_sticky").meta({ description: "Cookie that pins a client to a backend." }),
    maxAge: duration.optional().meta({ description: "Cookie lifetime; omitted = a session cookie." }),
    secure: z.boolean().default(false).meta({ description: "Mark the cookie Secure (sent over HTTPS only)." }),
    httpOnly: z.boolean().default(true).meta({ description: "Mark the cookie HttpOnly (invisible to scripts)." }),
    sameSite: z.enum(["Lax", "Strict", "None"]).default("Lax").meta({ description: "SameSite attribute; None implies Secure." }),
  })
  .meta({ description: "Sticky sessions: the first response sets a cookie naming the backend; later requests go back to it while it is available." });

export const retrySchema = z
  .strictObject({
    attempts: nonNegativeInt.default(1).meta({ description: "Extra tries after the first, each on another backend when one is available; 0 turns retries off." }),
    onStatus: z
      .array(z.number().int().min(500).max(599))
      .default([])
      .meta({ description: "Response statuses that are retried (e.g. [502, 503, 504]). Connect failures, resets before a response and response timeouts always are." }),
    budget: z
      .strictObject({
        ratio: z.number().min(0).max(1).default(0.2).meta({ description: "Retries may add at most this share of the service's requests over the last 10 s." }),
        minPerSecond: nonNegativeInt.default(10).meta({ description: "Retries always allowed per second regardless of the ratio, so a quiet service can still retry." }),
      })
      .prefault({})
      .meta({ description: "Retry budget: retries cannot multiply an outage." }),
    timeout: duration
      .optional()
      .meta({ description: "Overall time for all tries of a request; no try starts after it, and a try's response timeout is cut to what is left (then 504). Omitted = each try gets timeouts.response." }),
    bufferBody: size
      .default(64 * 1024)
      .meta({ description: "Request body bytes kept to replay on a retry; a request with a larger body is not retried once its body has started to go out." }),
  })
  .meta({ description: "Retries of failed tries. Only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) are retried unless the router sets retryNonIdempotent." });

const STATUS_RANGE_RE = /^([1-5]\d\d)(?:-([1-5]\d\d))?$/;

export const healthCheckSchema = z
  .strictObject({
    type: z.enum(["http", "tcp"]).default("http").meta({ description: "http: a request must get an expected status (and body); tcp: a connection must open." }),
    path: z.string().startsWith("/").default("/").meta({ description: "Path requested by HTTP checks." }),
    method: z.string().regex(/^[A-Z]+$/, { message: "methods are upper-case tokens like GET" }).default("GET"),
    host: z.string().optional().meta({ description: "Host header of HTTP checks; default the backend's address." }),
    headers: z.record(headerName, headerValue).optional().meta({ description: "Extra request headers of HTTP checks." }),
    expectStatus: z
      .array(z.union([z.number().int().min(100).max(599), z.string().regex(STATUS_RANGE_RE, { message: 'expected a status or a range like "200-399"' })]))
      .min(1)
      .default(["200-399"])
      .meta({ description: 'Statuses that count as healthy: codes or ranges like "200-399".' }),
    bodyContains: z.string().optional().meta({ description: "HTTP checks also need this text in the first 64 KiB of the body." }),
    interval: duration.default(5_000).meta({ description: "Time between checks of one backend." }),
    timeout: duration.default(2_000).meta({ description: "A check that takes longer fails." }),
    jitter: z.number().min(0).max(1).default(0.1).meta({ description: "Each interval is randomly shortened or lengthened by up to this share, so checks don't fire in lockstep." }),
    rise: positiveInt.default(2).meta({ description: "Consecutive successes that bring a down backend back." }),
    fall: positiveInt.default(3).meta({ description: "Consecutive failures that take a backend out." }),
  })
  .meta({ description: "Active health checks, run for each backend from the moment the configuration is loaded." });

export const serviceSchema = z
  .strictObject({
    backends: z
      .array(backendSchema)
      .default([])
      .meta({
        description:
          'The backends: "host:port" strings or objects with a weight and a connection limit. At least one unless the service has discovery; with discovery, the provider\'s backends replace these once it reports (until then these, if any, serve).',
      }),
    discovery: z
      .strictObject({
        provider: nameKey.meta({ description: "Name of the provider (in `providers:`) whose backends this service uses: DNS records, etcd keys, Consul instances, Kubernetes endpoints." }),
      })
      .optional()
      .meta({ description: "Take this service's backends from a provider, kept up to date as they come and go. Until the provider reports, the service answers 503 (no backend) unless backends are listed." }),
    balancer: balancerSchema.default({ algorithm: "round-robin" }),
    sticky: stickySchema.optional(),
    preserveHost: z.boolean().default(true).meta({ description: "Send the client's Host header to the backend (false: use the backend's address)." }),
    timeouts: z
      .strictObject({
        connect: duration.default(5_000).meta({ description: "Time to open a connection to a backend; then 504." }),
        response: duration.default(60_000).meta({ description: "Time from sending the complete request to the response head; then 504." }),
      })
      .prefault({})
      .meta({ description: "Upstream timeouts." }),
    healthCheck: healthCheckSchema.optional(),
    slowStart: duration
      .optional()
      .meta({ description: "A backend coming back into rotation (health or breaker) or added by a reload ramps from 10% to its full weight over this window (weighted-round-robin, least-connections and p2c-ewma honour it)." }),
    retries: retrySchema.prefault({}),
    circuitBreaker: z
      .strictObject({
        enabled: z.boolean().default(true).meta({ description: "Take failing backends out of rotation (passive health)." }),
        consecutiveFailures: positiveInt.default(5).meta({ description: "Failures in a row that open the breaker." }),
        errorRatio: z.number().gt(0).max(1).default(0.5).meta({ description: "Share of failed requests over `window` that opens the breaker (once minRequests were seen)." }),
        minRequests: positiveInt.default(20).meta({ description: "Requests in the window before errorRatio is considered." }),
        window: duration.default(10_000).meta({ description: "Window of the error ratio." }),
        openDuration: duration.default(5_000).meta({ description: "How long an open breaker keeps the backend out; doubled each time it reopens." }),
        maxOpenDuration: duration.default(60_000).meta({ description: "Cap of the growing open duration." }),
        halfOpenRequests: positiveInt.default(1).meta({ description: "Trial requests let through when half-open; a success closes the breaker, a failure reopens it." }),
        maxEjectedShare: z.number().min(0).max(1).default(0.5).meta({ description: "Most of the service's backends that breakers may hold open at once." }),
        failureStatuses: z
          .array(z.number().int().min(500).max(599))
          .default([502, 503, 504])
          .meta({ description: "Response statuses that count as failures (connect failures, resets and timeouts always do)." }),
      })
      .prefault({})
      .meta({ description: "Per-backend circuit breaker (outlier detection): closed, open, half-open." }),
    serviceBreaker: z
      .strictObject({
        enabled: z.boolean().default(false).meta({ description: "Fail fast (503) while the service as a whole keeps failing, instead of sending it more load." }),
        consecutiveFailures: positiveInt.default(20).meta({ description: "Failures in a row, across all backends, that open it." }),
        errorRatio: z.number().gt(0).max(1).default(0.5).meta({ description: "Share of failed requests over `window` that opens it (once minRequests were seen)." }),
        minRequests: positiveInt.default(50).meta({ description: "Requests in the window before errorRatio is considered." }),
        window: duration.default(10_000).meta({ description: "Window of the error ratio." }),
        openDuration: duration.default(5_000).meta({ description: "How long it answers 503 before letting trials through; doubled on each reopening." }),
        maxOpenDuration: duration.default(60_000).meta({ description: "Cap of the growing open duration." }),
        halfOpenRequests: positiveInt.default(3).meta({ description: "Trial requests let through when half-open." }),
      })
      .prefault({})
      .meta({ description: "Service-wide circuit breaker (off by default): closed, open, half-open; uses the failure statuses of circuitBreaker." }),
    limits: z
      .strictObject({
        maxInFlight: nonNegativeInt.default(0).meta({ description: "Most requests in flight to this service at once; 0 = unlimited. Beyond it requests wait in a queue." }),
        queueSize: nonNegativeInt.default(100).meta({ description: "Most requests waiting for a slot; more are answered 503 with Retry-After at once." }),
        queueTimeout: duration.default(1_000).meta({ description: "Longest wait for a slot; then 503 with Retry-After." }),
      })
      .prefault({})
      .meta({ description: "Overload protection: a bounded number of requests in flight, a bounded queue, a bounded wait." }),
    pool: z
      .strictObject({
        maxConnections: nonNegativeInt.default(0).meta({ description: "Most connections per backend; 0 = unlimited. Requests beyond it wait up to the connect timeout." }),
        maxIdle: nonNegativeInt.default(64).meta({ description: "Most idle keep-alive connections kept per backend." }),
        idleTimeout: duration.default(30_000).meta({ description: "Idle upstream connections are closed after this long." }),
      })
      .prefault({})
      .meta({ description: "Keep-alive connection pool, per backend." }),
    tls: upstreamTlsSchema.optional(),
    protocol: z
      .enum(["http1", "http2"])
      .default("http1")
      .meta({
        description:
          "What the gateway speaks to the backends: http1 (HTTP/1.1 over a keep-alive pool) or http2 (one multiplexed HTTP/2 connection per backend: h2 by ALPN when tls is set, else h2c with prior knowledge). gRPC backends need http2.",
      }),
    proxyProtocol: z
      .enum(["v1", "v2"])
      .optional()
      .meta({
        description:
          "Send a PROXY protocol header (v1 text, v2 binary) with the client's address first on each connection to the backends (TCP listeners: each tunnel). Such connections carry one exchange each (no keep-alive reuse across clients), as HAProxy's send-proxy does.",
      }),
  })
  .refine((s) => s.backends.length > 0 || s.discovery !== undefined, {
    message: "a service needs at least one backend (or discovery: { provider: <name> } to take them from a provider)",
    path: ["backends"],
  })
  .refine((s) => s.protocol !== "http2" || s.proxyProtocol === undefined, {
    message: "an HTTP/2 connection carries many clients' requests, so it cannot start with one client's PROXY header; drop proxyProtocol or use protocol: http1",
    path: ["proxyProtocol"],
  })
  .meta({ description: "A set of backends and the policy that picks one." });

// ---------------------------------------------------------------- routers

export const pathMatchSchema = z
  .union([
    z.strictObject({ exact: z.string().startsWith("/") }).meta({ description: "The path equals this." }),
    z.strictObject({ prefix: z.string().startsWith("/") }).meta({ description: "The path starts with this at a segment boundary (/api matches /api and /api/x, not /apix)." }),
    z.strictObject({ pattern: z.string().startsWith("/") }).meta({ description: "Segments with :params and a trailing * wildcard, e.g. /users/:id/*." }),
    z.strictObject({ regex: z.string().min(1) }).meta({ description: "A JavaScript regular expression tested against the path." }),
  ])
  .meta({ description: "How the request path must look." });

export const headerMatchSchema = z.union([
  z.strictObject({ name: headerName.meta({ description: "Header name (case-insensitive)." }), value: headerValue }).meta({ description: "The header is present with exactly this value." }),
  z.strictObject({ name: headerName, regex: z.string().min(1) }).meta({ description: "The header's value matches this regular expression." }),
  z.strictObject({ name: headerName, present: z.boolean() }).meta({ description: "The header is (true) or is not (false) present." }),
]);

const HOST_PATTERN_RE = /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$|^\*$/;

export const hostPattern = z
  .string()
  .transform((h) => h.toLowerCase())
  .refine((h) => HOST_PATTERN_RE.test(h), { message: 'expected a host name, a wildcard like "*.example.com", or "*" for any host' });

const splitMatchCondition = {
  value: z.string().optional().meta({ description: "Exact value required; omitted = the header or cookie is present with any value." }),
  service: z.string().min(1).meta({ description: "Service that requests meeting this condition go to." }),
};

export const splitSchema = z
  .strictObject({
    services: z
      .array(
        z.strictObject({
          service: z.string().min(1).meta({ description: "Name of a service." }),
          weight: z.number().int().min(0).meta({ description: "Its share of the requests, relative to the others' weights (0 = none by weight: only through match or a sticky cookie)." }),
        }),
      )
      .min(1)
      .refine((list) => list.some((s) => s.weight > 0), { message: "at least one service needs a weight above 0" })
      .refine((list) => new Set(list.map((s) => s.service)).size === list.length, { message: "each service appears once" })
      .meta({ description: "Services and their weights (canary: 95/5; blue/green: 100/0, flipped by a reload or at run time with PUT /api/routers/:router/split). Requests are spread by smooth weighted round-robin: exact shares, evenly interleaved." }),
    match: z
      .array(
        z.union([
          z.strictObject({ header: headerName.meta({ description: "Header name (case-insensitive)." }), ...splitMatchCondition }),
          z.strictObject({ cookie: z.string().min(1).meta({ description: "Cookie name." }), ...splitMatchCondition }),
        ]),
      )
      .optional()
      .meta({ description: "A/B rules, tried in order before weights and stickiness: the first whose header or cookie matches picks the service." }),
    sticky: stickySchema
      .extend({
        cookie: z
          .string()
          .regex(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/, { message: "cookie names are token characters" })
          .default("divisor_split")
          .meta({ description: "Cookie that remembers the chosen service: set on the first proxied response, honoured while that service keeps a weight above 0." }),
      })
      .optional()
      .meta({ description: "Keep each user on the service first chosen for them (the cookie's attributes as for a service's sticky sessions)." }),
  })
  .meta({ description: "Send the router's requests to one of several services (canary, A/B, blue/green) instead of one service." });

export const routerSchema = z
  .strictObject({
    match: z
      .strictObject({
        hosts: z.array(hostPattern).optional().meta({ description: 'Host names (exact or "*.example.com"); omitted = the tenant\'s hosts, or any host.' }),
        path: pathMatchSchema.optional(),
        methods: z
          .array(z.string().regex(/^[A-Z]+$/, { message: "methods are upper-case tokens like GET" }))
          .optional()
          .meta({ description: "Request methods to match; omitted = any." }),
        headers: z.array(headerMatchSchema).optional().meta({ description: "Header conditions; all must hold." }),
      })
      .prefault({})
      .meta({ description: "What a request must look like; omitted conditions match anything." }),
    service: z.string().min(1).optional().meta({ description: "Service to proxy to. Required unless a middleware answers every request (e.g. redirect)." }),
    split: splitSchema.optional(),
    middlewares: z.array(z.string().min(1)).default([]).meta({ description: "Names of middlewares to run, in order." }),
    priority: z.number().int().optional().meta({ description: "Higher wins over the computed specificity; ties fall back to specificity." }),
    maxBodySize: size.optional().meta({ description: "Largest request body accepted on this router; larger ones get 413 (at once when Content-Length says so, else when the limit is crossed)." }),
    hedge: z
      .strictObject({
        percentile: z.number().gt(0).lt(100).default(95).meta({ description: "A try still unanswered after this percentile of the service's recent response times gets a second, concurrent try on another backend." }),
        minDelay: duration.default(10).meta({ description: "Never hedge sooner than this." }),
      })
      .optional()
      .meta({ description: "Hedged requests (opt-in; idempotent requests without a body only): the first answer wins, the other try is cancelled. Hedges count against the service's retry budget." }),
    retryNonIdempotent: z.boolean().optional().meta({ description: "Let the service's retries also cover POST, PATCH and other non-idempotent methods on this router (default false)." }),
  })
  .refine((r) => r.service === undefined || r.split === undefined, { message: "give either service or split, not both" })
  .meta({ description: "A match rule that sends requests to a service through middlewares." });

// ---------------------------------------------------------------- middlewares

const headerOpsSchema = z.strictObject({
  set: z.record(headerName, headerValue).optional().meta({ description: "Headers to set, replacing any existing value." }),
  add: z.record(headerName, headerValue).optional().meta({ description: "Headers to append." }),
  remove: z.array(headerName).optional().meta({ description: "Headers to remove." }),
});

export const builtinMiddlewareSchemas = {
  headers: z
    .strictObject({
      type: z.literal("headers"),
      request: headerOpsSchema.optional().meta({ description: "Changes to the request sent to the backend." }),
      response: headerOpsSchema.optional().meta({ description: "Changes to the response sent to the client." }),
    })
    .meta({ description: "Set, add or remove request and response headers." }),
  "strip-prefix": z
    .strictObject({
      type: z.literal("strip-prefix"),
      prefixes: z.array(z.string().startsWith("/")).min(1).meta({ description: "Prefixes to strip; the longest that matches at a segment boundary wins." }),
    })
    .meta({ description: "Remove the first matching prefix from the path before proxying (sets X-Forwarded-Prefix)." }),
  "rewrite-path": z
    .strictObject({
      type: z.literal("rewrite-path"),
      regex: z.string().min(1).meta({ description: "Regular expression applied to the path." }),
      replacement: z.string().meta({ description: "Replacement; $1.. and $<name> refer to groups." }),
    })
    .meta({ description: "Rewrite the path with a regular expression before proxying." }),
  redirect: z
    .strictObject({
      type: z.literal("redirect"),
      status: z
        .union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)])
        .default(302)
        .meta({ description: "Redirect status: 301/308 permanent, 302/303/307 temporary (307/308 keep the method)." }),
      scheme: z.enum(["http", "https"]).optional().meta({ description: "Scheme to redirect to; default keeps the request's." }),
      host: z.string().optional().meta({ description: "Host (and optional :port) to redirect to; default keeps the request's." }),
      regex: z.string().optional().meta({ description: "With replacement: rewrite the path+query to redirect to." }),
      replacement: z.string().optional().meta({ description: "Target for regex: a URL or a path; $1.. refer to groups." }),
    })
    .refine((r) => (r.regex === undefined) === (r.replacement === undefined), { message: "regex and replacement go together" })
    .meta({ description: "Answer with a redirect instead of proxying." }),
  "rate-limit": rateLimitSchema,
  "basic-auth": basicAuthSchema,
  "api-key": apiKeySchema,
  jwt: jwtSchema,
  "forward-auth": forwardAuthSchema,
  "ip-filter": ipFilterSchema,
  "security-headers": securityHeadersSchema,
  cors: corsSchema,
  fault: faultMiddlewareSchema,
  mirror: mirrorSchema,
  "client-cert": clientCertSchema,
  cache: cacheSchema,
  compress: compressSchema,
  lua: luaSchema,
} as const;

export const pluginMiddlewareSchema = z
  .strictObject({
    type: z.literal("plugin"),
    plugin: z.string().min(1).meta({ description: "Name of the plugin: a `plugins[].name` of this config, or one passed in code (createGateway(config, { plugins }))." }),
    options: z.unknown().optional().meta({ description: "Options, validated by the plugin's own schema." }),
  })
  .meta({ description: "A user plugin, by name (docs/plugins.md)." });

export const pluginEntrySchema = z
  .strictObject({
    name: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { message: "names are letters, digits, '_', '.', '-'" })
      .meta({ description: "Name the middlewares use for it (`middlewares.<m>: { type: plugin, plugin: <name> }`)." }),
    from: z
      .string()
      .min(1)
      .meta({
        description:
          'A file ("./plugins/tag.ts", "/opt/p.mjs"; .ts, .mts, .js, .mjs; relative to the config file) or an npm package ("@acme/divisor-plugin", resolved from the config file\'s directory like Node would). Its default export (or its export named `plugin`) is a definePlugin(...) result.',
      }),
  })
  .meta({ description: "A plugin module to load." });

export const pluginsSchema = z
  .array(pluginEntrySchema)
  .default([])
  .superRefine((entries, ctx) => {
    const seen = new Set<string>();
    for (const [index, entry] of entries.entries()) {
      if (seen.has(entry.name)) ctx.addIssue({ code: "custom", path: [index, "name"], message: `plugin name "${entry.name}" is used twice; give each entry its own name` });
      seen.add(entry.name);
    }
  })
  .meta({ description: "Plugin modules (files or npm packages) loaded at start and on every reload; a reload re-imports a file that changed (docs/plugins.md)." });

export const middlewareSchema = z.discriminatedUnion("type", [
  builtinMiddlewareSchemas.headers,
  builtinMiddlewareSchemas["strip-prefix"],
  builtinMiddlewareSchemas["rewrite-path"],
  builtinMiddlewareSchemas.redirect,
  builtinMiddlewareSchemas["rate-limit"],
  builtinMiddlewareSchemas["basic-auth"],
  builtinMiddlewareSchemas["api-key"],
  builtinMiddlewareSchemas.jwt,
  builtinMiddlewareSchemas["forward-auth"],
  builtinMiddlewareSchemas["ip-filter"],
  builtinMiddlewareSchemas["security-headers"],
  builtinMiddlewareSchemas.cors,
  builtinMiddlewareSchemas.fault,
  builtinMiddlewareSchemas.mirror,
  builtinMiddlewareSchemas["client-cert"],
  builtinMiddlewareSchemas.cache,
  builtinMiddlewareSchemas.compress,
  builtinMiddlewareSchemas.lua,
  pluginMiddlewareSchema,
]);

// ---------------------------------------------------------------- tenants


export const tenantSchema = z
  .strictObject({
    hosts: z.array(hostPattern).min(1).meta({ description: "Hosts this tenant owns; its routers match only these (unless they name narrower hosts)." }),
    routers: z.record(nameKey, routerSchema).default({}).meta({ description: "This tenant's routers by name, scoped to its hosts." }),
    middlewares: z
      .array(z.string().min(1))
      .default([])
      .meta({ description: "Names of middlewares run for every router of this tenant, in order, before the router's own (e.g. the tenant's Lua scripts)." }),
  })
  .meta({ description: "A named group of routers with its own hosts, and middlewares applied to all of them." });

// ---------------------------------------------------------------- gateway

export const proxySchema = z
  .strictObject({
    trustedProxies: z
      .array(z.string().regex(CIDR_RE, { message: 'expected an IP or CIDR like "10.0.0.0/8"' }))
      .default([])
      .meta({ description: "Peers whose X-Forwarded-*/Forwarded headers are kept and extended; from anyone else they are replaced." }),
    forwardedHeaders: z.boolean().default(true).meta({ description: "Set X-Forwarded-For/-Proto/-Host on requests to backends." }),
    forwarded: z.boolean().default(false).meta({ description: "Also set the RFC 7239 Forwarded header." }),
    via: z.string().optional().meta({ description: 'Add "Via: 1.1 <this>" to requests and responses; omitted = no Via.' }),
  })
  .prefault({});

export const demoSchema = z
  .strictObject({
    backends: z
      .array(
        z.strictObject({
          name: z.string().min(1).meta({ description: "Name the backend answers with." }),
          address: address.meta({ description: 'Address it listens on, "host:port".' }),
        }),
      )
      .min(1)
      .meta({ description: "Small in-process HTTP servers that answer with their name; for trying Divisor out." }),
  })
  .meta({ description: "Demo backends started inside the gateway process (used by the bundled default config)." });

export const configSchema = z
  .strictObject({
    listeners: z.array(listenerSchema).min(1, { message: "at least one listener is needed" }).meta({ description: "Addresses to accept connections on." }),
    services: z.record(nameKey, serviceSchema).default({}).meta({ description: "Services by name." }),
    routers: z.record(nameKey, routerSchema).default({}).meta({ description: "Routers by name, for any host not owned by a tenant (and as a fallback for tenants' hosts)." }),
    tenants: z.record(nameKey, tenantSchema).default({}).meta({ description: "Tenants by name." }),
    middlewares: z.record(nameKey, middlewareSchema).default({}).meta({ description: "Middlewares by name, referenced from routers." }),
    plugins: pluginsSchema,
    proxy: proxySchema.meta({ description: "How requests are forwarded: trusted proxies and forwarding headers." }),
    shutdown: z
      .strictObject({
        gracePeriod: duration.default(30_000).meta({ description: "On SIGTERM/SIGINT, time in-flight requests get to finish before connections are closed." }),
      })
      .prefault({})
      .meta({ description: "Graceful shutdown." }),
    admin: adminSchema.optional(),
    metrics: metricsSchema,
    logging: loggingSchema,
    tracing: tracingSchema.optional(),
    demo: demoSchema.optional(),
    providers: z
      .array(providerEntrySchema)
      .default([])
      .meta({
        description:
          "Sources of dynamic configuration (file, DNS, etcd, Consul, Kubernetes), started with the gateway. Each contributes routers, services, middlewares, tenants, or backends of services with discovery; the file's names win, and a provider's names colliding with the file's or an earlier provider's are refused. See docs/providers.md.",
      }),
  })
  .meta({ description: "A Divisor gateway configuration." });

/** A configuration after validation and defaults (what the gateway compiles). */
export type DivisorConfig = z.output<typeof configSchema>;
/** A configuration as written by a user (durations as strings, defaults optional). */
export type DivisorConfigInput = z.input<typeof configSchema>;
export type ListenerConfig = DivisorConfig["listeners"][number];
export type ServiceConfig = DivisorConfig["services"][string];
export type BackendConfig = ServiceConfig["backends"][number];
export type BalancerConfig = ServiceConfig["balancer"];
export type StickyConfig = z.output<typeof stickySchema>;
export type RetryConfig = z.output<typeof retrySchema>;
export type HealthCheckConfig = z.output<typeof healthCheckSchema>;
export type RouterConfig = DivisorConfig["routers"][string];
export type PathMatch = z.output<typeof pathMatchSchema>;
export type HeaderMatch = z.output<typeof headerMatchSchema>;
export type MiddlewareConfig = DivisorConfig["middlewares"][string];
export type PluginEntryConfig = DivisorConfig["plugins"][number];
export type TenantConfig = DivisorConfig["tenants"][string];
export type ProxyConfig = DivisorConfig["proxy"];
export type ProviderEntryConfig = DivisorConfig["providers"][number];
