/**
 * Pieces the authentication middlewares (basic-auth, api-key, ...) share: the
 * header-name type of their schemas, the decision counter every one of them
 * reports to, and the constant-time comparison of secrets.
 */
import { createRequire } from "node:module";
import { z } from "zod";
import type { MetricCell, PluginMetrics } from "../observability/metrics/plugin-metrics.js";

/** An HTTP header name (RFC 9110 token). */
export { headerName as authHeaderName } from "../config/schema-scalars.js";

/** Outcomes counted in divisor_auth_decisions_total{result}. */
export interface AuthDecisions {
  /** Credentials were valid; the request goes on. */
  readonly allowed: MetricCell;
  /** No credentials were sent. */
  readonly missing: MetricCell;
  /** Credentials were sent but are wrong (unknown user or key, bad password, bad token). */
  readonly invalid: MetricCell;
  /** The check itself failed (auth service down, keys unavailable). */
  readonly error: MetricCell;
}

/** Declare (or join) divisor_auth_decisions_total and keep one cell per result. */
export function authDecisions(metrics: PluginMetrics): AuthDecisions {
  const family = metrics.counter("divisor_auth_decisions", "Decisions of authentication middlewares, by result (allowed, missing, invalid, error).", ["result"]);
  return { allowed: family.labels("allowed"), missing: family.labels("missing"), invalid: family.labels("invalid"), error: family.labels("error") };
}

// node:crypto is loaded by the first middleware that needs it, not at start: a gateway
// without authentication never loads it (start-up time and RSS are bench targets).
const requireHere = createRequire(import.meta.url);
let crypto: typeof import("node:crypto") | undefined;

/** node:crypto, loaded on first use. */
export function nodeCrypto(): typeof import("node:crypto") {
  crypto ??= requireHere("node:crypto") as typeof import("node:crypto");
  return crypto;
}

/** SHA-256 of a string, as a Buffer. */
export function sha256(text: string | Buffer): Buffer {
  return nodeCrypto().createHash("sha256").update(text).digest();
}

/** Compare two secrets in time independent of where they differ (both hashed to equal length first). */
export function secretsEqual(a: Buffer, b: Buffer): boolean {
  return nodeCrypto().timingSafeEqual(sha256(a), sha256(b));
}

/** A realm, written inside a quoted-string of a WWW-Authenticate challenge. */
export const authRealm = z.string().regex(/^[^"\\\r\n]*$/, { message: "a realm may not contain quotes, backslashes or line breaks" });

/** An http:// or https:// URL (of a key set, an identity provider, an auth service). */
export const authHttpUrl = z.string().refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { message: "expected an http:// or https:// URL" });
