// Reads the server name and ALPN offers of a TLS ClientHello from the first bytes of
// a connection, without consuming them (RFC 8446 4.1.2, RFC 6066 3, RFC 7301 3.1):
// Node's SNICallback cannot see ALPN, and a tls-alpn-01 validation (RFC 8737) must get
// the challenge certificate, so the listener looks before the TLS server does.

/** What a ClientHello offers, as far as choosing a TLS context goes. */
export interface ClientHelloInfo {
  servername: string | null;
  alpn: string[];
}

/** Largest ClientHello we wait for (a record's 16 KiB plus one more record header). */
export const MAX_CLIENT_HELLO = 16 * 1024 + 5 + 4;

/**
 * The hello in `buf`, or null when more bytes are needed, or "other" when the bytes
 * are not a TLS handshake (or a malformed one: the TLS server will refuse it itself).
 */
export function parseClientHello(buf: Buffer): ClientHelloInfo | null | "other" {
  // Handshake messages may span records: gather the fragments of the first records.
  const parts: Buffer[] = [];
  let at = 0;
  let gathered = 0;
  let needed = -1;
  while (needed < 0 || gathered < needed) {
    if (buf.length < at + 5) return buf.length >= MAX_CLIENT_HELLO ? "other" : null;
    if (buf[at] !== 22 || buf[at + 1] !== 3) return "other";
    const recordLength = buf.readUInt16BE(at + 3);
    if (buf.length < at + 5 + recordLength) return null;
    const fragment = buf.subarray(at + 5, at + 5 + recordLength);
    parts.push(fragment);
    gathered += fragment.length;
    at += 5 + recordLength;
    if (needed < 0 && gathered >= 4) {
      const head = parts.length === 1 ? fragment : Buffer.concat(parts);
      if (head[0] !== 1) return "other";
      needed = 4 + head.readUIntBE(1, 3);
      if (needed > MAX_CLIENT_HELLO) return "other";
    }
  }
  const hello = (parts.length === 1 ? parts[0]! : Buffer.concat(parts)).subarray(4, needed);
  try {
    return readHello(hello);
  } catch {
    return "other";
  }
}

function readHello(h: Buffer): ClientHelloInfo {
  let p = 2 + 32; // legacy_version, random
  p += 1 + h[p]!; // session id
  p += 2 + h.readUInt16BE(p); // cipher suites
  p += 1 + h[p]!; // compression methods
  const info: ClientHelloInfo = { servername: null, alpn: [] };
  if (p >= h.length) return info;
  const end = p + 2 + h.readUInt16BE(p);
  p += 2;
  if (end > h.length) throw new RangeError("extensions overrun the hello");
  while (p + 4 <= end) {
    const type = h.readUInt16BE(p);
    const length = h.readUInt16BE(p + 2);
    const body = h.subarray(p + 4, p + 4 + length);
    p += 4 + length;
    if (type === 0) {
      // server_name_list: (type 1 byte, length 2 bytes, name)*; host_name is type 0.
      let q = 2;
      while (q + 3 <= body.length) {
        const nameLength = body.readUInt16BE(q + 1);
        if (body[q] === 0) info.servername = body.toString("latin1", q + 3, q + 3 + nameLength).toLowerCase();
        q += 3 + nameLength;
      }
    } else if (type === 16) {
      // protocol_name_list: (length 1 byte, name)*.
      let q = 2;
      while (q < body.length) {
        const l = body[q]!;
        info.alpn.push(body.toString("latin1", q + 1, q + 1 + l));
        q += 1 + l;
      }
    }
  }
  return info;
}
