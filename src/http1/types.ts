// Hot path: types shared by the HTTP/1.1 codec and the exchange.

/**
 * Header fields in wire order as a flat array: [name0, value0, name1, value1, ...].
 * Names keep the case they arrived with; values are trimmed of leading/trailing
 * whitespace (RFC 9110 §5.5). A flat array is the cheapest shape to parse into and
 * to serialize from; `HeaderList` (headers.ts) gives case-insensitive access over it.
 */
export type RawHeaders = string[];

/** How a message body is delimited (RFC 9112 §6.3). */
export const enum BodyKind {
  /** No body (no Content-Length/Transfer-Encoding on a request, HEAD response, 1xx/204/304). */
  None = 0,
  /** Content-Length bytes follow. */
  Length = 1,
  /** Transfer-Encoding: chunked. */
  Chunked = 2,
  /** Response body runs until the upstream closes the connection. */
  UntilClose = 3,
}

export interface RequestHead {
  /** Method token exactly as received (case-sensitive, RFC 9110 §9.1). */
  method: string;
  /** Request-target exactly as received. */
  target: string;
  /** Path part of an origin-form target (before '?'); "" for authority-form/asterisk-form. */
  path: string;
  /** Query including the leading '?', or "". */
  query: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  versionMinor: number;
  headers: RawHeaders;
  bodyKind: BodyKind;
  /** Content-Length when bodyKind is Length, else -1. */
  contentLength: number;
  /** Whether the connection may be reused after this exchange (version default + Connection). */
  keepAlive: boolean;
  /** Connection: upgrade together with an Upgrade header. */
  upgrade: boolean;
  /** Expect: 100-continue was sent. */
  expectContinue: boolean;
  /** Host header value, lowercased, "" when absent (only allowed for HTTP/1.0). */
  host: string;
  /** Lowercased tokens of every Connection header, or null when there is none. */
  connectionTokens: string[] | null;
}

export interface ResponseHead {
  statusCode: number;
  /** Reason phrase as received (may be ""). */
  reason: string;
  versionMinor: number;
  headers: RawHeaders;
  bodyKind: BodyKind;
  contentLength: number;
  keepAlive: boolean;
  connectionTokens: string[] | null;
}

/** Limits applied while parsing a head. */
export interface HeadLimits {
  /** Largest head in bytes, request line and terminating blank line included. */
  maxHeadSize: number;
  /** Most header fields. */
  maxHeaders: number;
  /** Longest request-target in bytes. */
  maxUrlLength: number;
}

export const DEFAULT_HEAD_LIMITS: HeadLimits = {
  maxHeadSize: 16 * 1024,
  maxHeaders: 100,
  maxUrlLength: 8 * 1024,
};
