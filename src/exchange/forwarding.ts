// Hot path: proxy semantics of headers (hop-by-hop removal, X-Forwarded-*, Forwarded, Via).
import net from "node:net";
import type { ProxyConfig } from "../config/schema.js";
import type { RawHeaders } from "../http1/types.js";

/** Proxy settings compiled once per runtime table. */
export interface ForwardingPolicy {
  /** Peers whose X-Forwarded-* / Forwarded headers are trusted; null = nobody. */
  readonly trusted: net.BlockList | null;
  readonly xForwarded: boolean;
  readonly forwarded: boolean;
  /** "1.1 name" for Via, or null. */
  readonly via: string | null;
}

/** A BlockList of IPs and CIDRs (validated by the schema). */
export function cidrBlockList(entries: readonly string[]): net.BlockList {
  const list = new net.BlockList();
  for (const entry of entries) {
    const [ip, bits] = entry.split("/") as [string, string | undefined];
    const family = net.isIPv6(ip) ? "ipv6" : "ipv4";
    if (bits === undefined) list.addAddress(ip, family);
    else list.addSubnet(ip, Number(bits), family);
  }
  return list;
}

export function compileForwarding(config: ProxyConfig): ForwardingPolicy {
  const trusted = config.trustedProxies.length > 0 ? cidrBlockList(config.trustedProxies) : null;
  return { trusted, xForwarded: config.forwardedHeaders, forwarded: config.forwarded, via: config.via === undefined ? null : `1.1 ${config.via}` };
}

/** Strip the IPv4-mapped IPv6 prefix Node reports for IPv4 peers on dual-stack sockets. */
export function normalizeIp(address: string | undefined): string {
  if (address === undefined) return "";
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}

export function isTrusted(policy: ForwardingPolicy, ip: string): boolean {
  if (policy.trusted === null || ip === "") return false;
  return policy.trusted.check(ip, net.isIPv6(ip) ? "ipv6" : "ipv4");
}

/**
 * The client's address: the peer, or, when the peer is a trusted proxy, the
 * right-most X-Forwarded-For entry that is not itself a trusted proxy.
 */
export function clientIpFrom(policy: ForwardingPolicy, peerIp: string, xff: string | undefined): string {
  if (xff === undefined || !isTrusted(policy, peerIp)) return peerIp;
  const hops = xff.split(",");
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!.trim();
    if (hop === "") continue;
    if (!net.isIP(hop) || !isTrusted(policy, hop)) return hop;
  }
  return peerIp;
}

// Names we act on, by length, so most headers are ruled out without lowercasing.
const LEN_TE = 2;
const LEN_HOST = 4;
const LEN_UPGRADE = 7;
const LEN_FORWARDED = 9;
const LEN_CONNECTION = 10; // also keep-alive
const LEN_XFF = 15;
const LEN_XFH = 16; // also proxy-connection
const LEN_XFP = 17;

/** Hop-by-hop per RFC 9110 §7.6.1 plus the legacy ones nginx and HAProxy also drop. */
function isHopByHop(lower: string): boolean {
  return lower === "connection" || lower === "keep-alive" || lower === "proxy-connection" || lower === "te" || lower === "upgrade";
}

function mayBeSpecial(len: number): boolean {
  return (
    len === LEN_TE ||
    len === LEN_HOST ||
    len === LEN_UPGRADE ||
    len === LEN_FORWARDED ||
    len === LEN_CONNECTION ||
    len === LEN_XFF ||
    len === LEN_XFH ||
    len === LEN_XFP
  );
}

export interface UpstreamHeaderInput {
  raw: RawHeaders;
  connectionTokens: string[] | null;
  /** Keep Upgrade/Connection: upgrade (WebSocket). */
  upgrade: boolean;
  peerIp: string;
  peerTrusted: boolean;
  scheme: string;
  /** Host header as the client sent it ("" when absent). */
  host: string;
  /** Host header to send: null keeps the client's. */
  hostOverride: string | null;
}

/**
 * Headers for the request to the backend, in the client's order, minus hop-by-hop
 * fields (and every field named in Connection), with forwarding headers set.
 */
export function upstreamRequestHeaders(policy: ForwardingPolicy, input: UpstreamHeaderInput): RawHeaders {
  const { raw, connectionTokens, peerTrusted } = input;
  const out: RawHeaders = [];
  let xff: string | undefined;
  let xfp: string | undefined;
  let xfh: string | undefined;
  let fwd: string | undefined;
  let upgradeValue: string | undefined;
  let sawHost = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (mayBeSpecial(name.length) || connectionTokens !== null) {
      const lower = name.toLowerCase();
      if (isHopByHop(lower)) {
        if (lower === "upgrade") upgradeValue = value;
        continue;
      }
      if (connectionTokens?.includes(lower)) continue;
      if (lower === "host") {
        sawHost = true;
        if (input.hostOverride !== null) continue;
      } else if (policy.xForwarded && lower === "x-forwarded-for") {
        if (peerTrusted) xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      } else if (policy.xForwarded && lower === "x-forwarded-proto") {
        if (peerTrusted) xfp = value;
        continue;
      } else if (policy.xForwarded && lower === "x-forwarded-host") {
        if (peerTrusted) xfh = value;
        continue;
      } else if (policy.forwarded && lower === "forwarded") {
        if (peerTrusted) fwd = fwd === undefined ? value : `${fwd}, ${value}`;
        continue;
      }
    }
    out.push(name, value);
  }
  if (input.hostOverride !== null || !sawHost) out.push("Host", input.hostOverride ?? input.host);
  if (input.upgrade && upgradeValue !== undefined) out.push("Connection", "upgrade", "Upgrade", upgradeValue);
  if (policy.xForwarded) {
    const ip = input.peerIp;
    out.push("X-Forwarded-For", xff === undefined ? ip : `${xff}, ${ip}`);
    out.push("X-Forwarded-Proto", xfp ?? input.scheme);
    if (input.host !== "") out.push("X-Forwarded-Host", xfh ?? input.host);
  }
  if (policy.forwarded) {
    const ip = input.peerIp;
    const node = net.isIPv6(ip) ? `"[${ip}]"` : ip;
    let element = `for=${node};proto=${input.scheme}`;
    if (input.host !== "") element += `;host="${input.host}"`;
    out.push("Forwarded", fwd === undefined ? element : `${fwd}, ${element}`);
  }
  if (policy.via !== null) out.push("Via", policy.via);
  return out;
}

/**
 * Strip hop-by-hop fields from a backend's response, in place. Transfer-Encoding
 * and Content-Length stay: the body is relayed with its framing unchanged.
 */
export function stripResponseHopByHop(raw: RawHeaders, connectionTokens: string[] | null, keepUpgrade: boolean): void {
  let w = 0;
  for (let r = 0; r < raw.length; r += 2) {
    const name = raw[r]!;
    if (mayBeSpecial(name.length) || connectionTokens !== null) {
      const lower = name.toLowerCase();
      const drop =
        (isHopByHop(lower) && !(keepUpgrade && (lower === "upgrade" || lower === "connection"))) ||
        (connectionTokens !== null && !keepUpgrade && connectionTokens.includes(lower));
      if (drop) continue;
    }
    raw[w] = name;
    raw[w + 1] = raw[r + 1]!;
    w += 2;
  }
  raw.length = w;
}

/** Serialize a request head for the backend (always HTTP/1.1). */
export function serializeRequestHead(method: string, target: string, headers: RawHeaders): string {
  let s = `${method} ${target} HTTP/1.1\r\n`;
  for (let i = 0; i < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${s}\r\n`;
}

/** Serialize a response head for the client. */
export function serializeResponseHead(status: number, reason: string, headers: RawHeaders): string {
  let s = `HTTP/1.1 ${status} ${reason}\r\n`;
  for (let i = 0; i < headers.length; i += 2) s += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${s}\r\n`;
}

/** Value of cookie `name` in a Cookie header, or undefined. */
export function findCookie(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let i = 0;
  while (i < header.length) {
    while (header.charCodeAt(i) === 32 || header.charCodeAt(i) === 59) i++;
    const eq = header.indexOf("=", i);
    if (eq < 0) return undefined;
    let end = header.indexOf(";", eq);
    if (end < 0) end = header.length;
    if (eq - i === name.length && header.startsWith(name, i)) {
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      return value;
    }
    i = end + 1;
  }
  return undefined;
}
