// Hot path: responses the gateway writes itself (errors, middleware answers).
import type { HttpsRedirect } from "./types.js";
import type { DirectResponse } from "../middleware/plugin.js";
import { STATUS_REASON } from "./status.js";

export { STATUS_REASON };

/** A short plain-text error naming the cause, e.g. "502 Bad Gateway: the backend refused the connection". */
export function errorResponse(status: number, cause: string, headers: Record<string, string> = NO_HEADERS): DirectResponse {
  return { status, headers, body: `${status} ${STATUS_REASON[status] ?? "Error"}: ${cause}\n` };
}

const NO_HEADERS: Record<string, string> = {};

/** The redirect a redirectToHttps listener answers with: same host and target, over HTTPS. */
export function httpsRedirectResponse(redirect: HttpsRedirect, request: { readonly host: string; readonly path: string; readonly query: string }): DirectResponse {
  if (request.host === "") return errorResponse(400, "a request without a Host header cannot be redirected to HTTPS");
  const location = `https://${request.host}${redirect.port === 443 ? "" : `:${redirect.port}`}${request.path}${request.query}`;
  return { status: redirect.status, headers: { Location: location }, body: "" };
}

/** Path prefix of ACME HTTP-01 validation requests (RFC 8555 8.3). */
export const ACME_CHALLENGE_PREFIX = "/.well-known/acme-challenge/";

/** The answer to an HTTP-01 validation: the key authorization, or 404 for a token no order has. */
export function acmeChallengeResponse(keyAuthorization: string | null): DirectResponse {
  if (keyAuthorization === null) return errorResponse(404, "no ACME challenge is in progress with this token");
  return { status: 200, headers: { "Content-Type": "application/octet-stream" }, body: keyAuthorization };
}

/** 503s from overload or missing backends tell clients when to come back. */
export const RETRY_AFTER: Record<string, string> = { "Retry-After": "1" };

/** Head of a response produced by the gateway itself. */
export function directResponseHead(res: DirectResponse, length: number, close: boolean, versionMinor: number): string {
  let s = `HTTP/1.1 ${res.status} ${STATUS_REASON[res.status] ?? "Unknown"}\r\n`;
  let hasType = false;
  for (const name in res.headers) {
    const lower = name.toLowerCase();
    if (lower === "content-length" || lower === "connection" || lower === "transfer-encoding") continue;
    if (lower === "content-type") hasType = true;
    const value = res.headers[name]!;
    if (typeof value === "string") s += `${name}: ${value}\r\n`;
    else for (const v of value) s += `${name}: ${v}\r\n`;
  }
  if (!hasType && length > 0) s += "Content-Type: text/plain; charset=utf-8\r\n";
  // A 304 carries no body and its Content-Length would describe the 200's (RFC 9110 §8.6): none is sent.
  if (res.status !== 304) s += `Content-Length: ${length}\r\n`;
  if (close) s += "Connection: close\r\n";
  else if (versionMinor === 0) s += "Connection: keep-alive\r\n";
  return `${s}\r\n`;
}
