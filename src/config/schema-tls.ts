/** TLS settings of an HTTPS listener (`listeners[].tls`). */
import { z } from "zod";
import { acmeSchema } from "./schema-acme.js";
import { duration } from "./schema-scalars.js";

/**
 * Cipher suites for TLS 1.2, strongest first: ECDHE key exchange with AEAD ciphers
 * only (no CBC, no RSA key exchange, no SHA-1), the set modern browsers and clients
 * negotiate. TLS 1.3's suites are chosen by OpenSSL and always on.
 */
export const DEFAULT_TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

const pem = z
  .string()
  .min(1)
  .meta({ description: 'A PEM file\'s path (relative to the working directory), or the PEM text itself (starting with "-----BEGIN").' });

const hostName = z
  .string()
  .toLowerCase()
  .regex(/^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, {
    message: 'expected a DNS name like "api.example.com" or a wildcard like "*.example.com"',
  });

export const certificateSchema = z
  .strictObject({
    cert: pem.meta({ description: "The certificate chain: the leaf first, then its intermediates (PEM)." }),
    key: pem.meta({ description: "The certificate's private key (PEM, unencrypted)." }),
    names: z
      .array(hostName)
      .min(1)
      .optional()
      .meta({
        description:
          'Server names (SNI) this certificate answers, exact or one-label wildcards ("*.example.com"). Default: the DNS names of the certificate\'s subjectAltName (or its CN when it has none).',
      }),
    ocspResponse: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "A DER-encoded OCSP response file for this certificate, stapled to handshakes that ask for one (refresh the file, e.g. with openssl ocsp from cron; it is watched)." }),
  })
  .meta({ description: "One certificate and its key." });

export const listenerTlsSchema = z
  .strictObject({
    certificates: z
      .array(certificateSchema)
      .default([])
      .meta({
        description:
          "Certificates chosen by the client's server name (SNI): an exact name first, then a wildcard, then the default. Files are watched and reloaded when they change; a file that fails to load keeps the last good certificate (logged, and counted in divisor_tls_certificate_reload_errors_total). At least one, unless acme is set (then a self-signed one stands in as the default).",
      }),
    acme: acmeSchema.optional(),
    defaultCertificate: z
      .number()
      .int()
      .min(0)
      .default(0)
      .meta({ description: "Index in certificates of the one served when the client sends no server name or one no certificate names." }),
    strictSni: z
      .boolean()
      .default(false)
      .meta({ description: "Refuse the handshake (alert unrecognized_name) when the server name matches no certificate, instead of serving the default one." }),
    minVersion: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2").meta({ description: "Oldest TLS version accepted." }),
    maxVersion: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.3").meta({ description: "Newest TLS version offered." }),
    ciphers: z
      .string()
      .min(1)
      .default(DEFAULT_TLS12_CIPHERS)
      .meta({ description: "OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites are always on). Default: ECDHE with AES-GCM or ChaCha20-Poly1305 only." }),
    sessionTimeout: duration
      .default(300_000)
      .meta({ description: "How long a TLS session (ticket) may be resumed without a full handshake." }),
    clientAuth: z
      .strictObject({
        ca: pem.meta({ description: "CA certificates (PEM) that client certificates must chain to." }),
        required: z
          .boolean()
          .default(false)
          .meta({
            description:
              "Refuse the handshake of a client without a valid certificate. false (default): ask for one, and let routers decide with the client-cert middleware (so one listener serves routers with and without mTLS).",
          }),
      })
      .optional()
      .meta({ description: "Ask clients for a certificate (mutual TLS)." }),
    handshakeTimeout: duration.default(10_000).meta({ description: "Time a client has to complete the TLS handshake; then the connection is closed." }),
  })
  .refine((t) => t.certificates.length > 0 || t.acme !== undefined, { message: "an HTTPS listener needs at least one certificate (or acme to get them)", path: ["certificates"] })
  .refine((t) => t.certificates.length === 0 || t.defaultCertificate < t.certificates.length, {
    message: "defaultCertificate is an index into certificates and must be smaller than their number",
    path: ["defaultCertificate"],
  })
  .refine((t) => t.minVersion <= t.maxVersion, { message: "minVersion must not be newer than maxVersion", path: ["minVersion"] })
  .meta({ description: "Makes the listener speak HTTPS (HTTP/1.1 over TLS)." });

export type ListenerTlsConfig = z.output<typeof listenerTlsSchema>;
export type CertificateConfig = z.output<typeof certificateSchema>;

export const upstreamTlsSchema = z
  .strictObject({
    ca: pem
      .optional()
      .meta({ description: "CA certificates (PEM) that backend certificates must chain to, replacing the system's trust store; for a private CA." }),
    verify: z
      .boolean()
      .default(true)
      .meta({ description: "Verify the backend's certificate (chain and name). false accepts any certificate: encryption without authentication, for testing only." }),
    servername: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "Server name sent in SNI and checked against the backend's certificate. Default: the backend's host when it is a name (none for an IP address, whose certificate must then name that IP)." }),
    cert: pem.optional().meta({ description: "Client certificate (PEM) presented to backends that ask for one (mTLS)." }),
    key: pem.optional().meta({ description: "The client certificate's private key (PEM, unencrypted)." }),
    minVersion: z.enum(["TLSv1.2", "TLSv1.3"]).default("TLSv1.2").meta({ description: "Oldest TLS version accepted from backends." }),
  })
  .refine((t) => (t.cert === undefined) === (t.key === undefined), { message: "cert and key go together (both for mTLS, or neither)", path: ["cert"] })
  .meta({ description: "Connect to this service's backends over TLS (HTTPS backends); health checks use it too." });

export type UpstreamTlsConfig = z.output<typeof upstreamTlsSchema>;
