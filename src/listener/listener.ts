import net from "node:net";
import type { ListenerConfig } from "../config/schema.js";
import type { RuntimeTable } from "../exchange/types.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayLogs } from "../observability/logging.js";
import type { GatewayMetrics } from "../observability/metrics/gateway-metrics.js";
import type { ListenerStats } from "../observability/metrics/http-stats.js";
import { ClientConnection, type ListenerContext } from "./connection.js";
import type { DeadlineSweeper } from "./deadlines.js";

/** What a listener needs from the gateway that owns it. */
export interface ListenerOwner {
  table(): RuntimeTable;
  draining(): boolean;
  nextExchangeId(): number;
  readonly sweeper: DeadlineSweeper;
  readonly gatewayMetrics: GatewayMetrics;
  readonly logs: GatewayLogs;
}

/** An address the gateway accepts HTTP/1.1 connections on. */
export class Listener implements ListenerContext {
  readonly name: string;
  readonly scheme = "http" as const;
  readonly stats: ListenerStats;
  config: ListenerConfig;
  readonly log: Logger;
  private readonly owner: ListenerOwner;
  private readonly server: net.Server;
  private readonly connections = new Set<ClientConnection>();

  constructor(config: ListenerConfig, owner: ListenerOwner) {
    this.config = config;
    this.name = config.name ?? config.address;
    this.owner = owner;
    this.log = owner.logs.get("listener");
    this.stats = owner.gatewayMetrics.listener(this.name);
    // allowHalfOpen: a client that half-closes after its request still gets the response.
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    if (config.maxConnections > 0) this.server.maxConnections = config.maxConnections;
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
  table(): RuntimeTable {
    return this.owner.table();
  }
  draining(): boolean {
    return this.owner.draining();
  }
  nextExchangeId(): number {
    return this.owner.nextExchangeId();
  }

  private accept(socket: net.Socket): void {
    const conn = new ClientConnection(socket, this);
    this.connections.add(conn);
    this.owner.sweeper.add(conn);
  }

  connectionClosed(conn: ClientConnection): void {
    this.connections.delete(conn);
    this.owner.sweeper.delete(conn);
  }

  get connectionCount(): number {
    return this.connections.size;
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
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.log.debug({ listener: this.name, connections: this.connections.size }, "listener stops accepting");
    for (const conn of this.connections) conn.closeIfIdle();
    return closed;
  }

  /** Whether every connection has closed. */
  get quiet(): boolean {
    return this.connections.size === 0;
  }

  destroyAll(): void {
    for (const conn of this.connections) conn.destroy();
  }
}
