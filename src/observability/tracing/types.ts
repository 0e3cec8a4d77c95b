// Hot path (types only): what the exchange calls when tracing is on. No OpenTelemetry
// import here: the SDK is loaded (tracer.ts) only when the config has `tracing`.
import type { HeaderList } from "../../http1/headers.js";

/** What the server span reads from an exchange when it starts. */
export interface TracedRequest {
  readonly method: string;
  readonly path: string;
  readonly host: string;
  readonly scheme: "http" | "https";
  readonly clientIp: string;
  readonly versionMinor: number;
  /** "1.0", "1.1" or "2" (network.protocol.version). */
  readonly httpVersion: string;
  readonly headers: HeaderList;
}

/** The tracer of the configuration in force; one field of the runtime table (null = off). */
export interface ExchangeTracer {
  /**
   * Start the SERVER span of an exchange, as a child of the client's traceparent
   * (with its tracestate and baggage) when it sent a valid one.
   * `startTime` is the exchange's performance.now() start.
   */
  startExchange(request: TracedRequest, listener: string, localPort: number, startTime: number): ExchangeTrace;
}

/** The SERVER span of one exchange. */
export interface ExchangeTrace {
  /** 32 lowercase hex digits. */
  readonly traceId: string;
  /** The exchange was routed: name the span after its route and record the router's names. */
  routed(router: string, tenant: string | undefined, service: string | undefined, route: string | null): void;
  /**
   * Start the CLIENT span of one upstream try (first, retry or hedge) and write its
   * traceparent, tracestate and baggage into `headers`, replacing the client's.
   */
  startTry(backendAddress: string, resendCount: number, hedge: boolean, headers: HeaderList): TryTrace;
  /** The exchange finished (now, after its last try ended): status sent (0 = none) and its error code, if any. */
  end(status: number, errorCode: string | undefined): void;
}

/** The CLIENT span of one upstream try. */
export interface TryTrace {
  /** The backend answered with this status (the try may still relay its body). */
  responded(status: number): void;
  /** The try is over; `errorType` names why it failed (an upstream failure kind), if it did. */
  end(errorType: string | undefined): void;
}
