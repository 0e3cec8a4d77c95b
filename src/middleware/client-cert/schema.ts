import { z } from "zod";
import { headerName } from "../../config/schema-scalars.js";

const fingerprint = z
  .string()
  .transform((s) => s.toUpperCase())
  .pipe(z.string().regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/, { message: 'expected a SHA-256 fingerprint like "AB:CD:...:EF" (32 hex pairs, as openssl x509 -fingerprint -sha256 prints it)' }));

export const clientCertSchema = z
  .strictObject({
    type: z.literal("client-cert"),
    allow: z
      .strictObject({
        commonNames: z.array(z.string().min(1)).optional().meta({ description: 'Subject common names allowed; "*.example.com" matches one label.' }),
        subjectAltNames: z
          .array(z.string().regex(/^(DNS|URI|email|IP Address):.+$/, { message: 'expected "DNS:name", "URI:spiffe://...", "email:..." or "IP Address:..."' }))
          .optional()
          .meta({ description: 'subjectAltName entries allowed (any one is enough), as OpenSSL prints them: "DNS:svc.internal", "URI:spiffe://prod/web".' }),
        fingerprints: z.array(fingerprint).optional().meta({ description: "SHA-256 fingerprints of certificates allowed (pinning)." }),
      })
      .optional()
      .meta({ description: "Which verified certificates pass; omitted = any certificate that chains to the listener's clientAuth.ca. With several lists, matching any one is enough." }),
    headers: z
      .strictObject({
        subject: headerName.optional().meta({ description: "Header that carries the certificate's subject to the backend." }),
        commonName: headerName.optional().meta({ description: "Header that carries its common name." }),
        subjectAltNames: headerName.optional().meta({ description: "Header that carries its subjectAltName entries, comma-separated." }),
        fingerprint: headerName.optional().meta({ description: "Header that carries its SHA-256 fingerprint." }),
        certificate: headerName.optional().meta({ description: "Header that carries the whole certificate (PEM, URL-encoded, as nginx's $ssl_client_escaped_cert)." }),
      })
      .default({ subject: "X-Client-Cert-Subject", fingerprint: "X-Client-Cert-Fingerprint" })
      .meta({ description: "Headers set on the request to the backend; the same headers sent by the client are always removed, so a client cannot forge them." }),
    status: z.number().int().min(400).max(599).default(403).meta({ description: "Status of a refusal (default 403)." }),
  })
  .meta({ description: "Require a client certificate (mutual TLS) on these routers, and pass who it names to the backend. Needs tls.clientAuth on the listener." });
