// The client's TLS certificate, read from the socket when a middleware asks (never per request otherwise).
import type net from "node:net";
import type tls from "node:tls";
import type { ClientCertificate } from "../middleware/plugin.js";

function dn(fields: Record<string, string | string[]> | undefined): string {
  if (fields === undefined) return "";
  return Object.entries(fields)
    .flatMap(([k, v]) => (Array.isArray(v) ? v.map((x) => `${k}=${x}`) : [`${k}=${v}`]))
    .join(",");
}

/** The certificate a TLS client presented, or null (no TLS, or no certificate sent). */
export function clientCertificateOf(socket: net.Socket): ClientCertificate | null {
  const s = socket as tls.TLSSocket;
  if (s.encrypted !== true) return null;
  const peer = s.getPeerCertificate();
  if (peer === null || peer === undefined || Object.keys(peer).length === 0) return null;
  const cn = peer.subject?.CN;
  const error = s.authorizationError;
  return {
    verified: s.authorized === true,
    verifyError: s.authorized ? null : typeof error === "string" ? error : error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : null,
    subject: dn(peer.subject as unknown as Record<string, string | string[]>),
    commonName: Array.isArray(cn) ? (cn[0] ?? "") : (cn ?? ""),
    issuer: dn(peer.issuer as unknown as Record<string, string | string[]>),
    subjectAltNames: peer.subjectaltname === undefined ? [] : peer.subjectaltname.split(/,\s*/),
    fingerprint256: peer.fingerprint256,
    serialNumber: peer.serialNumber,
    validFrom: peer.valid_from,
    validTo: peer.valid_to,
    raw: peer.raw,
  };
}
