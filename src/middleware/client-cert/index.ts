import type { z } from "zod";
import type { ClientCertificate } from "../plugin.js";
import { definePlugin } from "../plugin.js";
import type { clientCertSchema } from "./schema.js";

type Options = z.output<typeof clientCertSchema>;

/** Whether a name matches a pattern: exact (case-insensitive), or "*.example.com" for one label. */
function nameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (!p.startsWith("*.")) return p === n;
  const dot = n.indexOf(".");
  return dot > 0 && n.slice(dot + 1) === p.slice(2);
}

function allowed(allow: Options["allow"], cert: ClientCertificate): boolean {
  if (allow === undefined) return true;
  if (allow.commonNames?.some((p) => nameMatches(p, cert.commonName))) return true;
  if (allow.subjectAltNames?.some((s) => cert.subjectAltNames.includes(s))) return true;
  if (allow.fingerprints?.includes(cert.fingerprint256)) return true;
  return false;
}

/** The PEM of a certificate Node gives as DER, URL-encoded for a header. */
function escapedPem(der: Buffer): string {
  const b64 = der.toString("base64").replace(/.{64}/g, "$&\n");
  return encodeURIComponent(`-----BEGIN CERTIFICATE-----\n${b64}${b64.endsWith("\n") ? "" : "\n"}-----END CERTIFICATE-----\n`);
}

/**
 * `type: client-cert` — mutual TLS per router: refuse requests whose connection
 * presented no certificate, one that does not chain to the listener's
 * clientAuth.ca, or one `allow` does not name; pass its identity to the backend.
 *
 * @example
 * middlewares:
 *   internal-only: { type: client-cert, allow: { subjectAltNames: ["URI:spiffe://prod/billing"] } }
 */
export const clientCertPlugin = definePlugin<Options>({
  name: "client-cert",
  create(options, { metrics }) {
    const decisions = metrics.counter("divisor_client_cert_decisions", "Requests checked by a client-cert middleware, by result (allowed, missing, unverified, denied).", ["result"]);
    const counts = { allowed: decisions.labels("allowed"), missing: decisions.labels("missing"), unverified: decisions.labels("unverified"), denied: decisions.labels("denied") };
    const { allow, headers, status } = options;
    const text = { "content-type": "text/plain; charset=utf-8" };
    const forged = Object.values(headers).filter((h): h is string => h !== undefined);
    return {
      onRequest(ex) {
        const cert = ex.clientCertificate;
        if (cert === null) {
          counts.missing.inc();
          return ex.respond(status, "a client certificate is required (mutual TLS): present one signed by the CA this gateway trusts\n", text);
        }
        if (!cert.verified) {
          counts.unverified.inc();
          return ex.respond(status, `the client certificate did not verify (${cert.verifyError ?? "unknown reason"})\n`, text);
        }
        if (!allowed(allow, cert)) {
          counts.denied.inc();
          return ex.respond(status, "this client certificate is not allowed here\n", text);
        }
        counts.allowed.inc();
        return undefined;
      },
      onUpstreamRequest(ex, head) {
        for (const h of forged) head.headers.delete(h);
        const cert = ex.clientCertificate;
        if (cert === null) return;
        if (headers.subject !== undefined) head.headers.set(headers.subject, cert.subject);
        if (headers.commonName !== undefined) head.headers.set(headers.commonName, cert.commonName);
        if (headers.subjectAltNames !== undefined) head.headers.set(headers.subjectAltNames, cert.subjectAltNames.join(", "));
        if (headers.fingerprint !== undefined) head.headers.set(headers.fingerprint, cert.fingerprint256);
        if (headers.certificate !== undefined && cert.raw.length > 0) head.headers.set(headers.certificate, escapedPem(cert.raw));
      },
    };
  },
});
