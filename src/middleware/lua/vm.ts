// Hot path: one Lua state (a sandboxed Lua 5.4 VM in WebAssembly) and the calls into it.
//
// We use wasmoon only for its build of Lua and the loaded WebAssembly module, and call
// the Lua C API exports directly: its JS<->Lua value bridge converts every argument
// through a chain of type extensions. Measured (bench/lua.ts, the typical header script,
// onRequest + onResponse, loaded machine): 9.4 µs per request this way, 16.7 µs through
// the bridge. Strings cross as latin1 bytes, as HTTP heads carry them.
import { DivisorError } from "../../errors.js";

/** The parts of wasmoon's Emscripten module we call (the Lua C API, exported). */
export interface LuaModule {
  HEAPU8: Uint8Array;
  HEAPU32: Uint32Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  _realloc(ptr: number, size: number): number;
  addFunction(fn: (...args: number[]) => number | undefined, signature: string): number;
  _lua_newstate(alloc: number, ud: number): number;
  _lua_close(L: number): void;
  _luaL_openlibs(L: number): void;
  _luaL_loadbufferx(L: number, buf: number, size: number, name: number, mode: number): number;
  _lua_pcallk(L: number, nargs: number, nresults: number, errfunc: number, ctx: number, k: number): number;
  _lua_gettop(L: number): number;
  _lua_settop(L: number, idx: number): void;
  _lua_pushvalue(L: number, idx: number): void;
  _lua_type(L: number, idx: number): number;
  _lua_tolstring(L: number, idx: number, len: number): number;
  _lua_tonumberx(L: number, idx: number, isnum: number): number;
  _lua_toboolean(L: number, idx: number): number;
  _lua_pushlstring(L: number, s: number, len: number): number;
  _lua_pushnumber(L: number, n: number): void;
  _lua_pushinteger(L: number, n: bigint): void;
  _lua_pushboolean(L: number, b: number): void;
  _lua_pushnil(L: number): void;
  _lua_pushcclosure(L: number, fn: number, n: number): void;
  _lua_createtable(L: number, narr: number, nrec: number): void;
  _lua_settable(L: number, idx: number): void;
  _lua_setfield(L: number, idx: number, name: number): void;
  _lua_getglobal(L: number, name: number): number;
  _lua_setglobal(L: number, name: number): void;
  _lua_next(L: number, idx: number): number;
  _lua_error(L: number): number;
  _lua_sethook(L: number, fn: number, mask: number, count: number): void;
}

/** Push a number as a Lua integer when it is one (so scripts see 200, not 200.0). */
export function pushNumber(m: LuaModule, L: number, n: number): void {
  if (Number.isSafeInteger(n)) m._lua_pushinteger(L, BigInt(n));
  else m._lua_pushnumber(L, n);
}

/** Lua type tags (lua.h). */
export const T_NIL = 0;
export const T_BOOLEAN = 1;
export const T_NUMBER = 3;
export const T_STRING = 4;
export const T_TABLE = 5;
export const T_FUNCTION = 6;

const LUA_OK = 0;
const LUA_ERRSYNTAX = 3;
const LUA_ERRMEM = 4;
const LUA_MASKCOUNT = 8;
/** Instructions between two budget checks: the granularity of the instruction budget. */
export const HOOK_EVERY = 1000;

let loading: Promise<LuaModule> | null = null;
let loaded: LuaModule | null = null;
let host: HostFunctions | null = null;

/**
 * Load the Lua runtime (wasmoon's WebAssembly build of Lua 5.4) once per process. A
 * configuration with `type: lua` middlewares needs it before it is compiled: call it
 * before `createGateway` (loadConfigFile, the CLI and reloads call it themselves).
 *
 * @example
 * import { createGateway, loadLuaRuntime } from "divisor";
 * await loadLuaRuntime();
 * const gateway = createGateway(config); // config has `type: lua` middlewares
 */
export function loadLuaRuntime(): Promise<void> {
  if (loading === null) {
    loading = import("wasmoon").then(async (mod) => {
      const wasmoon = ((mod as { default?: unknown }).default ?? mod) as typeof import("wasmoon");
      const lua = await wasmoon.LuaWasm.initialize();
      loaded = lua.module as unknown as LuaModule;
      return loaded;
    });
    loading.catch(() => {
      loading = null;
    });
  }
  return loading.then(() => undefined);
}

/** Load the Lua runtime when `config` has a `type: lua` middleware (else do nothing: it costs nothing unused). */
export async function loadLuaRuntimeFor(config: { readonly middlewares: Readonly<Record<string, { readonly type: string }>> }): Promise<void> {
  for (const name in config.middlewares) {
    if (config.middlewares[name]!.type === "lua") return loadLuaRuntime();
  }
}

/** The loaded module, or a clear error saying how to load it. */
export function luaModule(): LuaModule {
  if (loaded === null) {
    throw new DivisorError(
      "ERR_LUA_NOT_LOADED",
      "the Lua runtime is not loaded: `await loadLuaRuntime()` (exported by divisor) before createGateway() with a `type: lua` middleware (the CLI and reloads do it themselves)",
    );
  }
  return loaded;
}

/** Why a call stopped. */
export type StopKind = "timeout" | "instructions" | "memory" | "error";

/** A script failed or was stopped by a limit. */
export class ScriptError extends DivisorError {
  constructor(
    readonly kind: StopKind,
    message: string,
  ) {
    super(kind === "error" ? "ERR_SCRIPT_FAILED" : "ERR_SCRIPT_LIMIT", message);
  }
}

/** A script that does not compile: `line` is 1-based, 0 when Lua gave none. */
export class ScriptSyntaxError extends DivisorError {
  constructor(
    readonly line: number,
    readonly reason: string,
  ) {
    super("ERR_SCRIPT_SYNTAX", line > 0 ? `line ${line}: ${reason}` : reason);
  }
}

/** The host functions' view of the state being called (one call runs at a time: Lua calls are synchronous). */
export interface HostCall {
  readonly state: LuaState;
}

/** A host function: reads its arguments from the Lua stack, pushes results, returns how many. */
export type HostFunction = (L: number, call: HostCall) => number;

interface HostFunctions {
  readonly module: LuaModule;
  readonly pointers: Map<string, number>;
  readonly strings: Strings;
  readonly states: Map<number, LuaState>;
  readonly alloc: number;
  readonly hook: number;
  nextId: number;
  /** The state whose call is running (the hook and host functions act on it). */
  current: LuaState | null;
}

/** Moves strings between JS (latin1: one char per byte) and the module's memory. */
export class Strings {
  private readonly lenPtr: number;
  private buf: number;
  private cap = 4096;
  private view: Buffer;

  constructor(private readonly m: LuaModule) {
    this.lenPtr = m._malloc(8);
    this.buf = m._malloc(this.cap);
    this.view = Buffer.from(m.HEAPU8.buffer);
  }

  private heap(): Buffer {
    // Memory growth replaces the ArrayBuffer.
    if (this.view.buffer !== this.m.HEAPU8.buffer) this.view = Buffer.from(this.m.HEAPU8.buffer);
    return this.view;
  }

  /** The string (or number, as Lua converts it) at `idx`, or undefined. */
  read(L: number, idx: number): string | undefined {
    const type = this.m._lua_type(L, idx);
    if (type !== T_STRING && type !== T_NUMBER) return undefined;
    const p = this.m._lua_tolstring(L, idx, this.lenPtr);
    const len = this.m.HEAPU32[this.lenPtr >> 2]!;
    return len === 0 ? "" : this.heap().latin1Slice(p, p + len);
  }

  /** The bytes of the string at `idx` (a copy), or undefined. */
  bytes(L: number, idx: number): Buffer | undefined {
    const type = this.m._lua_type(L, idx);
    if (type !== T_STRING && type !== T_NUMBER) return undefined;
    const p = this.m._lua_tolstring(L, idx, this.lenPtr);
    const len = this.m.HEAPU32[this.lenPtr >> 2]!;
    return Buffer.from(this.heap().subarray(p, p + len));
  }

  push(L: number, s: string): void {
    const ptr = this.staged(s, false);
    this.m._lua_pushlstring(L, ptr, s.length);
  }

  /** `s` copied into the scratch buffer (NUL-terminated when `cString`); valid until the next call. */
  staged(s: string, cString: boolean): number {
    const need = s.length + 1;
    if (need > this.cap) {
      while (this.cap < need) this.cap *= 2;
      this.m._free(this.buf);
      this.buf = this.m._malloc(this.cap);
    }
    const heap = this.heap();
    heap.write(s, this.buf, s.length, "latin1");
    if (cString) heap[this.buf + s.length] = 0;
    return this.buf;
  }
}

function hostFunctions(m: LuaModule): HostFunctions {
  if (host !== null && host.module === m) return host;
  const states = new Map<number, LuaState>();
  // One allocator for every state, told apart by the `ud` pointer (the state's id): it
  // keeps each under its memory cap (a refused allocation is a Lua memory error).
  const alloc = m.addFunction((ud: number, ptr: number, osize: number, nsize: number) => {
    const state = states.get(ud);
    if (nsize === 0) {
      if (ptr !== 0) {
        if (state !== undefined) state.memoryUsed -= osize;
        m._free(ptr);
      }
      return 0;
    }
    const delta = ptr !== 0 ? nsize - osize : nsize;
    if (state !== undefined && delta > 0 && state.memoryUsed + delta > state.memoryMax) return 0;
    const out = m._realloc(ptr, nsize);
    if (out !== 0 && state !== undefined) state.memoryUsed += delta;
    return out;
  }, "iiiii");
  const created: HostFunctions = {
    module: m,
    pointers: new Map(),
    strings: new Strings(m),
    states,
    alloc,
    hook: 0,
    nextId: 1,
    current: null,
  };
  (created as { hook: number }).hook = m.addFunction((L: number) => {
    const state = created.current;
    if (state !== null) state.onHook(L);
    return undefined;
  }, "vii");
  host = created;
  return created;
}

/** Register a host function under `name` (once per process; states then install it by name). */
export function hostFunction(name: string, fn: HostFunction): void {
  const h = hostFunctions(luaModule());
  if (h.pointers.has(name)) return;
  const ptr = h.module.addFunction((L: number) => fn(L, h.current as HostCall), "ii");
  h.pointers.set(name, ptr);
}

/** The module's string mover (for host functions). */
export function luaStrings(): Strings {
  return hostFunctions(luaModule()).strings;
}

/** Limits of one state. */
export interface StateLimits {
  /** Wall-clock budget of one call, ms. */
  readonly timeoutMs: number;
  /** Lua VM instructions one call may run (checked every HOOK_EVERY). */
  readonly instructions: number;
  /** Bytes the state may hold (its libraries included). */
  readonly memory: number;
}

/** What building a state needs: the sandbox prelude, the script, the phases to look up. */
export interface StateRecipe {
  /** Lua chunk run first with the host-function table as its argument (builds the script's API, removes the rest). */
  readonly prelude: string;
  readonly source: string;
  /** Chunk name in error messages (the middleware, or the file). */
  readonly chunkName: string;
  /** Global functions the script may define; kept at stack slots 1..n. */
  readonly phases: readonly string[];
  /** Globals set before the script runs (vars), as string maps. */
  readonly tables: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly limits: StateLimits;
}

/**
 * One Lua state with the script loaded. Calls are synchronous and run one at a time;
 * a call over its budget or memory is stopped with a ScriptError, and the state should
 * then be replaced (`broken`).
 */
export class LuaState implements HostCall {
  readonly state = this;
  readonly L: number;
  readonly id: number;
  memoryUsed = 0;
  memoryMax = Number.POSITIVE_INFINITY;
  /** Which phase functions the script defines, by index in the recipe's phases. */
  readonly defined: readonly boolean[];
  /** A limit stopped a call, or the state is closed: use another. */
  broken = false;
  /** What the running call's host functions act on (set by the caller). */
  context: unknown = null;
  private readonly h: HostFunctions;
  private readonly m: LuaModule;
  private hooks = 0;
  private maxHooks = 0;
  private deadline = 0;
  private stopped: StopKind | null = null;
  private readonly limits: StateLimits;
  private readonly base: number;

  constructor(recipe: StateRecipe) {
    const m = luaModule();
    const h = hostFunctions(m);
    this.m = m;
    this.h = h;
    this.limits = recipe.limits;
    this.id = h.nextId++;
    h.states.set(this.id, this);
    const L = m._lua_newstate(h.alloc, this.id);
    if (L === 0) throw new DivisorError("ERR_SCRIPT_LIMIT", "could not create a Lua state (out of memory)");
    this.L = L;
    try {
      m._luaL_openlibs(L);
      // The host functions, as a table handed to the prelude.
      this.load(recipe.prelude, "=divisor-prelude");
      m._lua_createtable(L, 0, h.pointers.size);
      for (const [name, ptr] of h.pointers) {
        m._lua_pushcclosure(L, ptr, 0);
        m._lua_setfield(L, -2, h.strings.staged(name, true));
      }
      for (const [name, entries] of Object.entries(recipe.tables)) {
        m._lua_createtable(L, 0, 4);
        for (const [k, v] of Object.entries(entries)) {
          h.strings.push(L, v);
          m._lua_setfield(L, -2, h.strings.staged(k, true));
        }
        m._lua_setglobal(L, h.strings.staged(name, true));
      }
      this.protectedCall(1, 0, "the sandbox prelude");
      // From here on the script's own allocations count against its cap.
      this.memoryMax = this.memoryUsed + recipe.limits.memory;
      this.load(recipe.source, `=${recipe.chunkName}`);
      this.protectedCall(0, 0, "the script's top level");
      const defined: boolean[] = [];
      for (const phase of recipe.phases) {
        const type = m._lua_getglobal(L, h.strings.staged(phase, true));
        defined.push(type === T_FUNCTION);
      }
      this.defined = defined;
      this.base = m._lua_gettop(L);
      m._lua_sethook(L, h.hook, LUA_MASKCOUNT, HOOK_EVERY);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  private load(source: string, name: string): void {
    const m = this.m;
    const s = this.h.strings;
    const namePtr = m._malloc(name.length + 1);
    try {
      Buffer.from(m.HEAPU8.buffer).write(`${name}\0`, namePtr, "latin1");
      const src = s.staged(source, false);
      const rc = m._luaL_loadbufferx(this.L, src, source.length, namePtr, 0);
      if (rc !== LUA_OK) {
        const message = s.read(this.L, -1) ?? "unknown error";
        m._lua_settop(this.L, -2);
        if (rc === LUA_ERRSYNTAX) throw syntaxError(message, name.slice(1));
        throw new ScriptError(rc === LUA_ERRMEM ? "memory" : "error", message);
      }
    } finally {
      m._free(namePtr);
    }
  }

  /** Run the function under `nargs` arguments at setup, outside a request's budget. */
  private protectedCall(nargs: number, nresults: number, what: string): void {
    this.begin(this.limits.timeoutMs * 10, this.limits.instructions * 10);
    const rc = this.m._lua_pcallk(this.L, nargs, nresults, 0, 0, 0);
    this.h.current = null;
    if (rc !== LUA_OK) throw this.failure(rc, what);
  }

  private begin(timeoutMs: number, instructions: number): void {
    this.hooks = 0;
    this.maxHooks = Math.ceil(instructions / HOOK_EVERY);
    this.deadline = performance.now() + timeoutMs;
    this.stopped = null;
    this.h.current = this;
  }

  /** The count hook: stop a call over its budget. */
  onHook(L: number): void {
    if (this.stopped === null) {
      if (++this.hooks > this.maxHooks) this.stopped = "instructions";
      else if (performance.now() > this.deadline) this.stopped = "timeout";
      else return;
      // From now on every instruction raises again, so a script catching the error
      // with pcall cannot go on: each level it unwinds to fails at once.
      this.m._lua_sethook(L, this.h.hook, LUA_MASKCOUNT, 1);
    }
    this.h.strings.push(L, this.stopped === "timeout" ? "stopped: over the time budget" : "stopped: over the instruction budget");
    this.m._lua_error(L);
  }

  /**
   * Call phase `index` with `nargs` arguments already pushed (after `prepare`); leaves
   * one result on the stack for `result*` and `finish`. Throws ScriptError on failure.
   */
  call(index: number, nargs: number): void {
    const m = this.m;
    const L = this.L;
    this.begin(this.limits.timeoutMs, this.limits.instructions);
    let rc: number;
    try {
      rc = m._lua_pcallk(L, nargs, 1, 0, 0, 0);
    } catch (err) {
      // A JS exception unwound through the Lua VM (a bug in a host function, a WebAssembly
      // trap): the state's call stack is no longer consistent, so it is never used again.
      this.h.current = null;
      this.broken = true;
      throw new ScriptError("error", `the Lua state failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.h.current = null;
    if (this.stopped !== null) m._lua_sethook(L, this.h.hook, LUA_MASKCOUNT, HOOK_EVERY);
    if (rc !== LUA_OK) {
      const err = this.failure(rc, `phase ${index}`);
      m._lua_settop(L, this.base);
      throw err;
    }
  }

  /** Push phase `index`'s function (then its arguments, then `call`). */
  prepare(index: number): void {
    this.m._lua_pushvalue(this.L, index + 1);
  }

  /** Drop what the last call left on the stack. */
  finish(): void {
    this.m._lua_settop(this.L, this.base);
  }

  private failure(rc: number, what: string): ScriptError {
    const message = this.h.strings.read(this.L, -1) ?? `${what} failed (error object is not a string)`;
    this.m._lua_settop(this.L, -2);
    if (this.stopped !== null) {
      this.broken = true;
      return new ScriptError(this.stopped, this.stopped === "timeout" ? `stopped after its time budget of ${this.limits.timeoutMs} ms` : `stopped after its budget of ${this.limits.instructions} instructions`);
    }
    if (rc === LUA_ERRMEM) {
      this.broken = true;
      return new ScriptError("memory", `stopped at its memory cap of ${this.limits.memory} bytes`);
    }
    return new ScriptError("error", message);
  }

  close(): void {
    if (!this.h.states.has(this.id)) return;
    this.broken = true;
    if (this.L !== 0) this.m._lua_close(this.L);
    this.h.states.delete(this.id);
  }
}

/** `name:3: unexpected symbol near 'end'` → line 3 and the reason. */
function syntaxError(message: string, name: string): ScriptSyntaxError {
  const prefix = `${name}:`;
  const rest = message.startsWith(prefix) ? message.slice(prefix.length) : message;
  const colon = rest.indexOf(":");
  const line = colon > 0 ? Number(rest.slice(0, colon)) : Number.NaN;
  if (Number.isInteger(line)) return new ScriptSyntaxError(line, rest.slice(colon + 1).trim());
  return new ScriptSyntaxError(0, message);
}
