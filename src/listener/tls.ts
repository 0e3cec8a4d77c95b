// The certificates of one HTTPS listener: loaded from files or PEM text, chosen by
// SNI (exact name, then one-label wildcard, then the default), reloaded when their
// files change. Handshake-time work only; nothing here runs per request.
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import tls from "node:tls";
import type { CertificateConfig, ListenerTlsConfig } from "../config/schema-tls.js";
import { ConfigError, type ConfigIssue } from "../errors.js";
import type { Logger } from "../observability/logger.js";
import { selfSignedCertificate } from "./acme/self-signed.js";

/** One loaded certificate, as SNI selection and metrics see it. */
export interface LoadedCertificate {
  /** Server names it answers (lowercase; wildcards as "*.example.com"). */
  readonly names: readonly string[];
  readonly subject: string;
  readonly issuer: string;
  /** Expiry, in ms since the epoch. */
  readonly notAfter: number;
  readonly notBefore: number;
  readonly fingerprint256: string;
  /** The options its secure context was made from (the server's default context needs them). */
  readonly options: tls.SecureContextOptions;
  readonly context: tls.SecureContext;
  /** The leaf certificate in DER, to find the OCSP response for a handshake. */
  readonly der: Buffer;
  readonly ocspResponse: Buffer | null;
}

/** A certificate chain and its key, as PEM text. */
export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

/** What a certificate store counts, kept by the listener across reloads. */
export interface TlsStats {
  handshakes: Map<string, number>;
  handshakeErrors: Map<string, number>;
  certificateReloads: number;
  certificateReloadErrors: number;
}

export function newTlsStats(): TlsStats {
  return { handshakes: new Map(), handshakeErrors: new Map(), certificateReloads: 0, certificateReloadErrors: 0 };
}

const PEM_START = "-----BEGIN";
/** The name of the self-signed default certificate of an ACME listener with no configured one. */
export const SELF_SIGNED_NAME = "divisor.invalid";
/** How often watched certificate files are checked for changes. */
const WATCH_INTERVAL_MS = 1000;

/** The PEM text of a `cert`/`key` value: the value itself when it is PEM, else the file it names. */
export function readPem(value: string): string {
  return value.trimStart().startsWith(PEM_START) ? value : fs.readFileSync(value, "utf8");
}

/** DNS names of a certificate's subjectAltName, else its subject CN. */
function namesOf(x509: X509Certificate): string[] {
  const names: string[] = [];
  for (const entry of (x509.subjectAltName ?? "").split(/,\s*/)) {
    if (entry.startsWith("DNS:")) names.push(entry.slice(4).toLowerCase());
  }
  if (names.length > 0) return names;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject);
  return cn === null ? [] : [cn[1]!.toLowerCase()];
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === "ENOENT") return `no such file: ${e.path ?? ""}`;
  if (e.code === "EACCES") return `permission denied: ${e.path ?? ""}`;
  return e.message;
}

/** Loads one certificate; throws a message naming the key at fault. */
function loadCertificate(
  config: CertificateConfig,
  tlsConfig: ListenerTlsConfig,
  where: string,
  issues: ConfigIssue[],
  file: string,
  clientCa: string | undefined,
): LoadedCertificate | null {
  const issue = (key: string, message: string) => {
    issues.push({ file, line: 0, column: 0, path: `${where}.${key}`, message });
    return null;
  };
  let cert: string;
  let key: string;
  try {
    cert = readPem(config.cert);
  } catch (err) {
    return issue("cert", `cannot read the certificate: ${describe(err)}; give a readable PEM file's path or the PEM text`);
  }
  try {
    key = readPem(config.key);
  } catch (err) {
    return issue("key", `cannot read the private key: ${describe(err)}; give a readable PEM file's path or the PEM text`);
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    return issue("cert", `not a PEM certificate (${describe(err)}); expected "-----BEGIN CERTIFICATE-----" blocks, the leaf first`);
  }
  let ocspResponse: Buffer | null = null;
  if (config.ocspResponse !== undefined) {
    try {
      ocspResponse = fs.readFileSync(config.ocspResponse);
    } catch (err) {
      return issue("ocspResponse", `cannot read the OCSP response: ${describe(err)}`);
    }
  }
  const options: tls.SecureContextOptions = {
    cert,
    key,
    // Every certificate's context verifies client certificates: SNI may switch to any of them.
    ...(clientCa === undefined ? {} : { ca: clientCa }),
    minVersion: tlsConfig.minVersion,
    maxVersion: tlsConfig.maxVersion,
    ciphers: tlsConfig.ciphers,
    honorCipherOrder: true,
    sessionTimeout: Math.max(1, Math.round(tlsConfig.sessionTimeout / 1000)),
  };
  let context: tls.SecureContext;
  try {
    context = tls.createSecureContext(options);
  } catch (err) {
    const message = (err as Error).message;
    if (/key values mismatch/i.test(message)) return issue("key", "the private key does not belong to the certificate; give the key the certificate was issued for");
    if (/cipher/i.test(message)) {
      issues.push({ file, line: 0, column: 0, path: where.replace(/\.certificates\[\d+\]$/, ".ciphers"), message: `OpenSSL refuses the cipher list: ${message}` });
      return null;
    }
    return issue("key", `cannot use this certificate and key: ${message}`);
  }
  const names = config.names ?? namesOf(x509);
  if (names.length === 0) return issue("names", "the certificate has no DNS name (no subjectAltName DNS entry, no CN); list the server names it is for in names");
  return {
    names,
    subject: x509.subject.replace(/\n/g, ", "),
    issuer: x509.issuer.replace(/\n/g, ", "),
    notAfter: Date.parse(x509.validTo),
    notBefore: Date.parse(x509.validFrom),
    fingerprint256: x509.fingerprint256,
    options,
    context,
    der: x509.raw,
    ocspResponse,
  };
}

/** A listener's certificates, loaded and ready for SNI selection. */
export class CertificateSet {
  readonly certificates: readonly LoadedCertificate[];
  readonly fallback: LoadedCertificate;
  private readonly exact = new Map<string, LoadedCertificate>();
  /** By the suffix after "*." ("example.com" for "*.example.com"). */
  private readonly wildcard = new Map<string, LoadedCertificate>();

  private constructor(certificates: LoadedCertificate[], fallback: LoadedCertificate) {
    this.certificates = certificates;
    this.fallback = fallback;
    // The first certificate to name a host wins, as the order in the config says.
    for (const c of certificates) {
      for (const name of c.names) {
        if (name.startsWith("*.")) {
          if (!this.wildcard.has(name.slice(2))) this.wildcard.set(name.slice(2), c);
        } else if (!this.exact.has(name)) this.exact.set(name, c);
      }
    }
  }

  /**
   * Loads every certificate of `config`; `where` is its path in the document
   * (e.g. "listeners[0].tls"), then `extra` (ACME certificates, after the configured
   * ones). Throws a ConfigError naming each one that fails.
   */
  static load(config: ListenerTlsConfig, where: string, file: string, extra: readonly PemPair[] = []): CertificateSet {
    const issues: ConfigIssue[] = [];
    const loaded: LoadedCertificate[] = [];
    let clientCa: string | undefined;
    if (config.clientAuth !== undefined) {
      try {
        clientCa = readPem(config.clientAuth.ca);
      } catch (err) {
        issues.push({ file, line: 0, column: 0, path: `${where}.clientAuth.ca`, message: `cannot read the client CA: ${describe(err)}; give a readable PEM file's path or the PEM text` });
      }
    }
    const acmeCa = config.acme?.caCertificate;
    if (acmeCa !== undefined) {
      try {
        new X509Certificate(readPem(acmeCa));
      } catch (err) {
        issues.push({ file, line: 0, column: 0, path: `${where}.acme.caCertificate`, message: `cannot read the ACME server's CA certificate: ${describe(err)}; give a readable PEM file's path or the PEM text` });
      }
    }
    config.certificates.forEach((c, i) => {
      const cert = loadCertificate(c, config, `${where}.certificates[${i}]`, issues, file, clientCa);
      if (cert !== null) loaded.push(cert);
    });
    // Certificates from ACME come after the configured ones (which win a name they share).
    // Without configured ones, a self-signed certificate is the default (clients with no server name, names not issued yet).
    if (config.certificates.length === 0) extra = [selfSignedCertificate(SELF_SIGNED_NAME), ...extra];
    extra.forEach((pair, i) => {
      const cert = loadCertificate(pair, config, `${where}.acme.certificates[${i}]`, issues, file, clientCa);
      if (cert !== null) loaded.push(cert);
    });
    if (issues.length > 0) throw new ConfigError(issues);
    return new CertificateSet(loaded, loaded[config.certificates.length === 0 ? 0 : config.defaultCertificate]!);
  }

  /** The certificate for a client's server name, or null when none names it. */
  select(servername: string): LoadedCertificate | null {
    const name = servername.toLowerCase();
    const exact = this.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf(".");
    return dot > 0 ? (this.wildcard.get(name.slice(dot + 1)) ?? null) : null;
  }

  /** The OCSP response to staple for the leaf a handshake is using. */
  ocspFor(der: Buffer): Buffer | null {
    for (const c of this.certificates) if (c.ocspResponse !== null && c.der.equals(der)) return c.ocspResponse;
    return null;
  }
}

/** The files a TLS config reads (to watch them). */
export function tlsFiles(config: ListenerTlsConfig): string[] {
  const files = new Set<string>();
  for (const c of config.certificates) {
    for (const v of [c.cert, c.key, c.ocspResponse, config.clientAuth?.ca]) if (v !== undefined && !v.trimStart().startsWith(PEM_START)) files.add(v);
  }
  return [...files];
}

/**
 * Watches certificate files (by polling their stat, which survives the
 * rename-into-place that certbot and Kubernetes secret mounts do) and calls
 * `changed` at most once per check interval when any of them changed.
 */
export class CertificateWatcher {
  private readonly files: string[];
  private readonly listener: (curr: fs.Stats, prev: fs.Stats) => void;
  private pending: NodeJS.Timeout | null = null;

  constructor(files: string[], changed: () => void) {
    this.files = files;
    this.listener = (curr, prev) => {
      if (curr.mtimeMs === prev.mtimeMs && curr.ino === prev.ino && curr.size === prev.size) return;
      // Several files (cert and key) usually change together: load once they settle.
      if (this.pending !== null) clearTimeout(this.pending);
      this.pending = setTimeout(() => {
        this.pending = null;
        changed();
      }, 100);
      this.pending.unref();
    };
    for (const f of files) fs.watchFile(f, { interval: WATCH_INTERVAL_MS, persistent: false }, this.listener);
  }

  close(): void {
    for (const f of this.files) fs.unwatchFile(f, this.listener);
    if (this.pending !== null) clearTimeout(this.pending);
    this.pending = null;
  }
}

/** Logs a loaded set's certificates that are expired or not valid yet (served anyway, as nginx does). */
export function warnValidity(set: CertificateSet, listener: string, log: Logger): void {
  const now = Date.now();
  for (const c of set.certificates) {
    if (c.notAfter < now) log.warn({ listener, names: c.names, notAfter: new Date(c.notAfter).toISOString() }, "TLS certificate has expired; clients will refuse it");
    else if (c.notBefore > now) log.warn({ listener, names: c.names, notBefore: new Date(c.notBefore).toISOString() }, "TLS certificate is not valid yet");
  }
}
