// What an HTTPS listener with `tls.acme` adds: the certificates its AcmeManager holds
// (served through the listener's CertificateSet like configured ones), on-demand
// orders from the SNI callback, and the look at each ClientHello that sends
// tls-alpn-01 validations (ALPN acme-tls/1) to their challenge certificate.
import type net from "node:net";
import tls from "node:tls";
import type { AcmeConfig } from "../../config/schema-acme.js";
import type { ListenerTlsConfig } from "../../config/schema-tls.js";
import type { Logger } from "../../observability/logger.js";
import { CertificateSet } from "../tls.js";
import { MAX_CLIENT_HELLO, parseClientHello } from "./client-hello.js";
import { AcmeManager } from "./manager.js";
import type { AcmeRegistry } from "./registry.js";

/** The ALPN protocol of tls-alpn-01 validations (RFC 8737 6.2). */
const ACME_TLS_ALPN = "acme-tls/1";

/**
 * What an ACME manager is made with and cannot change in place (its account's server,
 * the storage it has open, the CA it trusts): a reload that changes it replaces the listener.
 */
export function acmeIdentity(config: AcmeConfig): string {
  return JSON.stringify([config.directory, config.storage, config.caCertificate ?? null]);
}

export class ListenerAcme {
  readonly manager: AcmeManager;

  constructor(
    tlsConfig: ListenerTlsConfig,
    listener: string,
    private readonly registry: AcmeRegistry,
    private readonly log: Logger,
    changed: () => void,
  ) {
    this.manager = new AcmeManager(tlsConfig.acme!, listener, log, registry.statsFor(listener), registry, changed);
    this.manager.start();
  }

  /** The listener's certificates: the configured ones, then the issued ones. */
  load(tlsConfig: ListenerTlsConfig, where: string, file: string): CertificateSet {
    return CertificateSet.load(tlsConfig, where, file, this.manager.pems());
  }

  update(tlsConfig: ListenerTlsConfig): void {
    this.manager.update(tlsConfig.acme!);
  }

  /** Whether a handshake for `servername` (with no certificate) should wait for an on-demand order. */
  wantsOnDemand(servername: string): boolean {
    return this.manager.config.onDemand !== undefined && servername.includes(".");
  }

  /**
   * Reads the ClientHello of a connection (within `timeoutMs`), then gives the
   * socket, its bytes put back, to `tls` — or, for a tls-alpn-01 validation, answers
   * it with the challenge certificate itself.
   */
  route(socket: net.Socket, timeoutMs: number, toTls: (socket: net.Socket) => void): void {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const hello = parseClientHello(buf);
      if (hello === null && buf.length < MAX_CLIENT_HELLO) return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.pause();
      socket.unshift(buf);
      if (hello === null || hello === "other" || !hello.alpn.includes(ACME_TLS_ALPN) || hello.servername === null) {
        toTls(socket);
        return;
      }
      void this.answerValidation(socket, hello.servername);
    };
    const onError = () => clearTimeout(timer);
    socket.on("data", onData);
    socket.on("error", onError);
    socket.once("close", () => clearTimeout(timer));
  }

  private async answerValidation(socket: net.Socket, servername: string): Promise<void> {
    const context = await this.registry.tlsAlpn01(servername, this.manager).catch(() => null);
    if (context === null) {
      this.log.debug({ servername }, "tls-alpn-01 validation for a name with no challenge in progress; connection closed");
      socket.destroy();
      return;
    }
    const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context, ALPNProtocols: [ACME_TLS_ALPN] });
    secure.on("error", () => secure.destroy());
    // The validation is the handshake; nothing is sent over the connection (RFC 8737 3).
    secure.once("secure", () => secure.end());
    socket.resume();
  }

  close(): Promise<void> {
    return this.manager.close();
  }
}
