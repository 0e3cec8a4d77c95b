// Hot path: the Lua states of one script, ready before a request needs one.
import type { ScriptLog } from "./api.js";
import { LuaState, type StateRecipe } from "./vm.js";

/** Closes the states of pools no script references any more (an old configuration's, a refused reload's). */
const finalizer = new FinalizationRegistry<LuaState[]>((states) => {
  for (const s of states) s.close();
});

/**
 * `size` loaded states of one recipe: the first serves, the others stand by to
 * replace one a limit stopped, and are reloaded after the request that broke it.
 * A reload that leaves a script (source, vars, limits) unchanged keeps its pool,
 * so reloading a configuration of many tenants does not restart their states.
 */
export class StatePool {
  private readonly states: LuaState[] = [];
  private refilling = false;
  private closed = false;
  /** Which phases the script defines (from its first state). */
  readonly defined: readonly boolean[];

  constructor(
    readonly recipe: StateRecipe,
    /** Identity of the recipe: a pool is reused only by a script with the same key. */
    readonly key: string,
    private readonly size: number,
    private readonly log: ScriptLog,
    private readonly name: string,
  ) {
    // The first state is loaded now: it is what checks the script (syntax, its top level).
    const first = new LuaState(recipe);
    this.states.push(first);
    this.defined = first.defined;
    finalizer.register(this, this.states);
    this.refill();
  }

  /** The serving state (loaded now if every one was closed). */
  acquire(): LuaState {
    const first = this.states[0];
    if (first !== undefined) return first;
    const state = new LuaState(this.recipe);
    this.states.push(state);
    return state;
  }

  /** Drop a state a limit stopped; a standby serves the next call, a fresh one is loaded after this request. */
  replace(state: LuaState): void {
    const i = this.states.indexOf(state);
    if (i >= 0) this.states.splice(i, 1);
    state.close();
    this.refill();
  }

  /** Load the standbys off the request path. */
  private refill(): void {
    if (this.refilling || this.closed || this.states.length >= this.size) return;
    this.refilling = true;
    setImmediate(() => {
      this.refilling = false;
      if (this.closed) return;
      try {
        while (this.states.length < this.size) this.states.push(new LuaState(this.recipe));
      } catch (err) {
        this.log.error({ middleware: this.name, err: err instanceof Error ? err.message : String(err) }, "could not load a fresh Lua state");
      }
    });
  }

  /** Close every state (the gateway closes, or the middleware is gone); a later call loads one again. */
  close(): void {
    this.closed = true;
    for (const s of this.states) s.close();
    this.states.length = 0;
  }
}
