// Hot path: one coarse timer for every per-connection deadline.

/** Something with a deadline, checked by the sweeper. */
export interface Timed {
  /** `performance.now()` value after which `onDeadline` is called; 0 = none. */
  deadline: number;
  onDeadline(now: number): void;
}

/**
 * Per-request timers (header, idle, response timeouts) would cost a timer
 * allocation or refresh on every request; instead each connection carries a
 * `deadline` number and one interval sweeps them all. Resolution is `periodMs`.
 */
export class DeadlineSweeper {
  private readonly items = new Set<Timed>();
  private readonly timer: NodeJS.Timeout;
  private readonly extra: (() => void)[] = [];

  constructor(periodMs = 50) {
    this.timer = setInterval(() => this.sweep(), periodMs);
    this.timer.unref();
  }

  add(item: Timed): void {
    this.items.add(item);
  }

  delete(item: Timed): void {
    this.items.delete(item);
  }

  /** Run `task` on every sweep (e.g. expiring idle pooled connections). */
  every(task: () => void): void {
    this.extra.push(task);
  }

  private sweep(): void {
    const now = performance.now();
    for (const item of this.items) {
      if (item.deadline !== 0 && item.deadline <= now) item.onDeadline(now);
    }
    for (const task of this.extra) task();
  }

  close(): void {
    clearInterval(this.timer);
    this.items.clear();
    this.extra.length = 0;
  }
}
