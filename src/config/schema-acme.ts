/** Automatic certificates over ACME (RFC 8555) for an HTTPS listener (`listeners[].tls.acme`). */
import { z } from "zod";
import { duration } from "./schema-scalars.js";

const NAME_RE = /^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

const exactHost = z
  .string()
  .toLowerCase()
  .regex(NAME_RE, { message: 'expected a DNS name like "shop.example.com"' })
  .refine((h) => !h.startsWith("*."), {
    message: 'a wildcard certificate needs the dns-01 challenge, which Divisor does not do; list the names, or allow the pattern in onDemand ("*.example.com" issues one certificate per name on first use)',
  });

const hostPatternAcme = z
  .string()
  .toLowerCase()
  .regex(NAME_RE, { message: 'expected a DNS name like "shop.example.com" or a one-label wildcard like "*.customers.example.com"' });

// Plain strings with a pattern (not z.url / z.email): the JSON Schema stays free of "format" keywords editors and validators may not know.
const url = z
  .string()
  .regex(/^https?:\/\/[^\s/]+\S*$/, { message: 'expected an http:// or https:// URL, e.g. "https://acme-v02.api.letsencrypt.org/directory"' })
  .refine((v) => !/^https?:\/\//.test(v) || URL.canParse(v), { message: "not a valid URL (check the host, and that the port is 1..65535)" });

export const acmeStorageSchema = z
  .discriminatedUnion("type", [
    z
      .strictObject({
        type: z.literal("file"),
        path: z.string().min(1).meta({ description: "Directory for the account key, certificates, keys and challenge tokens (created with mode 0700). Instances that share it (an NFS mount) share certificates; the lock is a file made with O_EXCL." }),
      })
      .meta({ description: "Store on local disk." }),
    z
      .strictObject({
        type: z.literal("redis"),
        url: z.string().min(1).meta({ description: 'Redis URL, "redis://[:password@]host:port[/db]".' }),
        keyPrefix: z.string().default("divisor:acme:").meta({ description: "Prefix of every key Divisor writes." }),
      })
      .meta({ description: "Store in Redis, shared by every instance that names the same server; an order is locked with SET NX PX so one instance orders a name at a time." }),
    z
      .strictObject({
        type: z.literal("etcd"),
        endpoints: z.array(z.string().min(1)).min(1).meta({ description: 'etcd client URLs, e.g. ["http://10.0.0.5:2379"].' }),
        prefix: z.string().default("/divisor/acme/").meta({ description: "Key prefix of everything Divisor writes." }),
      })
      .meta({ description: "Store in etcd, shared by every instance; an order is locked with an etcd lock on a lease, so one instance orders a name at a time." }),
  ])
  .meta({ description: "Where accounts, certificates, keys and challenge answers are kept. Instances that share a storage share certificates, answer each other's HTTP-01 challenges and order each name once." });

export const acmeSchema = z
  .strictObject({
    directory: url.meta({ description: 'The ACME server\'s directory URL, e.g. "https://acme-v02.api.letsencrypt.org/directory" (Let\'s Encrypt staging: "https://acme-staging-v02.api.letsencrypt.org/directory").' }),
    email: z
      .string()
      .regex(/^[^\s@]+@[^\s@]+\.[^\s@]+$/, { message: 'expected an email address like "ops@example.com"' })
      .optional().meta({ description: "Contact address given to the ACME server (expiry notices, problems with the account)." }),
    termsOfServiceAgreed: z.boolean().meta({ description: "You agree to the ACME server's terms of service; must be true (the server refuses accounts otherwise)." }),
    challenge: z
      .enum(["http-01", "tls-alpn-01"])
      .default("http-01")
      .meta({
        description:
          "How the server checks that the names are ours. http-01: it fetches http://<name>/.well-known/acme-challenge/<token> from a plain-HTTP listener on port 80 (any Divisor listener sharing the storage answers). tls-alpn-01: it opens a TLS connection with ALPN acme-tls/1 to port 443 and this listener answers with a challenge certificate (RFC 8737); no port 80 needed.",
      }),
    hosts: z.array(exactHost).default([]).meta({ description: "Names to hold a certificate for at all times: ordered at start (unless storage has a valid one) and renewed. One certificate per name." }),
    onDemand: z
      .strictObject({
        allow: z
          .array(hostPatternAcme)
          .min(1, { message: "name the hosts that may get a certificate on demand, e.g. [\"*.customers.example.com\"]" })
          .meta({ description: 'Server names a handshake may order a certificate for: exact names or one-label wildcards ("*.customers.example.com" allows "shop.customers.example.com"). Any other name never triggers an order.' }),
        ask: url.optional().meta({
          description: "Also ask this URL before ordering: GET <ask>?domain=<name>; a 2xx answer allows the order, anything else (or no answer within 5 seconds) refuses it. Answers are remembered for a minute.",
        }),
        rateLimit: z
          .strictObject({
            orders: z.number().int().min(1).meta({ description: "Most on-demand orders started per period (across names)." }),
            per: duration.meta({ description: "The period." }),
          })
          .default({ orders: 10, per: 60_000 })
          .meta({ description: "Bound on how many on-demand orders start, so a flood of new names cannot exhaust the ACME server's rate limits. Default: 10 a minute." }),
        wait: duration
          .default(10_000)
          .meta({ description: "How long the first handshake for a name waits for its certificate (the listener's handshakeTimeout bounds it too); then it gets the default certificate, and the order goes on." }),
      })
      .optional()
      .meta({ description: "Order a certificate during the first TLS handshake for an allowed name that has none (wildcard tenants). Concurrent handshakes for one name share one order." }),
    renewBefore: duration
      .default(30 * 86_400_000)
      .meta({ description: "Renew a certificate this long before it expires (or when a third of its lifetime is left, if that is sooner, for short-lived certificates); a random jitter of up to 10% of the lifetime spreads renewals." }),
    keyType: z.enum(["ecdsa-p256", "rsa-2048"]).default("ecdsa-p256").meta({ description: "Key type of the certificates ordered." }),
    storage: acmeStorageSchema,
    caCertificate: z
      .string()
      .min(1)
      .optional()
      .meta({ description: "CA certificate (PEM file path or text) that the ACME server's HTTPS must chain to, for a private ACME server (step-ca, pebble); default: the system's trust store." }),
    backoff: z
      .strictObject({
        initial: duration.default(60_000).meta({ description: "Wait after a name's first failed order before the next one." }),
        max: duration.default(86_400_000).meta({ description: "Longest wait between orders of a name that keeps failing (the wait doubles after each failure)." }),
      })
      .prefault({})
      .meta({ description: "Failed orders are retried per name with exponential backoff; a rateLimited answer waits at least its Retry-After." }),
  })
  .refine((a) => a.termsOfServiceAgreed, { message: "the ACME server requires agreeing to its terms of service; read them and set termsOfServiceAgreed: true", path: ["termsOfServiceAgreed"] })
  .refine((a) => a.hosts.length > 0 || a.onDemand !== undefined, { message: "name the hosts to get certificates for (hosts: [...]) or allow some on demand (onDemand: { allow: [...] })", path: ["hosts"] })
  .meta({ description: "Get and renew this listener's certificates automatically from an ACME server (Let's Encrypt, ZeroSSL, step-ca). Issued certificates are served by SNI like configured ones." });

export type AcmeConfig = z.output<typeof acmeSchema>;
export type AcmeStorageConfig = z.output<typeof acmeStorageSchema>;
