/**
 * Request coalescing: while one exchange (the leader) fetches a missing key from the
 * backend, the others that miss the same key wait for it, within a bound, and then
 * look the key up again instead of each going to the backend.
 */

interface Flight {
  readonly done: Promise<void>;
  readonly finish: () => void;
}

export class Coalescer {
  private readonly flights = new Map<string, Flight>();

  /** Claim the fetch of `key`: true when this caller leads it (and must call `finish`), false when one is in flight. */
  lead(key: string): boolean {
    if (this.flights.has(key)) return false;
    let finish!: () => void;
    const done = new Promise<void>((resolve) => (finish = resolve));
    this.flights.set(key, { done, finish });
    return true;
  }

  /** The leader's response is stored (or turned out not storable, or failed): wake the waiters. */
  finish(key: string): void {
    const flight = this.flights.get(key);
    if (flight === undefined) return;
    this.flights.delete(key);
    flight.finish();
  }

  /** Wait for the fetch in flight for `key`, at most `ms` (or until `signal` aborts). */
  wait(key: string, ms: number, signal: AbortSignal): Promise<void> {
    const flight = this.flights.get(key);
    if (flight === undefined) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const end = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", end);
        resolve();
      };
      const timer = setTimeout(end, ms);
      signal.addEventListener("abort", end, { once: true });
      flight.done.then(end);
    });
  }
}
