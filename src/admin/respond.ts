/** The admin API's answers: JSON bodies, and errors as `{ error: { code, message } }`. */
import type { AdminResponse } from "./types.js";

/** An error answer with a stable code and a message saying what, where and how to fix. */
export function adminError(status: number, code: string, message: string, extra?: Record<string, unknown>): AdminResponse {
  return { status, body: { error: { code, message, ...extra } } };
}

/** A 200 JSON answer. */
export function ok(body: unknown): AdminResponse {
  return { status: 200, body };
}
