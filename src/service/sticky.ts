// Hot path: sticky sessions by cookie, over any balancer.
import type { StickyConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { hash32 } from "./balancers/hash.js";
import type { BackendState } from "./balancers/types.js";

/** RFC 6265 §4.1.1 cookie-name: an RFC 9110 token. */
const COOKIE_NAME_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Sticky sessions of one service: which backend a cookie names, and the cookie for a backend. */
export interface Sticky {
  /** The backend the cookie value names, if it is still available; otherwise undefined (re-balance and re-set). */
  find(cookieValue: string | undefined): BackendState | undefined;
  /** The cookie value naming the backend. */
  valueFor(backend: BackendState): string;
  /** The whole Set-Cookie field value pinning the client to the backend. */
  setCookieHeader(backend: BackendState): string;
}

/**
 * Sticky sessions: the first response sets a cookie naming its backend, and later
 * requests carrying it go back there while that backend is available.
 *
 * The value is 12 base64url characters of three seeded hashes of the backend id: stable across
 * restarts, reloads and gateway instances, and it does not show the backend's address
 * (it is not a secret either: whoever knows the service and its addresses can compute it).
 * A drained backend (weight 0, or the admin API's drain) keeps its sticky clients, as
 * HAProxy's drain state does, so sessions can finish; only an unavailable backend loses them.
 *
 * @example
 * const sticky = createSticky(backends, { cookie: "srv", secure: true, httpOnly: true, sameSite: "Lax" });
 * const pinned = sticky.find(ctx.cookie("srv")) ?? balancer.select(ctx);
 * // response: Set-Cookie: sticky.setCookieHeader(pinned)
 */
export function createSticky(backends: readonly BackendState[], config: StickyConfig): Sticky {
  if (!COOKIE_NAME_RE.test(config.cookie)) {
    throw new ConfigError([
      { file: "<object>", line: 0, column: 0, path: "sticky.cookie", message: `${JSON.stringify(config.cookie)} is not a valid cookie name (token characters only)` },
    ]);
  }
  const attributes = cookieAttributes(config);
  const byValue = new Map<string, BackendState>();
  const values = new Map<BackendState, string>();
  const headers = new Map<BackendState, string>();
  for (const backend of backends) {
    const value = stickyValue(backend);
    byValue.set(value, backend);
    values.set(backend, value);
    headers.set(backend, `${config.cookie}=${value}${attributes}`);
  }
  return {
    find(cookieValue) {
      if (cookieValue === undefined) return undefined;
      const backend = byValue.get(cookieValue);
      return backend !== undefined && (backend.available || backend.drained) ? backend : undefined;
    },
    valueFor(backend) {
      return values.get(backend) ?? stickyValue(backend);
    },
    setCookieHeader(backend) {
      return headers.get(backend) ?? `${config.cookie}=${stickyValue(backend)}${attributes}`;
    },
  };
}

/** 72 bits of three seeded 32-bit hashes of the backend id, as 12 base64url characters. */
function stickyValue(backend: BackendState): string {
  const bytes = Buffer.allocUnsafe(12);
  bytes.writeUInt32BE(hash32(backend.id, 0x811c9dc5), 0);
  bytes.writeUInt32BE(hash32(backend.id, 0x01000193), 4);
  bytes.writeUInt32BE(hash32(backend.id, 0x9e3779b9), 8);
  return bytes.toString("base64url").slice(0, 12);
}

/** `; Path=/; Max-Age=…; HttpOnly; Secure; SameSite=…` as configured (also used by routers' traffic splits). */
export function cookieAttributes(config: Omit<StickyConfig, "cookie">): string {
  let s = "; Path=/";
  if (config.maxAge !== undefined) s += `; Max-Age=${Math.floor(config.maxAge / 1000)}`;
  if (config.httpOnly) s += "; HttpOnly";
  // Browsers drop a SameSite=None cookie that is not Secure, which would silently break stickiness.
  if (config.secure || config.sameSite === "None") s += "; Secure";
  return `${s}; SameSite=${config.sameSite}`;
}
