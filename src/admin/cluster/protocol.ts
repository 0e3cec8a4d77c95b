/**
 * The admin API over the cluster IPC channel (`divisor start --workers N`): the
 * primary owns the admin listener, authenticates, and sends each request that a
 * worker must answer as a plain serializable message; the worker runs the same
 * AdminRoute and sends back its answer (in chunks when the body is a stream).
 * Every message carries `divisorAdmin` so other IPC traffic is told apart.
 */
import type { AdminPrincipal, AdminRoute } from "../types.js";

/** An authenticated admin request, as it crosses the IPC channel. */
export interface WireRequest {
  /** `${method} ${path pattern}` of the route, e.g. "GET /debug/pprof/profile". */
  route: string;
  method: string;
  path: string;
  /** The query string without "?". */
  query: string;
  headers: Record<string, string | string[] | undefined>;
  params: Record<string, string>;
  principal: AdminPrincipal;
  /** The body, base64. */
  body: string;
}

/** A body as it crosses the channel: JSON values as they are, bytes as base64. */
export type WireBody = { json: unknown } | { text: string } | { base64: string };

export type ToWorker =
  | { divisorAdmin: "request"; id: number; request: WireRequest }
  | { divisorAdmin: "abort"; id: number }
  /** Asks for the state the admin API changed (gateway.savedState()), answered as a "response" with it as JSON. */
  | { divisorAdmin: "state"; id: number };

export type ToPrimary =
  /** The worker listens for admin requests now (sent once, at start). */
  | { divisorAdmin: "serving"; id: 0 }
  | { divisorAdmin: "response"; id: number; status: number; headers: Record<string, string> | undefined; body: WireBody }
  /** A streamed answer begins; "chunk" messages follow, then "end". */
  | { divisorAdmin: "head"; id: number; status: number; headers: Record<string, string> | undefined }
  | { divisorAdmin: "chunk"; id: number; data: WireBody }
  /** The end of a streamed answer; `error` when it broke off. */
  | { divisorAdmin: "end"; id: number; error?: string };

export function routeKey(route: AdminRoute): string {
  return `${route.method} ${route.path}`;
}

export function toWire(body: unknown): WireBody {
  if (typeof body === "string") return { text: body };
  if (Buffer.isBuffer(body)) return { base64: body.toString("base64") };
  return { json: body };
}

export function fromWire(body: WireBody): unknown {
  if ("text" in body) return body.text;
  if ("base64" in body) return Buffer.from(body.base64, "base64");
  return body.json;
}

export function isAdminMessage(m: unknown): m is { divisorAdmin: string; id: number } {
  return typeof m === "object" && m !== null && typeof (m as { divisorAdmin?: unknown }).divisorAdmin === "string";
}
