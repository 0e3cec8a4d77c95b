import net from "node:net";
import tls from "node:tls";
import type { ListenerConfig } from "../config/schema.js";
import type { HttpsRedirect, RuntimeTable } from "../exchange/types.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayLogs } from "../observability/logging.js";
import type { GatewayMetrics } from "../observability/metrics/gateway-metrics.js";
import type { ListenerStats } from "../observability/metrics/http-stats.js";
import { ClientConnection, type ListenerContext } from "./connection.js";
import type { DeadlineSweeper } from "./deadlines.js";
import { ConfigError, type ConfigIssue } from "../errors.js";
import { cidrBlockList, normalizeIp } from "../exchange/forwarding.js";
import { parseProxyHeader } from "./proxy-protocol.js";
import { newTcpStats, type TcpStats, TcpTunnel } from "./tcp.js";
import { Http2Front } from "../http2/server.js";
import { CertificateSet, CertificateWatcher, newTlsStats, type TlsStats, tlsFiles, warnValidity } from "./tls.js";
import { acmeIdentity, ListenerAcme } from "./acme/listener-acme.js";
import type { AcmeRegistry } from "./acme/registry.js";

/** What a listener needs from the gateway that owns it. */
export interface ListenerOwner {
  table(): RuntimeTable;
  draining(): boolean;
  nextExchangeId(): number;
  readonly sweeper: DeadlineSweeper;
  readonly gatewayMetrics: GatewayMetrics;
  readonly logs: GatewayLogs;
  /** The configuration's file, for errors about certificate files. */
  readonly source: string;
  /** The ACME managers of every listener (plain listeners answer HTTP-01 from them). */
  readonly acme: AcmeRegistry;
}

/** Environment variable through which a `--workers` primary gives every worker the same session ticket keys. */
export const TLS_TICKET_KEYS_ENV = "DIVISOR_TLS_TICKET_KEYS";

/** Where a listener's TLS settings sit in the document, for errors. */
function tlsWhere(index: number): string {
  return `listeners[${index}].tls`;
}

/**
 * Loads the certificates of every HTTPS listener in `configs` (by index in the
 * document); throws one ConfigError naming every certificate that fails.
 */
export function loadListenerCertificates(configs: readonly ListenerConfig[], file: string): (CertificateSet | null)[] {
  const issues: ConfigIssue[] = [];
  const sets = configs.map((config, i) => {
    if (config.tls === undefined) return null;
    try {
      return CertificateSet.load(config.tls, tlsWhere(i), file);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues.push(...err.issues);
      return null;
    }
  });
  if (issues.length > 0) throw new ConfigError(issues);
  return sets;
}

/** An address the gateway accepts HTTP/1.1 connections on, in the clear or over TLS. */
export class Listener implements ListenerContext {
  readonly name: string;
  readonly scheme: "http" | "https";
  readonly stats: ListenerStats;
  config: ListenerConfig;
  readonly log: Logger;
  /** Handshake and certificate counters (HTTPS listeners only). */
  readonly tlsStats: TlsStats | null;
  private readonly owner: ListenerOwner;
  private readonly server: net.Server;
  /** HTTPS listeners: the TLS server (listening itself, or fed by the PROXY-protocol reader). */
  private readonly tlsServer: tls.Server | null;
  /** PROXY protocol: the balancers whose headers are read, and the client address each connection's header gave. */
  private proxyTrusted: net.BlockList | null = null;
  private readonly proxiedPeers = new WeakMap<net.Socket, string>();
  private readonly connections = new Set<ClientConnection>();
  /** HTTP/2 sessions (listeners[].http2 enabled), or null. */
  private readonly http2: Http2Front | null;
  /** TCP listeners: the tunnels open now. */
  private readonly tunnels = new Set<TcpTunnel>();
  /** The certificates in force (HTTPS listeners only). */
  private certificates: CertificateSet | null;
  private watcher: CertificateWatcher | null = null;
  /** Position of this listener in the document, for errors about its certificates. */
  private index: number;
  /** HTTPS listeners with tls.acme: their automatic certificates. */
  private readonly acme: ListenerAcme | null = null;

  constructor(config: ListenerConfig, owner: ListenerOwner, certificates: CertificateSet | null = null, index = 0) {
    this.config = config;
    this.name = config.name ?? config.address;
    this.owner = owner;
    this.index = index;
    this.log = owner.logs.get("listener");
    this.stats = owner.gatewayMetrics.listener(this.name);
    this.scheme = config.tls === undefined ? "http" : "https";
    this.certificates = certificates;
    this.http2 = config.http2?.enabled === true ? new Http2Front(this, config.http2) : null;
    let tlsServer: tls.Server | null = null;
    if (config.tls === undefined) {
      this.tlsStats = null;
    } else {
      this.stats.tls ??= newTlsStats();
      this.tlsStats = this.stats.tls;
      if (config.tls.acme !== undefined) {
        this.acme = new ListenerAcme(config.tls, this.name, owner.acme, this.log, () => this.acmeChanged());
        this.certificates = this.acme.load(config.tls, tlsWhere(index), owner.source);
      }
      this.certificates ??= CertificateSet.load(config.tls, tlsWhere(index), owner.source);
      tlsServer = this.createTlsServer(config, this.certificates);
      this.watch();
    }
    this.tlsServer = tlsServer;
    const pp = config.proxyProtocol;
    if (pp !== undefined || this.acme !== null) {
      // The PROXY header comes before TLS: a plain server reads it, then hands the socket on.
      // So does an ACME listener's look at the ClientHello (tls-alpn-01 validations).
      if (pp !== undefined) {
        this.proxyTrusted = cidrBlockList(pp.trusted);
        this.stats.proxyProtocol ??= { headers: new Map(), errors: 0 };
      }
      this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => (pp === undefined ? this.handOn(socket, null) : this.readProxyHeader(socket)));
    } else if (tlsServer !== null) {
      this.server = tlsServer;
    } else {
      // allowHalfOpen: a client that half-closes after its request still gets the response.
      const h2c = this.http2 !== null && config.http2!.cleartext ? this.http2 : null;
      this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, h2c === null ? (socket) => this.accept(socket) : (socket) => h2c.sniff(socket, (s) => this.accept(s)));
    }
    if (config.maxConnections > 0) this.server.maxConnections = config.maxConnections;
  }

  /**
   * What decides whether a reload can keep this listener (same protocol and PROXY protocol
   * setting, same ACME server and storage) or must replace it.
   */
  static shapeOf(config: ListenerConfig): string {
    const h2 = config.http2?.enabled === true ? (config.http2.cleartext ? "+h2c" : "+h2") : "";
    return `${config.tcp === undefined ? "" : "tcp+"}${config.tls === undefined ? "http" : "https"}${config.tls?.acme === undefined ? "" : `+acme:${acmeIdentity(config.tls.acme)}`}${config.proxyProtocol === undefined ? "" : "+proxy"}${h2}`;
  }

  /**
   * A connection to a PROXY-protocol listener: from a trusted balancer, read its
   * PROXY header (v1 or v2; a connection without one is its own client); then
   * serve it as HTTP or hand it to TLS with the rest of its bytes.
   */
  private readProxyHeader(socket: net.Socket): void {
    const peer = normalizeIp(socket.remoteAddress);
    if (!this.proxyTrusted!.check(peer, net.isIPv6(peer) ? "ipv6" : "ipv4")) {
      this.handOn(socket, null);
      return;
    }
    const counts = this.stats.proxyProtocol!;
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => fail("no complete PROXY header in time"), this.config.timeouts.header);
    const fail = (why: string) => {
      clearTimeout(timer);
      counts.errors++;
      this.log.debug({ listener: this.name, peer, reason: why }, "PROXY protocol header refused; connection closed");
      socket.destroy();
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let parsed: ReturnType<typeof parseProxyHeader>;
      try {
        parsed = parseProxyHeader(buf);
      } catch (err) {
        socket.off("data", onData);
        return fail((err as Error).message);
      }
      if (parsed === null) return;
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
      socket.pause();
      const rest = parsed === "none" ? buf : buf.subarray(parsed.length);
      if (rest.length > 0) socket.unshift(rest);
      if (parsed === "none") return this.handOn(socket, null);
      const version = `v${parsed.header.version}`;
      counts.headers.set(version, (counts.headers.get(version) ?? 0) + 1);
      this.handOn(socket, parsed.header.source === null ? null : normalizeIp(parsed.header.source.address));
    };
    const onError = () => clearTimeout(timer);
    socket.on("data", onData);
    socket.on("error", onError);
    socket.once("close", () => clearTimeout(timer));
  }

  /** Serves a socket whose PROXY header (if any) has been read; `client` is the address it gave. */
  private handOn(socket: net.Socket, client: string | null): void {
    if (client !== null) this.proxiedPeers.set(socket, client);
    if (this.acme !== null) this.acme.route(socket, this.config.tls!.handshakeTimeout, (s) => this.tlsServer!.emit("connection", s));
    else if (this.tlsServer !== null) this.tlsServer.emit("connection", socket);
    else if (this.http2 !== null && this.config.http2!.cleartext) this.http2.sniff(socket, (s) => this.accept(s), client ?? undefined);
    else {
      this.accept(socket);
      socket.resume();
    }
  }

  private createTlsServer(config: ListenerConfig, certificates: CertificateSet): tls.Server {
    const t = config.tls!;
    const keys = process.env[TLS_TICKET_KEYS_ENV];
    const server = tls.createServer({
      ...certificates.fallback.options,
      allowHalfOpen: true,
      noDelay: true,
      handshakeTimeout: t.handshakeTimeout,
      ...(t.clientAuth === undefined ? {} : { requestCert: true, rejectUnauthorized: t.clientAuth.required }),
      ALPNProtocols: this.http2 === null ? ["http/1.1"] : ["h2", "http/1.1"],
      ...(keys !== undefined && keys.length === 96 ? { ticketKeys: Buffer.from(keys, "hex") } : {}),
      SNICallback: (servername, cb) => sni(servername, cb, false),
    });
    const sni = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void, onDemandTried: boolean) => {
      const cert = this.certificates!.select(servername);
      if (cert !== null) return cb(null, cert.context);
      if (!onDemandTried && this.acme?.wantsOnDemand(servername) === true) {
        // The first handshake for an allowed name waits for its certificate (bounded by onDemand.wait).
        void this.acme.manager.onDemand(servername.toLowerCase()).then(() => sni(servername, cb, true));
        return;
      }
      if (this.config.tls?.strictSni === true) {
        this.countTls(this.tlsStats!.handshakeErrors, "unknown-server-name");
        return cb(new Error(`no certificate for server name "${servername}"`));
      }
      cb(null, this.certificates!.fallback.context);
    };
    server.on("secureConnection", (socket: tls.TLSSocket) => {
      this.countTls(this.tlsStats!.handshakes, socket.getProtocol() ?? "unknown");
      if (this.http2 !== null && socket.alpnProtocol === "h2") this.http2.accept(socket, this.peerOf(socket));
      else this.accept(socket);
    });
    server.on("tlsClientError", (err: NodeJS.ErrnoException, socket: tls.TLSSocket) => {
      this.countTls(this.tlsStats!.handshakeErrors, handshakeErrorKind(err));
      socket.destroy();
    });
    server.on("OCSPRequest", (certificate: Buffer, _issuer: Buffer, cb: (err: Error | null, resp: Buffer | null) => void) => {
      cb(null, this.certificates!.ocspFor(certificate));
    });
    return server;
  }

  private countTls(map: Map<string, number>, key: string): void {
    map.set(key, (map.get(key) ?? 0) + 1);
  }

  /** Watches the certificate files of the config in force, reloading them when they change. */
  private watch(): void {
    this.watcher?.close();
    this.watcher = null;
    const t = this.config.tls;
    if (t === undefined) return;
    const files = tlsFiles(t);
    if (files.length > 0) this.watcher = new CertificateWatcher(files, () => this.reloadCertificates());
  }

  /** Re-reads the certificate files after a change; a failure keeps the certificates in force. */
  private reloadCertificates(): void {
    const t = this.config.tls;
    if (t === undefined) return;
    try {
      this.useCertificates(this.loadCertificates(t));
      this.tlsStats!.certificateReloads++;
      this.log.info({ listener: this.name, certificates: this.certificates!.certificates.map((c) => ({ names: c.names, notAfter: new Date(c.notAfter).toISOString() })) }, "TLS certificates reloaded");
    } catch (err) {
      this.tlsStats!.certificateReloadErrors++;
      this.log.error({ listener: this.name, err: (err as Error).message }, "TLS certificate files changed but do not load; the certificates in force stay");
    }
  }

  /** The listener's certificates: configured, and issued over ACME. */
  private loadCertificates(t: NonNullable<ListenerConfig["tls"]>): CertificateSet {
    return this.acme === null ? CertificateSet.load(t, tlsWhere(this.index), this.owner.source) : this.acme.load(t, tlsWhere(this.index), this.owner.source);
  }

  /** An ACME certificate was issued or renewed: serve it from the next handshake. */
  private acmeChanged(): void {
    const t = this.config.tls;
    if (t === undefined || this.tlsServer === null) return;
    try {
      this.useCertificates(this.loadCertificates(t));
    } catch (err) {
      this.log.error({ listener: this.name, err: (err as Error).message }, "an ACME certificate does not load; the certificates in force stay");
    }
  }

  /** HTTPS listeners with tls.acme: their ACME manager (admin API, metrics). */
  get acmeManager(): ListenerAcme["manager"] | null {
    return this.acme?.manager ?? null;
  }

  private useCertificates(set: CertificateSet): void {
    this.certificates = set;
    // Read by the server for each new connection: a reload may turn client certificates on or off.
    const auth = this.config.tls?.clientAuth;
    const server = this.tlsServer as tls.Server & { requestCert: boolean; rejectUnauthorized: boolean };
    server.requestCert = auth !== undefined;
    server.rejectUnauthorized = auth?.required === true;
    // The default context serves clients that send no server name.
    this.tlsServer!.setSecureContext(set.fallback.options);
    warnValidity(set, this.name, this.log);
  }

  /** The certificates in force (HTTPS listeners), for metrics and the admin API. */
  get certificateSet(): CertificateSet | null {
    return this.certificates;
  }

  /**
   * Takes a reloaded config for the same address and protocol; `certificates`
   * were loaded (and checked) by the caller before the reload was committed.
   */
  update(config: ListenerConfig, certificates: CertificateSet | null, index: number): void {
    this.config = config;
    if (this.http2 !== null && config.http2 !== undefined) this.http2.update(config.http2);
    if (config.proxyProtocol !== undefined) this.proxyTrusted = cidrBlockList(config.proxyProtocol.trusted);
    this.index = index;
    if (certificates !== null) {
      if (this.acme !== null) {
        this.acme.update(config.tls!);
        certificates = this.acme.load(config.tls!, tlsWhere(index), this.owner.source);
      }
      this.useCertificates(certificates);
      this.watch();
    }
  }

  get limits() {
    return this.config.limits;
  }
  get headerTimeoutMs(): number {
    return this.config.timeouts.header;
  }
  get idleTimeoutMs(): number {
    return this.config.timeouts.idle;
  }
  get tunnelIdleTimeoutMs(): number {
    return this.config.timeouts.tunnelIdle;
  }
  get httpsRedirect(): HttpsRedirect | null {
    return this.config.redirectToHttps ?? null;
  }
  get acmeChallenges(): AcmeRegistry | null {
    return this.scheme === "http" && this.owner.acme.active ? this.owner.acme : null;
  }
  table(): RuntimeTable {
    return this.owner.table();
  }
  draining(): boolean {
    return this.owner.draining();
  }
  nextExchangeId(): number {
    return this.owner.nextExchangeId();
  }

  /** The client address a PROXY header gave for this connection, if any. */
  private peerOf(socket: net.Socket): string | undefined {
    if (this.proxyTrusted === null) return undefined;
    // A TLS socket wraps the raw one the PROXY header came on (Node's TLSSocket keeps it as _parent).
    const raw = (socket as net.Socket & { _parent?: net.Socket })._parent ?? socket;
    return this.proxiedPeers.get(raw);
  }

  get sweeper() {
    return this.owner.sweeper;
  }

  private accept(socket: net.Socket): void {
    const peer = this.peerOf(socket);
    const tcp = this.config.tcp;
    if (tcp !== undefined) {
      const service = this.owner.table().services.get(tcp.service);
      if (service === undefined) {
        socket.destroy();
        return;
      }
      this.tunnels.add(new TcpTunnel(socket, peer ?? normalizeIp(socket.remoteAddress), service, tcp.idleTimeout, this));
      return;
    }
    const conn = new ClientConnection(socket, this, peer);
    this.connections.add(conn);
    this.owner.sweeper.add(conn);
  }

  tunnelClosed(t: TcpTunnel): void {
    this.tunnels.delete(t);
  }

  /** TCP listeners' counters (created on first use, kept with the listener's stats across reloads). */
  get tcpStats(): TcpStats {
    this.stats.tcp ??= newTcpStats();
    return this.stats.tcp;
  }

  connectionClosed(conn: ClientConnection): void {
    this.connections.delete(conn);
    this.owner.sweeper.delete(conn);
  }

  get connectionCount(): number {
    return this.connections.size + this.tunnels.size + (this.http2?.size ?? 0);
  }

  /** Start accepting; resolves with the bound address. */
  listen(): Promise<net.AddressInfo> {
    const i = this.config.address.lastIndexOf(":");
    let host = this.config.address.slice(0, i);
    if (host.startsWith("[")) host = host.slice(1, -1);
    const port = Number(this.config.address.slice(i + 1));
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once("error", onError);
      this.server.listen({ host: host === "*" ? undefined : host, port }, () => {
        this.server.off("error", onError);
        const a = this.server.address() as net.AddressInfo;
        this.log.debug({ listener: this.name, address: `${a.address}:${a.port}` }, "listener bound");
        resolve(a);
      });
    });
  }

  address(): net.AddressInfo | null {
    return this.server.address() as net.AddressInfo | null;
  }

  /** Stop accepting and close idle keep-alive connections; busy ones close after their exchange. */
  stopAccepting(): Promise<void> {
    this.watcher?.close();
    this.watcher = null;
    void this.acme?.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.log.debug({ listener: this.name, connections: this.connections.size }, "listener stops accepting");
    for (const conn of this.connections) conn.closeIfIdle();
    this.http2?.close();
    return closed;
  }

  /** Whether every connection has closed. */
  get quiet(): boolean {
    return this.connections.size === 0 && this.tunnels.size === 0 && (this.http2?.size ?? 0) === 0;
  }

  destroyAll(): void {
    for (const conn of this.connections) conn.destroy();
    for (const t of this.tunnels) t.close();
    this.http2?.destroyAll();
  }
}

/** A short, stable name for why a TLS handshake failed (a metric label). */
function handshakeErrorKind(err: NodeJS.ErrnoException): string {
  if (err.code === "ERR_TLS_HANDSHAKE_TIMEOUT") return "timeout";
  if (err.code === "ECONNRESET") return "reset";
  const m = err.message;
  if (/no shared cipher|no suitable|unsupported protocol|version too low|wrong version/i.test(m)) return "protocol-mismatch";
  if (/http request/i.test(m)) return "plain-http";
  if (/certificate|alert/i.test(m)) return "alert";
  return "other";
}
