/** Compiled key parts of a rate limit, and the key of one exchange built from them. */
import type { Exchange } from "../plugin.js";

const CLIENT_IP = 0;
const ROUTER = 1;
const TENANT = 2;
const HEADER = 3;
const COOKIE = 4;
const JWT_CLAIM = 5;

export interface KeyPart {
  readonly kind: number;
  /** Header name (lowercased), cookie name or claim name. */
  readonly name: string;
}

/** Compile the `key` option (validated by the schema) once, in create(). */
export function compileKey(parts: readonly string[]): KeyPart[] {
  return parts.map((part): KeyPart => {
    if (part === "client-ip") return { kind: CLIENT_IP, name: "" };
    if (part === "router") return { kind: ROUTER, name: "" };
    if (part === "tenant") return { kind: TENANT, name: "" };
    const colon = part.indexOf(":");
    const prefix = part.slice(0, colon);
    const name = part.slice(colon + 1);
    if (prefix === "header") return { kind: HEADER, name: name.toLowerCase() };
    if (prefix === "cookie") return { kind: COOKIE, name };
    return { kind: JWT_CLAIM, name };
  });
}

function part(exchange: Exchange, p: KeyPart): string {
  switch (p.kind) {
    case CLIENT_IP:
      return exchange.request.clientIp;
    case ROUTER:
      return exchange.router ?? "";
    case TENANT:
      return exchange.tenant ?? "";
    case HEADER:
      return exchange.request.headers.get(p.name) ?? "";
    case COOKIE:
      return cookie(exchange.request.headers.get("cookie"), p.name);
    default:
      return jwtClaim(exchange.request.headers.get("authorization"), p.name);
  }
}

/** The key of this exchange: its parts joined by NUL (which no header value holds). */
export function keyOf(exchange: Exchange, parts: readonly KeyPart[]): string {
  let key = part(exchange, parts[0]!);
  for (let i = 1; i < parts.length; i++) key += `\u0000${part(exchange, parts[i]!)}`;
  return key;
}

/** Value of cookie `name` in a Cookie header (RFC 6265 §5.4: "a=1; b=2"), or "". */
export function cookie(header: string | undefined, name: string): string {
  if (header === undefined) return "";
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(";", start);
    if (end === -1) end = header.length;
    while (header.charCodeAt(start) === 32) start++;
    const eq = header.indexOf("=", start);
    if (eq !== -1 && eq < end && eq - start === name.length && header.startsWith(name, start)) return header.slice(eq + 1, end).trim();
    start = end + 1;
  }
  return "";
}

/**
 * Claim `name` of the payload of a `Bearer` JWT, or "" when there is none. The token
 * is decoded, NOT verified: put an authenticating middleware before this one when a
 * forged claim must not buy a fresh quota.
 */
export function jwtClaim(authorization: string | undefined, name: string): string {
  if (authorization === undefined || authorization.length < 8 || authorization.slice(0, 7).toLowerCase() !== "bearer ") return "";
  const first = authorization.indexOf(".", 7);
  const second = first === -1 ? -1 : authorization.indexOf(".", first + 1);
  if (second === -1) return "";
  try {
    const payload: unknown = JSON.parse(Buffer.from(authorization.slice(first + 1, second), "base64url").toString("utf8"));
    if (typeof payload !== "object" || payload === null) return "";
    const value = (payload as Record<string, unknown>)[name];
    if (value === undefined || value === null) return "";
    return typeof value === "string" ? value : JSON.stringify(value);
  } catch {
    return "";
  }
}
