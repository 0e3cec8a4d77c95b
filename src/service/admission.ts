// Hot path: overload protection of one service: a bounded number of requests in flight,
// a bounded queue, a bounded wait.

/** An exchange waiting for a slot. */
export interface Admittee {
  /** A slot is now held for it. */
  admitted(): void;
  /** It waited queueTimeout without getting a slot. */
  timedOut(): void;
}

export const enum Admission {
  Admitted = 0,
  Queued = 1,
  Full = 2,
}

interface Waiter {
  who: Admittee;
  deadline: number;
}

/**
 * In-flight limit of one service, kept in the service registry (so a reload keeps
 * its count: exchanges on the old and the new table share it).
 */
export class AdmissionLimit {
  maxInFlight: number;
  queueSize: number;
  queueTimeoutMs: number;
  inFlight = 0;
  private readonly queue: Waiter[] = [];

  constructor(maxInFlight: number, queueSize: number, queueTimeoutMs: number) {
    this.maxInFlight = maxInFlight;
    this.queueSize = queueSize;
    this.queueTimeoutMs = queueTimeoutMs;
  }

  /** Take a slot now, or queue for one (then `admitted` or `timedOut` is called later), or refuse. */
  enter(who: Admittee): Admission {
    if (this.maxInFlight === 0 || this.inFlight < this.maxInFlight) {
      this.inFlight++;
      return Admission.Admitted;
    }
    if (this.queue.length >= this.queueSize) return Admission.Full;
    this.queue.push({ who, deadline: performance.now() + this.queueTimeoutMs });
    return Admission.Queued;
  }

  /** Give a slot back; the oldest waiter gets it. */
  leave(): void {
    this.inFlight--;
    while (this.queue.length > 0 && (this.maxInFlight === 0 || this.inFlight < this.maxInFlight)) {
      const { who } = this.queue.shift()!;
      this.inFlight++;
      who.admitted();
    }
  }

  /** Stop waiting (the client went away). */
  cancel(who: Admittee): void {
    const i = this.queue.findIndex((w) => w.who === who);
    if (i >= 0) this.queue.splice(i, 1);
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Time out waiters; called by the gateway's sweeper. */
  sweep(now: number): void {
    while (this.queue.length > 0 && this.queue[0]!.deadline <= now) this.queue.shift()!.who.timedOut();
  }
}
