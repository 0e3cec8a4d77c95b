/**
 * State a middleware keeps across reloads (rate-limit buckets, caches), owned by the
 * gateway and keyed by the middleware's name: a reload that keeps the name keeps the
 * state; compiling without a gateway (the CLI's offline checks) gets a fresh map.
 * A value with a `close()` method (a connection) is closed when its middleware's
 * state is dropped or the gateway closes.
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

  /** The state map of middleware `name`, if it has one (the admin API's view). */
  peek(name: string): ReadonlyMap<string | symbol, unknown> | undefined {
    return this.byName.get(name);
  }

  /** Forget (and close) the state of middlewares the running config no longer has. */
  retain(names: Iterable<string>): void {
    const keep = new Set(names);
    for (const [name, state] of this.byName) {
      if (keep.has(name)) continue;
      closeAll(state);
      this.byName.delete(name);
    }
  }

  /** Close every state's connections (the gateway is closing). */
  close(): void {
    for (const state of this.byName.values()) closeAll(state);
    this.byName.clear();
  }
}

function closeAll(state: Map<string | symbol, unknown>): void {
  for (const value of state.values()) {
    const close = (value as { close?: unknown } | null)?.close;
    if (typeof close === "function") close.call(value);
  }
}
