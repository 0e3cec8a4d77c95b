// Hot path: per-backend circuit breaker, which is also Divisor's passive health
// (outlier detection): failures seen on real traffic take a backend out for a while.
import type { ServiceConfig } from "../config/schema.js";

export type BreakerConfig = ServiceConfig["circuitBreaker"];

export const enum BreakerState {
  Closed = 0,
  Open = 1,
  HalfOpen = 2,
}

export const BREAKER_STATE_NAMES = ["closed", "open", "half-open"] as const;

/**
 * Closed: requests flow; `consecutiveFailures` failures in a row, or an error ratio
 * of at least `errorRatio` over the last `window` (once `minRequests` were seen),
 * open it. Open: the backend takes no requests for `openDuration`, doubled on each
 * reopening up to `maxOpenDuration` (a growing ejection). Half-open: up to
 * `halfOpenRequests` trial requests; a success closes it, a failure reopens it.
 * A breaker never opens when that would take more than `maxEjectedShare` of its
 * service's backends out (a bad deploy cannot empty a service).
 */
export class CircuitBreaker {
  config: BreakerConfig;
  state = BreakerState.Closed;
  /** Times it opened since it was last closed by a success (drives the growing ejection). */
  opens = 0;
  openUntil = 0;
  private consecutive = 0;
  private trials = 0;
  private windowStart = 0;
  private windowRequests = 0;
  private windowFailures = 0;
  /** Called when the state changes: the service recomputes availability. */
  onChange: (breaker: CircuitBreaker) => void = () => {};
  /** Asked before opening: may the service lose this backend now? */
  mayOpen: () => boolean = () => true;

  constructor(config: BreakerConfig) {
    this.config = config;
  }

  /** Whether a request may go to this backend now (counts half-open trials). */
  allowRequest(): boolean {
    if (this.state === BreakerState.Closed) return true;
    if (this.state === BreakerState.HalfOpen && this.trials < this.config.halfOpenRequests) {
      this.trials++;
      return true;
    }
    return false;
  }

  /** Whether the status counts as a failure of the backend. */
  isFailureStatus(status: number): boolean {
    return this.config.failureStatuses.includes(status);
  }

  onSuccess(now: number): void {
    if (!this.config.enabled) return;
    this.count(now, false);
    this.consecutive = 0;
    if (this.state === BreakerState.HalfOpen) {
      this.state = BreakerState.Closed;
      this.opens = 0;
      this.trials = 0;
      this.onChange(this);
    }
  }

  onFailure(now: number): void {
    if (!this.config.enabled) return;
    this.count(now, true);
    this.consecutive++;
    if (this.state === BreakerState.HalfOpen) {
      this.open(now);
      return;
    }
    if (this.state !== BreakerState.Closed) return;
    const c = this.config;
    const ratioTripped = this.windowRequests >= c.minRequests && this.windowFailures / this.windowRequests >= c.errorRatio;
    if ((this.consecutive >= c.consecutiveFailures || ratioTripped) && this.mayOpen()) this.open(now);
  }

  private count(now: number, failed: boolean): void {
    if (now - this.windowStart >= this.config.window) {
      this.windowStart = now;
      this.windowRequests = 0;
      this.windowFailures = 0;
    }
    this.windowRequests++;
    if (failed) this.windowFailures++;
  }

  private open(now: number): void {
    this.state = BreakerState.Open;
    this.opens++;
    const duration = Math.min(this.config.openDuration * 2 ** (this.opens - 1), this.config.maxOpenDuration);
    this.openUntil = now + duration;
    this.trials = 0;
    this.consecutive = 0;
    this.windowRequests = 0;
    this.windowFailures = 0;
    this.onChange(this);
  }

  /** Open breakers whose time is up go half-open; called by the gateway's sweeper. */
  sweep(now: number): void {
    if (this.state === BreakerState.Open && now >= this.openUntil) {
      this.state = BreakerState.HalfOpen;
      this.trials = 0;
      this.onChange(this);
    }
  }
}
