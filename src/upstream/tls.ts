// TLS to backends (HTTPS services): one secure context per service, made when the
// configuration is compiled; connections then only pay for their handshake.
import { isIP } from "node:net";
import net from "node:net";
import tls from "node:tls";
import type { UpstreamTlsConfig } from "../config/schema-tls.js";
import { ConfigError, UpstreamError } from "../errors.js";
import { readPem } from "../listener/tls.js";

/** How a service's backends are reached over TLS. */
export interface UpstreamTls {
  readonly context: tls.SecureContext;
  /** Configured SNI name; else each backend's host when it is a name. */
  readonly servername: string | undefined;
  readonly verify: boolean;
}

/** Builds a service's TLS settings; `where` is its path in the document (e.g. "services.api.tls"). */
export function upstreamTls(config: UpstreamTlsConfig, where: string, file: string): UpstreamTls {
  const read = (key: "ca" | "cert" | "key", value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    try {
      return readPem(value);
    } catch (err) {
      throw new ConfigError([{ file, line: 0, column: 0, path: `${where}.${key}`, message: `cannot read it: ${(err as Error).message}; give a readable PEM file's path or the PEM text` }]);
    }
  };
  const ca = read("ca", config.ca);
  const cert = read("cert", config.cert);
  const key = read("key", config.key);
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext({ ca, cert, key, minVersion: config.minVersion });
  } catch (err) {
    const message = (err as Error).message;
    const path = /key values mismatch/i.test(message) ? "key" : ca !== undefined && cert === undefined ? "ca" : "cert";
    throw new ConfigError([{ file, line: 0, column: 0, path: `${where}.${path}`, message: `cannot use it: ${message}` }]);
  }
  return { context, servername: config.servername, verify: config.verify };
}

/** The SNI name for one backend. */
export function servernameFor(t: UpstreamTls, host: string): string | undefined {
  return t.servername ?? (isIP(host) === 0 ? host : undefined);
}

/**
 * Opens a connection to a backend, over TLS when `t` is set; `ready` is the event
 * that says it can carry a request ("connect", or "secureConnect" after the handshake).
 */
export function connectBackend(host: string, port: number, t: UpstreamTls | null, preamble: Buffer | null = null): { socket: net.Socket; ready: "connect" | "secureConnect" } {
  if (t === null) {
    const plain = net.connect({ host, port, noDelay: true });
    // Written first, before anything the exchange sends (a PROXY header).
    if (preamble !== null) plain.write(preamble);
    return { socket: plain, ready: "connect" };
  }
  // A PROXY header goes before the TLS handshake, on the raw connection.
  let raw: net.Socket | undefined;
  if (preamble !== null) {
    raw = net.connect({ host, port, noDelay: true });
    raw.write(preamble);
  }
  const socket = tls.connect({
    ...(raw === undefined ? {} : { socket: raw }),
    host,
    port,
    servername: servernameFor(t, host),
    secureContext: t.context,
    rejectUnauthorized: t.verify,
    ALPNProtocols: ["http/1.1"],
  });
  socket.setNoDelay(true);
  return { socket, ready: "secureConnect" };
}

/** Node's codes for a TLS failure (certificate or protocol) rather than a network one. */
export function isTlsFailure(err: NodeJS.ErrnoException): boolean {
  const code = err.code ?? "";
  return (
    code.startsWith("ERR_TLS_") ||
    code.startsWith("ERR_SSL_") ||
    /CERT|SELF_SIGNED|UNABLE_TO_|_SIGNATURE|HOSTNAME/.test(code) ||
    /ssl|tls|certificate/i.test(err.message)
  );
}

/** The UpstreamError of a failed connect: a TLS failure says what did not verify. */
export function connectFailure(err: NodeJS.ErrnoException, address: string): UpstreamError {
  if (err.code === "ECONNREFUSED") return new UpstreamError("connect-refused", `connecting to backend ${address} failed: ${err.code}`, { cause: err });
  if (isTlsFailure(err)) return new UpstreamError("tls-error", `the TLS handshake with backend ${address} failed: ${err.code ?? ""} ${err.message}`.replace("  ", " "), { cause: err });
  return new UpstreamError("connect-error", `connecting to backend ${address} failed: ${err.code ?? err.message}`, { cause: err });
}
