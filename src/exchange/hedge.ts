// Hot path (only for hedging routers): the second, concurrent try of a hedged request.
import type { ProxyEndpoint } from "../listener/proxy-protocol.js";
import type { UpstreamError } from "../errors.js";
import type { ServiceBackend } from "../service/service.js";
import type { ConnectionUser, PoolClient, UpstreamConnection } from "../upstream/pool.js";

/** What a hedge needs from its exchange. */
export interface HedgeOwner {
  /** The request head to send (already rewritten for `backend` when Host names it). */
  hedgeHead(backend: ServiceBackend): string;
  /** The hedge got the first response bytes: the exchange adopts its connection. */
  hedgeWon(hedge: HedgeTry, conn: UpstreamConnection, chunk: Buffer): void;
  /** The hedge failed before any response byte. */
  hedgeFailed(hedge: HedgeTry): void;
  clientEndpoints(): readonly [ProxyEndpoint, ProxyEndpoint];
}

/**
 * Sends the same request to a second backend; whichever try answers first wins and
 * the other is cancelled. Holds one in-flight count on its backend until it is
 * cancelled, fails, or hands its connection over.
 */
export class HedgeTry implements PoolClient, ConnectionUser {
  readonly backend: ServiceBackend;
  private readonly owner: HedgeOwner;
  private conn: UpstreamConnection | null = null;
  private done = false;

  clientEndpoints(): readonly [ProxyEndpoint, ProxyEndpoint] {
    return this.owner.clientEndpoints();
  }

  constructor(owner: HedgeOwner, backend: ServiceBackend) {
    this.owner = owner;
    this.backend = backend;
    backend.active++;
    backend.pool.acquire(this);
  }

  onUpstreamReady(conn: UpstreamConnection): void {
    if (this.done) {
      conn.release(); // nothing was sent on it
      return;
    }
    conn.user = this;
    this.conn = conn;
    conn.socket.write(this.owner.hedgeHead(this.backend), "latin1");
  }

  onUpstreamFailed(_err: UpstreamError): void {
    if (this.done) return;
    this.fail();
  }

  onUpstreamData(chunk: Buffer): void {
    if (this.done || this.conn === null) return;
    this.done = true;
    const conn = this.conn;
    this.conn = null;
    // The in-flight count now belongs to the exchange, which adopts backend and connection.
    this.owner.hedgeWon(this, conn, chunk);
  }

  onUpstreamEnd(): void {
    if (!this.done) this.fail();
  }

  onUpstreamError(_err: Error): void {
    if (!this.done) this.fail();
  }

  onUpstreamDrain(): void {}

  private fail(): void {
    this.done = true;
    this.backend.active--;
    this.backend.breaker.onFailure(performance.now());
    this.conn?.destroy();
    this.conn = null;
    this.owner.hedgeFailed(this);
  }

  /** The first try won (or the exchange ended): drop this one. */
  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.backend.active--;
    if (this.conn !== null) {
      this.conn.destroy();
      this.conn = null;
    } else this.backend.pool.cancel(this);
  }
}
