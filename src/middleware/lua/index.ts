// Hot path: the `lua` middleware's phases, each a call into the script's Lua state.
import { readFileSync } from "node:fs";
import type { z } from "zod";
import { ConfigError, type ConfigIssue } from "../../errors.js";
import type { MetricCell } from "../../observability/metrics/plugin-metrics.js";
import type { BackendState } from "../../service/balancers/types.js";
import type { DirectResponse, Exchange, Middleware, PluginContext, ResponseHeadView, UpstreamRequestHead } from "../plugin.js";
import { definePlugin } from "../plugin.js";
import { ON_LOG, ON_REQUEST, ON_RESPONSE, ON_UPSTREAM_REQUEST, PHASES, PRELUDE, registerHostFunctions, ScriptCall, type ScriptChange, SELECT_BACKEND } from "./api.js";
import { forbiddenUses } from "./check.js";
import type { luaSchema } from "./schema.js";
import { ScriptStore } from "./store.js";
import { StatePool } from "./pool.js";
import { type LuaState, luaModule, luaStrings, ScriptError, ScriptSyntaxError, type StateRecipe, T_STRING, T_TABLE } from "./vm.js";

type Options = z.output<typeof luaSchema>;

const RESULTS = ["ok", "responded", "failed", "quarantined"] as const;
const KINDS = ["timeout", "memory", "error"] as const;
const STORE = Symbol("lua-kv");
const POOL = Symbol("lua-pool");
const UNUSED: MetricCell = { inc() {}, set() {} };

/**
 * A script with its pool of loaded Lua states, its limits, quarantine and counters.
 * One call runs at a time (Lua calls are synchronous), so one ScriptCall is reused.
 */
export class Script {
  readonly call: ScriptCall;
  readonly recipe: StateRecipe;
  private readonly pool: StatePool;
  private stops = 0;
  private quarantinedUntil = 0;
  private readonly runs: MetricCell[][];
  private readonly errors: Record<(typeof KINDS)[number], MetricCell>;
  /** Backends route.use_backends() chose, per exchange, until selectBackend reads them. */
  private readonly steered = new WeakMap<Exchange, readonly string[]>();
  private rotation = 0;
  readonly defined: readonly boolean[];
  /** The script calls route.use_backends (then selectBackend must run even if the script defines none). */
  private readonly usesBackends: boolean;

  constructor(
    readonly name: string,
    private readonly options: Options,
    private readonly context: PluginContext,
  ) {
    const where = `middlewares.${name}`;
    const source = scriptSource(options, where);
    const issues = forbiddenUses(source).map((u) => issue(where, options, `line ${u.line}: \`${u.name}\` is not available in scripts (${u.why}); the sandbox offers string, table, math, utf8 and the script API (docs/scripting.md)`));
    if (issues.length > 0) throw new ConfigError(issues);
    registerHostFunctions();
    let store = context.state.get(STORE) as ScriptStore | undefined;
    if (store === undefined) {
      store = new ScriptStore(options.kv.maxKeys, options.kv.maxValueSize);
      context.state.set(STORE, store);
    } else store.resize(options.kv.maxKeys, options.kv.maxValueSize);
    this.call = new ScriptCall(name, store, new Set(options.services), context.log);
    this.recipe = {
      prelude: PRELUDE,
      source,
      chunkName: options.file ?? name,
      phases: PHASES,
      tables: { vars: options.vars },
      limits: { timeoutMs: options.limits.timeout, instructions: options.limits.instructions, memory: options.limits.memory },
    };
    // The same script, vars and limits as the pool kept for this middleware's name: reuse its states.
    const key = JSON.stringify([source, this.recipe.chunkName, options.vars, this.recipe.limits, options.pool]);
    const kept = context.state.get(POOL) as StatePool | undefined;
    if (kept !== undefined && kept.key === key) this.pool = kept;
    else {
      try {
        this.pool = new StatePool(this.recipe, key, options.pool, context.log, name);
      } catch (err) {
        if (err instanceof ScriptSyntaxError) throw new ConfigError([issue(where, options, `${options.file === undefined ? "" : `${options.file}: `}${err.message}`)]);
        if (err instanceof ScriptError) throw new ConfigError([issue(where, options, `the script failed while loading: ${err.message}`)]);
        throw err;
      }
      // Closed with the gateway, or when the middleware is dropped (MiddlewareStates closes values with close()).
      context.state.set(POOL, this.pool);
    }
    this.defined = this.pool.defined;
    this.usesBackends = /\buse_backends\b/.test(source);
    const counter = context.metrics.counter("divisor_script_runs", "Phase calls of lua middlewares, by phase and result (ok, responded, failed, quarantined).", ["phase", "result"]);
    // Series only for the phases the script defines (plus selectBackend when it steers backends).
    const used = this.defined.map((d, i) => d || (i === SELECT_BACKEND && this.defined[ON_REQUEST] === true && this.usesBackends));
    this.runs = PHASES.map((phase, i) => RESULTS.map((result) => (used[i] ? counter.labels(phase, result) : UNUSED)));
    const errors = context.metrics.counter("divisor_script_errors", "Phase calls of lua middlewares that failed, by kind (timeout: time or instruction budget; memory: the memory cap; error: a Lua error).", ["kind"]);
    this.errors = { timeout: errors.labels("timeout"), memory: errors.labels("memory"), error: errors.labels("error") };
  }

  /** The middleware: only the phases the script defines. */
  middleware(): Middleware {
    const d = this.defined;
    return {
      onRequest: d[ON_REQUEST] ? (ex) => this.onRequest(ex) : undefined,
      selectBackend: d[SELECT_BACKEND] || (d[ON_REQUEST] && this.usesBackends) ? (ex, candidates) => this.selectBackend(ex, candidates) : undefined,
      onUpstreamRequest: d[ON_UPSTREAM_REQUEST] ? (ex, head) => this.onUpstreamRequest(ex, head) : undefined,
      onResponse: d[ON_RESPONSE] ? (ex, head) => this.onResponse(ex, head) : undefined,
      onLog: d[ON_LOG] ? (ex) => this.onLog(ex) : undefined,
    };
  }

  onRequest(ex: Exchange): DirectResponse | undefined {
    const state = this.acquire(ON_REQUEST);
    if (state === null) return ex.respond(503, `script ${this.name} is out of service after repeatedly hitting its limits\n`, { "content-type": "text/plain; charset=utf-8", "retry-after": "1" });
    const call = this.call;
    call.reset(ex, ON_REQUEST);
    call.service = null;
    call.backends = null;
    this.run(state, ON_REQUEST, 0);
    if (call.service !== null) ex.useService(call.service);
    if (call.backends !== null) this.steered.set(ex, call.backends);
    if (call.answer !== null) {
      this.runs[ON_REQUEST]![1]!.inc();
      return call.answer;
    }
    this.runs[ON_REQUEST]![0]!.inc();
    return undefined;
  }

  selectBackend(ex: Exchange, candidates: readonly BackendState[]): BackendState | undefined {
    let list = candidates;
    const subset = this.steered.get(ex);
    if (subset !== undefined) {
      list = candidates.filter((b) => subset.includes(b.address));
      // None of the chosen backends is available: the service's balancer picks among all.
      if (list.length === 0) return undefined;
    }
    if (!this.defined[SELECT_BACKEND]) return this.leastLoaded(list);
    const state = this.acquire(SELECT_BACKEND);
    if (state === null) return undefined;
    const call = this.call;
    call.reset(ex, SELECT_BACKEND);
    const m = luaModule();
    const s = luaStrings();
    const L = state.L;
    state.context = call;
    state.prepare(SELECT_BACKEND);
    m._lua_createtable(L, list.length, 0);
    for (let i = 0; i < list.length; i++) {
      m._lua_pushnumber(L, i + 1);
      s.push(L, list[i]!.address);
      m._lua_settable(L, -3);
    }
    this.invoke(state, SELECT_BACKEND, 1);
    let chosen: BackendState[] | null = null;
    const type = m._lua_type(L, -1);
    if (type === T_STRING) {
      const address = s.read(L, -1);
      chosen = list.filter((b) => b.address === address);
    } else if (type === T_TABLE) {
      const picked = new Set<string>();
      m._lua_pushnil(L);
      while (m._lua_next(L, -2) !== 0) {
        const v = s.read(L, -1);
        if (v !== undefined) picked.add(v);
        m._lua_settop(L, -2);
      }
      chosen = list.filter((b) => picked.has(b.address));
    }
    state.finish();
    this.runs[SELECT_BACKEND]![0]!.inc();
    call.record("select-backend", undefined, chosen === null ? [] : chosen.map((b) => b.address));
    if (chosen === null || chosen.length === 0) return subset !== undefined ? this.leastLoaded(list) : undefined;
    return this.leastLoaded(chosen);
  }

  onUpstreamRequest(ex: Exchange, head: UpstreamRequestHead): void {
    this.phase(ex, ON_UPSTREAM_REQUEST, head, null);
  }

  onResponse(ex: Exchange, head: ResponseHeadView): void {
    this.phase(ex, ON_RESPONSE, null, head);
  }

  onLog(ex: Exchange): void {
    this.phase(ex, ON_LOG, null, null);
  }

  /** A phase that takes no arguments and can only change heads (skipped while quarantined). */
  private phase(ex: Exchange, phase: number, upstream: UpstreamRequestHead | null, response: ResponseHeadView | null): void {
    const state = this.acquire(phase);
    if (state === null) return;
    this.call.reset(ex, phase);
    this.call.upstream = upstream;
    this.call.response = response;
    this.run(state, phase, 0);
    this.runs[phase]![0]!.inc();
  }

  /** Record what the script does (divisor script test); null stops recording. */
  trace(into: ScriptChange[] | null): void {
    this.call.trace = into;
  }

  close(): void {
    this.pool.close();
  }

  /** Call a phase that takes no arguments and returns nothing. */
  private run(state: LuaState, phase: number, nargs: number): void {
    state.context = this.call;
    state.prepare(phase);
    this.invoke(state, phase, nargs);
    state.finish();
  }

  private invoke(state: LuaState, phase: number, nargs: number): void {
    try {
      state.call(phase, nargs);
    } catch (err) {
      throw this.failed(state, phase, err);
    }
    this.stops = 0;
  }

  /** A free state, or null while quarantined. */
  private acquire(phase: number): LuaState | null {
    if (this.quarantinedUntil !== 0) {
      if (performance.now() < this.quarantinedUntil) {
        this.runs[phase]![3]!.inc();
        return null;
      }
      // Out of quarantine: the next call is a trial; another stop puts it back at once.
      this.quarantinedUntil = 0;
    }
    return this.pool.acquire();
  }

  private failed(state: LuaState, phase: number, err: unknown): Error {
    this.runs[phase]![2]!.inc();
    const kind = err instanceof ScriptError ? err.kind : "error";
    this.errors[kind === "instructions" ? "timeout" : kind].inc();
    if (state.broken) this.pool.replace(state);
    if (kind !== "error" && ++this.stops >= this.options.quarantine.after) {
      this.quarantinedUntil = performance.now() + this.options.quarantine.duration;
      this.context.log.warn({ middleware: this.name, stops: this.stops, forMs: this.options.quarantine.duration }, "script quarantined: it keeps hitting its limits");
    }
    const message = err instanceof Error ? err.message : String(err);
    return new ScriptError(kind, `script ${this.name} (${this.recipe.chunkName}) ${PHASES[phase]}: ${message}`);
  }

  /** The backend with the fewest requests in flight for its weight; ties take turns. */
  private leastLoaded(list: readonly BackendState[]): BackendState | undefined {
    if (list.length === 0) return undefined;
    const start = this.rotation++ % list.length;
    let best: BackendState | undefined;
    let bestLoad = Number.POSITIVE_INFINITY;
    for (let k = 0; k < list.length; k++) {
      const b = list[(start + k) % list.length]!;
      const load = (b.active + 1) / Math.max(b.weight, 1);
      if (load < bestLoad) {
        best = b;
        bestLoad = load;
      }
    }
    return best;
  }
}

function scriptSource(options: Options, where: string): string {
  let source: string;
  if (options.file !== undefined) {
    try {
      source = readFileSync(options.file, "latin1");
    } catch (err) {
      throw new ConfigError([issue(where, options, `cannot read the script ${options.file}: ${(err as Error).message}`)]);
    }
  } else source = options.source!;
  if (source.length > options.limits.size) {
    throw new ConfigError([issue(where, options, `the script is ${source.length} bytes, over its limit of ${options.limits.size} (limits.size)`)]);
  }
  return source;
}

function issue(where: string, options: Options, message: string): ConfigIssue {
  return { file: "<config>", line: 0, column: 0, path: `${where}.${options.file === undefined ? "source" : "file"}`, message };
}

/**
 * `type: lua` — a sandboxed Lua 5.4 script run at the plugin phases it defines
 * (onRequest, selectBackend, onUpstreamRequest, onResponse, onLog); see docs/scripting.md.
 *
 * @example
 * middlewares:
 *   tag:
 *     type: lua
 *     source: |
 *       function onRequest()
 *         request.set_header("x-tenant", request.host():match("^[^.]+"))
 *       end
 */
export const luaPlugin = definePlugin<Options>({
  name: "lua",
  create(options, context) {
    return new Script(context.name, options, context).middleware();
  },
});
