// PROXY protocol v1 (text) and v2 (binary), as an L4 balancer (HAProxy, AWS NLB,
// GCP, DigitalOcean) sends it before the client's bytes: who the client really is.
// Parsed once per connection, before HTTP or TLS; nothing here runs per request.
import net from "node:net";

/** What a PROXY header says about the connection. */
export interface ProxyHeader {
  readonly version: 1 | 2;
  /** The client's address and port, or null for LOCAL (v2) / UNKNOWN (v1): the balancer's own connection (e.g. a health check). */
  readonly source: { readonly address: string; readonly port: number } | null;
}

export class ProxyProtocolError extends Error {}

const V1_PREFIX = Buffer.from("PROXY ", "latin1");
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** The longest v1 line, CRLF included (spec section 2.1). */
const V1_MAX = 107;
/** v2 headers longer than this (addresses plus TLVs) are refused rather than buffered. */
const V2_MAX = 16 + 2048;

/** Whether `buf` is a (possibly partial) start of `prefix`, or starts with all of it. */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

/**
 * Reads a PROXY header at the start of `buf`. Returns the header and its length,
 * `null` when more bytes are needed to tell, or `"none"` when the connection does
 * not start with one. Throws ProxyProtocolError on a malformed header.
 */
export function parseProxyHeader(buf: Buffer): { header: ProxyHeader; length: number } | null | "none" {
  if (buf.length === 0) return null;
  if (startsLike(buf, V2_SIGNATURE)) return buf.length < 16 ? null : parseV2(buf);
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? null : parseV1(buf);
  return "none";
}

function parseV1(buf: Buffer): { header: ProxyHeader; length: number } | null {
  const end = buf.indexOf("\r\n", 0, "latin1");
  if (end < 0) {
    if (buf.length >= V1_MAX) throw new ProxyProtocolError(`PROXY v1 line longer than ${V1_MAX} bytes`);
    return null;
  }
  if (end + 2 > V1_MAX) throw new ProxyProtocolError(`PROXY v1 line longer than ${V1_MAX} bytes`);
  const parts = buf.toString("latin1", 0, end).split(" ");
  const length = end + 2;
  if (parts[1] === "UNKNOWN") return { header: { version: 1, source: null }, length };
  if (parts.length !== 6) throw new ProxyProtocolError(`PROXY v1 line has ${parts.length} fields, expected 6`);
  const [, proto, src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const family = proto === "TCP4" ? 4 : proto === "TCP6" ? 6 : 0;
  if (family === 0) throw new ProxyProtocolError(`PROXY v1 protocol "${proto}" is not TCP4, TCP6 or UNKNOWN`);
  if (net.isIP(src) !== family || net.isIP(dst) !== family) throw new ProxyProtocolError(`PROXY v1 addresses are not ${proto} addresses`);
  const port = (p: string) => (/^(0|[1-9]\d{0,4})$/.test(p) && Number(p) <= 65535 ? Number(p) : -1);
  if (port(sport) < 0 || port(dport) < 0) throw new ProxyProtocolError("PROXY v1 ports must be 0..65535");
  return { header: { version: 1, source: { address: src, port: port(sport) } }, length };
}

function parseV2(buf: Buffer): { header: ProxyHeader; length: number } | null {
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) throw new ProxyProtocolError(`PROXY v2 version ${verCmd >> 4}, expected 2`);
  const command = verCmd & 0x0f;
  if (command > 1) throw new ProxyProtocolError(`PROXY v2 command ${command} is neither LOCAL nor PROXY`);
  const family = buf[13]!;
  const len = buf.readUInt16BE(14);
  if (16 + len > V2_MAX) throw new ProxyProtocolError(`PROXY v2 header of ${16 + len} bytes is over ${V2_MAX}`);
  if (buf.length < 16 + len) return null;
  const length = 16 + len;
  // LOCAL: the balancer speaks for itself; UNSPEC, UDP and UNIX sources carry no TCP client address.
  if (command === 0) return { header: { version: 2, source: null }, length };
  if (family === 0x11) {
    if (len < 12) throw new ProxyProtocolError("PROXY v2 TCP4 addresses are truncated");
    const address = `${buf[16]}.${buf[17]}.${buf[18]}.${buf[19]}`;
    return { header: { version: 2, source: { address, port: buf.readUInt16BE(24) } }, length };
  }
  if (family === 0x21) {
    if (len < 36) throw new ProxyProtocolError("PROXY v2 TCP6 addresses are truncated");
    const groups: string[] = [];
    for (let i = 0; i < 8; i++) groups.push(buf.readUInt16BE(16 + i * 2).toString(16));
    // Through SocketAddress for the canonical (compressed) form of the address.
    const address = new net.SocketAddress({ address: groups.join(":"), family: "ipv6" }).address;
    return { header: { version: 2, source: { address, port: buf.readUInt16BE(48) } }, length };
  }
  return { header: { version: 2, source: null }, length };
}

/** An address and port as a PROXY header carries them. */
export interface ProxyEndpoint {
  readonly address: string;
  readonly port: number;
}

function v6Bytes(address: string): Buffer {
  const mapped = net.isIPv4(address) ? `::ffff:${address}` : address;
  const out = Buffer.alloc(16);
  // SocketAddress gives no bytes; expand "::" by hand.
  const [head, tail] = mapped.includes("::") ? mapped.split("::") : [mapped, undefined];
  const parse = (part: string | undefined): number[] => {
    if (part === undefined || part === "") return [];
    return part.split(":").flatMap((g) => {
      if (g.includes(".")) {
        const [a, b, c, d] = g.split(".").map(Number) as [number, number, number, number];
        return [(a << 8) | b, (c << 8) | d];
      }
      return [Number.parseInt(g, 16)];
    });
  };
  const h = parse(head);
  const t = parse(tail);
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  for (let i = 0; i < groups.length; i++) out.writeUInt16BE(groups[i]!, i * 2);
  return out;
}

/**
 * The PROXY header a backend gets before the client's bytes: `source` is the
 * client, `destination` the address the client connected to. Addresses of
 * different families go as IPv6 (IPv4-mapped).
 */
export function proxyHeaderBytes(version: 1 | 2, source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const four = net.isIPv4(source.address) && net.isIPv4(destination.address);
  if (version === 1) {
    if (four) return Buffer.from(`PROXY TCP4 ${source.address} ${destination.address} ${source.port} ${destination.port}\r\n`, "latin1");
    const v6 = (a: string) => (net.isIPv4(a) ? `::ffff:${a}` : a);
    return Buffer.from(`PROXY TCP6 ${v6(source.address)} ${v6(destination.address)} ${source.port} ${destination.port}\r\n`, "latin1");
  }
  const body = four ? Buffer.alloc(12) : Buffer.alloc(36);
  if (four) {
    Buffer.from(source.address.split(".").map(Number)).copy(body, 0);
    Buffer.from(destination.address.split(".").map(Number)).copy(body, 4);
    body.writeUInt16BE(source.port, 8);
    body.writeUInt16BE(destination.port, 10);
  } else {
    v6Bytes(source.address).copy(body, 0);
    v6Bytes(destination.address).copy(body, 16);
    body.writeUInt16BE(source.port, 32);
    body.writeUInt16BE(destination.port, 34);
  }
  const head = Buffer.alloc(4);
  head[0] = 0x21; // version 2, PROXY
  head[1] = four ? 0x11 : 0x21; // TCP over IPv4 / IPv6
  head.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, body]);
}
