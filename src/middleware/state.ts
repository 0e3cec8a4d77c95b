/**
 * State a middleware keeps across reloads (rate-limit buckets, caches), owned by the
 * gateway and keyed by the middleware's name: a reload that keeps the name keeps the
 * state; compiling without a gateway (the CLI's offline checks) gets a fresh map.
 */
export class MiddlewareStates {
  private readonly byName = new Map<string, Map<string | symbol, unknown>>();

  /** The state map of middleware `name` (created empty the first time). */
  forMiddleware(name: string): Map<string | symbol, unknown> {
    let state = this.byName.get(name);
    if (state === undefined) {
      state = new Map();
      this.byName.set(name, state);
    }
    return state;
  }

  /** Forget the state of middlewares the running config no longer has. */
  retain(names: Iterable<string>): void {
    const keep = new Set(names);
    for (const name of this.byName.keys()) if (!keep.has(name)) this.byName.delete(name);
  }
}
