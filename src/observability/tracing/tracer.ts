/**
 * OpenTelemetry tracing over the official JS SDK: samplers, W3C trace-context
 * and baggage propagators, a batching span processor and the OTLP/HTTP exporter
 * (protobuf or JSON). Loaded with a dynamic import only when the config has
 * `tracing` (see gateway/tracing.ts), so a gateway without tracing loads none of it.
 */
import {
  type Context,
  type MeterProvider,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
  createNoopMeter,
  trace,
} from "@opentelemetry/api";
import { CompositePropagator, ExportResultCode, W3CBaggagePropagator, W3CTraceContextPropagator, type ExportResult } from "@opentelemetry/core";
import { OTLPTraceExporter as OTLPJsonExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as OTLPProtoExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_SERVICE_VERSION,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from "@opentelemetry/semantic-conventions";
import type { TracingConfig } from "../../config/schema-observability.js";
import type { HeaderList } from "../../http1/headers.js";
import { VERSION } from "../version.js";
import type { TracingStats } from "./stats.js";
import type { ExchangeTrace, ExchangeTracer, TracedRequest, TryTrace } from "./types.js";

/** Methods the HTTP semantic conventions know; any other is reported as "_OTHER". */
const KNOWN_METHODS = new Set(["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "QUERY"]);
/** The trace headers Divisor writes for a backend (and removes from what the client sent). */
const TRACE_HEADERS = ["traceparent", "tracestate", "baggage"] as const;

const HEADER_GETTER: TextMapGetter<HeaderList> = {
  get: (carrier, key) => carrier.get(key),
  keys: (carrier) => {
    const names: string[] = [];
    for (let i = 0; i < carrier.raw.length; i += 2) names.push(carrier.raw[i]!.toLowerCase());
    return names;
  },
};

const HEADER_SETTER: TextMapSetter<HeaderList> = {
  set: (carrier, key, value) => carrier.set(key, value),
};

/** A tracer provider built for one `tracing` config; a reload that changes it builds another. */
export interface LoadedTracing {
  readonly tracer: ExchangeTracer;
  /** Export what is queued now. */
  flush(): Promise<void>;
  /** Export what is queued, then stop (spans ended later are dropped). */
  shutdown(): Promise<void>;
}

/** Build the provider, sampler, exporter and propagators for `config`; counts go to `stats`. */
export function createTracing(config: TracingConfig, stats: TracingStats): LoadedTracing {
  const exporterConfig = { url: config.endpoint, headers: { ...config.headers }, timeoutMillis: config.batching.exportTimeout };
  const otlp = config.protocol === "http/json" ? new OTLPJsonExporter(exporterConfig) : new OTLPProtoExporter(exporterConfig);
  const batching = config.batching;
  const processor = new BatchSpanProcessor(new CountingExporter(otlp, stats), {
    maxQueueSize: batching.maxQueueSize,
    maxExportBatchSize: batching.maxBatchSize,
    scheduledDelayMillis: batching.delay,
    exportTimeoutMillis: batching.exportTimeout,
    // The processor reports dropped spans through its self-observability counter: count them there.
    selfObsMeterProvider: droppedSpanCounter(stats),
  } as ConstructorParameters<typeof BatchSpanProcessor>[1]);
  const ratio = new TraceIdRatioBasedSampler(config.sampler.ratio);
  const sampler: Sampler = config.sampler.parentBased ? new ParentBasedSampler({ root: ratio }) : ratio;
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({
      [ATTR_SERVICE_NAME]: config.serviceName,
      [ATTR_SERVICE_VERSION]: VERSION,
      ...config.resourceAttributes,
    }),
    sampler,
    spanProcessors: [processor],
  });
  // Not registered as the global provider: an application embedding Divisor keeps its own.
  const tracer = new OtelExchangeTracer(provider.getTracer("divisor", VERSION));
  return {
    tracer,
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

/**
 * Span times as epoch milliseconds on one clock (performance.timeOrigin + performance.now()),
 * so a try's span always lies within its exchange's. (Left to itself the SDK starts a span
 * at Date.now(), whole milliseconds, and ends it on the performance clock.)
 */
function epochMs(performanceNow: number): number {
  return performance.timeOrigin + performanceNow;
}

const propagator = new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] });

class OtelExchangeTracer implements ExchangeTracer {
  constructor(private readonly tracer: Tracer) {}

  startExchange(request: TracedRequest, listener: string, localPort: number, startTime: number): ExchangeTrace {
    const parent = propagator.extract(ROOT_CONTEXT, request.headers, HEADER_GETTER);
    const method = KNOWN_METHODS.has(request.method) ? request.method : "_OTHER";
    const span = this.tracer.startSpan(
      method === "_OTHER" ? "HTTP" : method,
      {
        kind: SpanKind.SERVER,
        startTime: epochMs(startTime),
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: method,
          [ATTR_URL_PATH]: request.path,
          [ATTR_URL_SCHEME]: request.scheme,
          [ATTR_SERVER_ADDRESS]: request.host,
          [ATTR_SERVER_PORT]: localPort,
          [ATTR_NETWORK_PROTOCOL_VERSION]: request.httpVersion,
          [ATTR_CLIENT_ADDRESS]: request.clientIp,
          "divisor.listener": listener,
        },
      },
      parent,
    );
    if (method === "_OTHER") span.setAttribute(ATTR_HTTP_REQUEST_METHOD_ORIGINAL, request.method);
    const userAgent = request.headers.get("user-agent");
    if (userAgent !== undefined) span.setAttribute(ATTR_USER_AGENT_ORIGINAL, userAgent);
    return new OtelExchangeTrace(this.tracer, span, trace.setSpan(parent, span), method);
  }
}

class OtelExchangeTrace implements ExchangeTrace {
  readonly traceId: string;
  constructor(
    private readonly tracer: Tracer,
    private readonly span: Span,
    /** The client's context (baggage included) with this SERVER span in it: the parent of every try. */
    private readonly context: Context,
    private readonly method: string,
  ) {
    this.traceId = span.spanContext().traceId;
  }

  routed(router: string, tenant: string | undefined, service: string | undefined, route: string | null): void {
    const span = this.span;
    span.setAttribute("divisor.router", router);
    if (tenant !== undefined) span.setAttribute("divisor.tenant", tenant);
    if (service !== undefined) span.setAttribute("divisor.service", service);
    if (route !== null) {
      span.setAttribute(ATTR_HTTP_ROUTE, route);
      span.updateName(`${this.method === "_OTHER" ? "HTTP" : this.method} ${route}`);
    }
  }

  startTry(backendAddress: string, resendCount: number, hedge: boolean, headers: HeaderList): TryTrace {
    const colon = backendAddress.lastIndexOf(":");
    let host = backendAddress.slice(0, colon);
    if (host.startsWith("[")) host = host.slice(1, -1);
    const span = this.tracer.startSpan(
      this.method === "_OTHER" ? "HTTP" : this.method,
      {
        kind: SpanKind.CLIENT,
        startTime: epochMs(performance.now()),
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: this.method,
          [ATTR_SERVER_ADDRESS]: host,
          [ATTR_SERVER_PORT]: Number(backendAddress.slice(colon + 1)),
          [ATTR_NETWORK_PROTOCOL_VERSION]: "1.1",
          "divisor.backend": backendAddress,
        },
      },
      this.context,
    );
    if (resendCount > 0) span.setAttribute(ATTR_HTTP_REQUEST_RESEND_COUNT, resendCount);
    if (hedge) span.setAttribute("divisor.hedge", true);
    for (const name of TRACE_HEADERS) headers.delete(name);
    propagator.inject(trace.setSpan(this.context, span), headers, HEADER_SETTER);
    return new OtelTryTrace(span);
  }

  end(status: number, errorCode: string | undefined): void {
    const span = this.span;
    // Nothing was sent (the client left first): 499, as the request metrics count it.
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status === 0 ? 499 : status);
    // Server spans: 4xx is the client's doing, not an error of the gateway (HTTP semantic conventions).
    const errorType = errorCode ?? (status >= 500 ? String(status) : undefined);
    if (errorType !== undefined) {
      span.setAttribute(ATTR_ERROR_TYPE, errorType);
      if (status >= 500 || status === 0) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(epochMs(performance.now()));
  }
}

class OtelTryTrace implements TryTrace {
  private status = 0;
  constructor(private readonly span: Span) {}

  responded(status: number): void {
    this.status = status;
    this.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  }

  end(errorType: string | undefined): void {
    const span = this.span;
    // Client spans: a 4xx or 5xx answer is an error of this try.
    const type = errorType ?? (this.status >= 400 ? String(this.status) : undefined);
    if (type !== undefined) {
      span.setAttribute(ATTR_ERROR_TYPE, type);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end(epochMs(performance.now()));
  }
}

/** Wraps the OTLP exporter to count what it exports and what it fails to. */
class CountingExporter implements SpanExporter {
  constructor(
    private readonly inner: SpanExporter,
    private readonly stats: TracingStats,
  ) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) this.stats.spansExported += spans.length;
      else {
        this.stats.exportFailures++;
        this.stats.spansFailed += spans.length;
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

/**
 * A meter provider for the batch processor's self-observability that counts only
 * `otel.sdk.processor.span.processed` with error.type "queue_full" (a dropped span).
 */
function droppedSpanCounter(stats: TracingStats): MeterProvider {
  const noop = createNoopMeter();
  const meter = Object.create(noop) as typeof noop;
  meter.createCounter = (name, options) => {
    if (name !== "otel.sdk.processor.span.processed") return noop.createCounter(name, options);
    return {
      add(value, attributes) {
        if (attributes?.[ATTR_ERROR_TYPE] === "queue_full") stats.spansDropped += value;
      },
    };
  };
  return { getMeter: () => meter };
}
