/** The admin API's answers: JSON bodies, and errors as `{ error: { code, message } }`. */
import type { AdminResponse } from "./types.js";

/** The admin API's error body: `{ error: { code, message } }`, code stable, message saying what to do. */
export function errorBody(code: string, message: string, extra?: Record<string, unknown>) {
  return { error: { code, message, ...extra } };
}

/** An error answer with a stable code and a message saying what, where and how to fix. */
export function adminError(status: number, code: string, message: string, extra?: Record<string, unknown>): AdminResponse {
  return { status, body: errorBody(code, message, extra) };
}

/** A 200 JSON answer. */
export function ok(body: unknown): AdminResponse {
  return { status: 200, body };
}
