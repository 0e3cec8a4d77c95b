/** Requests sent in a loop by several clients at once, counting which backend answered and what failed. */
export interface LoadLoop {
  /** Bodies of 200 answers (a backend's name) → how many. */
  readonly servedBy: Map<string, number>;
  /** Every other answer ("<status> <body>") and every error. */
  readonly failures: string[];
  /** Start `clients` loops, each sending one request after the other. */
  start(clients: number): void;
  /** Let each loop finish its request in flight, then stop. */
  stop(): Promise<void>;
}

export function loadLoop(send: () => Promise<{ status: number; body: string }>): LoadLoop {
  const servedBy = new Map<string, number>();
  const failures: string[] = [];
  let stopped = false;
  let running: Promise<void>[] = [];
  const loop = async (): Promise<void> => {
    while (!stopped) {
      try {
        const res = await send();
        if (res.status === 200) servedBy.set(res.body, (servedBy.get(res.body) ?? 0) + 1);
        else failures.push(`${res.status} ${res.body}`);
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  return {
    servedBy,
    failures,
    start(clients) {
      running = Array.from({ length: clients }, loop);
    },
    async stop() {
      stopped = true;
      await Promise.all(running);
    },
  };
}
