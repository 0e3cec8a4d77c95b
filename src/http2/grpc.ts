// gRPC over HTTP/2: what the gateway says to a gRPC client when it answers itself,
// per the gRPC protocol's HTTP-to-gRPC status mapping (doc/http-grpc-status-mapping.md).

/** gRPC status codes the gateway produces. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** Whether a content-type names a gRPC message stream (application/grpc, application/grpc+proto, ...). */
export function isGrpcContentType(value: string | undefined): boolean {
  return value !== undefined && value.length >= 16 && value.slice(0, 16).toLowerCase() === "application/grpc";
}

/**
 * The gRPC status for an HTTP status the gateway (or a backend speaking plain
 * HTTP) answered a gRPC call with. 504 (the backend did not answer in time) is
 * DEADLINE_EXCEEDED rather than the table's UNAVAILABLE: it is what the caller
 * experienced, and what grpc-go's and Envoy's gateways say.
 */
export function grpcStatusForHttp(status: number): number {
  switch (status) {
    case 400:
      return GrpcStatus.INTERNAL;
    case 401:
      return GrpcStatus.UNAUTHENTICATED;
    case 403:
      return GrpcStatus.PERMISSION_DENIED;
    case 404:
      return GrpcStatus.UNIMPLEMENTED;
    case 408:
    case 504:
      return GrpcStatus.DEADLINE_EXCEEDED;
    case 413:
    case 431:
      return GrpcStatus.RESOURCE_EXHAUSTED;
    case 429:
    case 502:
    case 503:
      return GrpcStatus.UNAVAILABLE;
    default:
      return status >= 200 && status < 300 ? GrpcStatus.UNKNOWN : status >= 500 ? GrpcStatus.UNAVAILABLE : GrpcStatus.UNKNOWN;
  }
}

/** grpc-message is percent-encoded UTF-8 (gRPC over HTTP/2, "Responses"): everything outside printable ASCII and "%" is escaped. */
export function encodeGrpcMessage(text: string): string {
  const bytes = Buffer.from(text, "utf8");
  let out = "";
  for (const b of bytes) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
