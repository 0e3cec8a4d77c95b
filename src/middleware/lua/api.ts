// Hot path: the functions a Lua script calls (request, response, route, kv, log, time, respond).
//
// Each is a C function of the Lua state, written in JS against the Lua C API: arguments are
// read from the stack and results pushed, with no JS<->Lua object bridge. They act on the
// call in progress (`ScriptCall`), which the middleware fills in before each phase.
import { FIELD_VALUE, TARGET, TOKEN } from "../../http1/chars.js";
import type { HeaderList } from "../../http1/headers.js";
import type { DirectResponse, Exchange, ResponseHeadView, UpstreamRequestHead } from "../plugin.js";
import { findCookie } from "../../exchange/forwarding.js";
import { type HostCall, hostFunction, luaModule, luaStrings, pushNumber, T_NIL, T_NUMBER, T_STRING, T_TABLE } from "./vm.js";
import type { ScriptStore } from "./store.js";

/** The phases a script may define, in the order of the state's stack slots. */
export const PHASES = ["onRequest", "selectBackend", "onUpstreamRequest", "onResponse", "onLog"] as const;
export type PhaseName = (typeof PHASES)[number];
export const ON_REQUEST = 0;
export const SELECT_BACKEND = 1;
export const ON_UPSTREAM_REQUEST = 2;
export const ON_RESPONSE = 3;
export const ON_LOG = 4;

/** One thing a script did, for `divisor script test` (recorded only when a trace is asked for). */
export interface ScriptChange {
  readonly phase: PhaseName;
  readonly action: string;
  readonly name?: string;
  readonly value?: string | number | readonly string[];
}

/** Where log lines of scripts go. */
export interface ScriptLog {
  debug(fields: object, msg: string): void;
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
  error(fields: object, msg: string): void;
}

/** What the host functions act on: one middleware's call in progress (reused from call to call). */
export class ScriptCall {
  exchange: Exchange | null = null;
  phase = ON_REQUEST;
  upstream: UpstreamRequestHead | null = null;
  response: ResponseHeadView | null = null;
  /** respond() in onRequest. */
  answer: DirectResponse | null = null;
  /** route.use_service() in onRequest. */
  service: string | null = null;
  /** route.use_backends() in onRequest: addresses the balancer is limited to. */
  backends: string[] | null = null;
  /** Changes, when tracing (divisor script test); null otherwise. */
  trace: ScriptChange[] | null = null;
  constructor(
    readonly middleware: string,
    readonly store: ScriptStore,
    /** Services route.use_service may pick (the middleware's `services`). */
    readonly services: ReadonlySet<string>,
    readonly log: ScriptLog,
  ) {}

  reset(exchange: Exchange, phase: number): void {
    this.exchange = exchange;
    this.phase = phase;
    this.upstream = null;
    this.response = null;
    this.answer = null;
  }

  record(action: string, name?: string, value?: string | number | readonly string[]): void {
    this.trace?.push({ phase: PHASES[this.phase]!, action, name, value });
  }
}

function callOf(h: HostCall): ScriptCall {
  return h.state.context as ScriptCall;
}

// ---------------------------------------------------------------- argument helpers

/** Raise a Lua error with `message` (does not return: the Lua C API longjmps). */
function raise(L: number, message: string): never {
  luaStrings().push(L, message);
  luaModule()._lua_error(L);
  throw new Error("unreachable: lua_error returned");
}

function stringArg(L: number, idx: number, fn: string): string {
  const s = luaStrings().read(L, idx);
  if (s === undefined) raise(L, `${fn}: argument ${idx} must be a string`);
  return s;
}

function optionalString(L: number, idx: number): string | undefined {
  return luaStrings().read(L, idx);
}

function pushString(L: number, s: string | undefined): number {
  if (s === undefined) luaModule()._lua_pushnil(L);
  else luaStrings().push(L, s);
  return 1;
}

function headerName(L: number, idx: number, fn: string): string {
  const name = stringArg(L, idx, fn);
  if (name.length === 0) raise(L, `${fn}: a header name may not be empty`);
  for (let i = 0; i < name.length; i++) if (TOKEN[name.charCodeAt(i)] !== 1) raise(L, `${fn}: ${JSON.stringify(name)} is not a valid header name`);
  return name;
}

function headerValue(L: number, idx: number, fn: string): string {
  const value = stringArg(L, idx, fn);
  for (let i = 0; i < value.length; i++) {
    if (FIELD_VALUE[value.charCodeAt(i)] !== 1) raise(L, `${fn}: header values may not contain CR, LF, NUL or other control characters`);
  }
  return value;
}

function onlyIn(L: number, call: ScriptCall, fn: string, ...phases: number[]): void {
  if (!phases.includes(call.phase)) raise(L, `${fn} is for ${phases.map((p) => PHASES[p]).join(" and ")}, not ${PHASES[call.phase]}`);
}

// ---------------------------------------------------------------- request

/** The request headers in force: the upstream head's once it exists. */
function requestHeaders(call: ScriptCall): HeaderList {
  return call.upstream !== null ? call.upstream.headers : call.exchange!.request.headers;
}

function writableRequest(L: number, call: ScriptCall, fn: string): HeaderList {
  onlyIn(L, call, fn, ON_REQUEST, ON_UPSTREAM_REQUEST);
  return requestHeaders(call);
}

/** The path and query in force (the upstream head's target once it exists). */
function splitTarget(call: ScriptCall): [string, string] {
  if (call.upstream === null) return [call.exchange!.request.path, call.exchange!.request.query];
  const target = call.upstream.target;
  const q = target.indexOf("?");
  return q < 0 ? [target, ""] : [target.slice(0, q), target.slice(q)];
}

function checkTarget(L: number, s: string, fn: string): void {
  for (let i = 0; i < s.length; i++) if (TARGET[s.charCodeAt(i)] !== 1) raise(L, `${fn}: ${JSON.stringify(s)} has characters a request-target may not hold (spaces, controls, '#', non-ASCII): percent-encode them`);
}

function setPath(L: number, call: ScriptCall, path: string): void {
  if (!path.startsWith("/")) raise(L, `request.set_path: the path must start with "/", got ${JSON.stringify(path)}`);
  checkTarget(L, path, "request.set_path");
  if (path.includes("?")) raise(L, "request.set_path: the path may not hold a '?'; use request.set_query");
  if (call.upstream !== null) call.upstream.target = path + splitTarget(call)[1];
  else call.exchange!.request.path = path;
  call.record("set-path", undefined, path);
}

function setQuery(L: number, call: ScriptCall, query: string): void {
  const q = query === "" || query.startsWith("?") ? query : `?${query}`;
  checkTarget(L, q, "request.set_query");
  if (call.upstream !== null) call.upstream.target = splitTarget(call)[0] + q;
  else call.exchange!.request.query = q;
  call.record("set-query", undefined, q);
}

/** The first value of query parameter `name`, decoded, or undefined. */
function queryArg(query: string, name: string): string | undefined {
  if (query.length < 2) return undefined;
  for (const pair of query.slice(1).split("&")) {
    const eq = pair.indexOf("=");
    const key = eq < 0 ? pair : pair.slice(0, eq);
    if (decodeLoose(key) !== name) continue;
    return eq < 0 ? "" : decodeLoose(pair.slice(eq + 1));
  }
  return undefined;
}

function decodeLoose(s: string): string {
  const plus = s.includes("+") ? s.replaceAll("+", " ") : s;
  if (!plus.includes("%")) return plus;
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

function pushHeaders(L: number, headers: HeaderList): number {
  const m = luaModule();
  const s = luaStrings();
  const raw = headers.raw;
  m._lua_createtable(L, 0, raw.length / 2);
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const all = headers.getAll(name);
    if (all.length > 1 && all[0] !== raw[i + 1]) continue;
    s.push(L, name);
    s.push(L, all.length > 1 ? all.join(", ") : raw[i + 1]!);
    m._lua_settable(L, -3);
  }
  return 1;
}

/** A list of strings given as a Lua array (or one string). */
function stringList(L: number, idx: number, fn: string): string[] {
  const m = luaModule();
  const s = luaStrings();
  const type = m._lua_type(L, idx);
  if (type === T_STRING) return [s.read(L, idx)!];
  if (type !== T_TABLE) raise(L, `${fn}: expected a list of strings`);
  const out: string[] = [];
  m._lua_pushnil(L);
  while (m._lua_next(L, idx) !== 0) {
    const v = s.read(L, -1);
    if (v === undefined) raise(L, `${fn}: expected a list of strings`);
    out.push(v);
    m._lua_settop(L, -2);
  }
  return out;
}

type HeadersOf = (L: number, call: ScriptCall, fn: string) => HeaderList;

/** `set_header` (replace) or `add_header` (append) on the headers `headersOf` gives. */
function headerWrite(fn: string, action: string, headersOf: HeadersOf, replace: boolean) {
  return (L: number, h: HostCall): number => {
    const call = callOf(h);
    const headers = headersOf(L, call, fn);
    const name = headerName(L, 1, fn);
    const value = headerValue(L, 2, fn);
    if (replace) headers.set(name, value);
    else headers.add(name, value);
    call.record(action, name, value);
    return 0;
  };
}

function headerRemove(fn: string, action: string, headersOf: HeadersOf) {
  return (L: number, h: HostCall): number => {
    const call = callOf(h);
    const headers = headersOf(L, call, fn);
    const name = stringArg(L, 1, fn);
    if (headers.delete(name) > 0) call.record(action, name);
    return 0;
  };
}

// ---------------------------------------------------------------- registration

let registered = false;

/** Install the host functions (once per process, after the Lua runtime is loaded). */
export function registerHostFunctions(): void {
  if (registered) return;
  registered = true;
  const m = luaModule();
  const def = hostFunction;

  def("req_method", (L, h) => pushString(L, callOf(h).upstream?.method ?? callOf(h).exchange!.request.method));
  def("req_set_method", (L, h) => {
    const call = callOf(h);
    onlyIn(L, call, "request.set_method", ON_UPSTREAM_REQUEST);
    const method = stringArg(L, 1, "request.set_method");
    if (method.length === 0 || [...method].some((c) => TOKEN[c.charCodeAt(0)] !== 1)) raise(L, `request.set_method: ${JSON.stringify(method)} is not a method token`);
    call.upstream!.method = method;
    call.record("set-method", undefined, method);
    return 0;
  });
  def("req_path", (L, h) => pushString(L, splitTarget(callOf(h))[0]));
  def("req_set_path", (L, h) => {
    const call = callOf(h);
    onlyIn(L, call, "request.set_path", ON_REQUEST, ON_UPSTREAM_REQUEST);
    setPath(L, call, stringArg(L, 1, "request.set_path"));
    return 0;
  });
  def("req_query", (L, h) => {
    const q = splitTarget(callOf(h))[1];
    return pushString(L, q.length > 0 ? q.slice(1) : "");
  });
  def("req_set_query", (L, h) => {
    const call = callOf(h);
    onlyIn(L, call, "request.set_query", ON_REQUEST, ON_UPSTREAM_REQUEST);
    setQuery(L, call, stringArg(L, 1, "request.set_query"));
    return 0;
  });
  def("req_arg", (L, h) => pushString(L, queryArg(splitTarget(callOf(h))[1], stringArg(L, 1, "request.arg"))));
  def("req_host", (L, h) => pushString(L, callOf(h).exchange!.request.host));
  def("req_scheme", (L, h) => pushString(L, callOf(h).exchange!.request.scheme));
  def("req_client_ip", (L, h) => pushString(L, callOf(h).exchange!.request.clientIp));
  def("req_header", (L, h) => pushString(L, requestHeaders(callOf(h)).get(stringArg(L, 1, "request.header"))));
  def("req_headers", (L, h) => pushHeaders(L, requestHeaders(callOf(h))));
  def("req_cookie", (L, h) => pushString(L, findCookie(requestHeaders(callOf(h)).get("cookie"), stringArg(L, 1, "request.cookie"))));
  const requestOf = (L: number, call: ScriptCall, fn: string): HeaderList => writableRequest(L, call, fn);
  def("req_set_header", headerWrite("request.set_header", "set-request-header", requestOf, true));
  def("req_add_header", headerWrite("request.add_header", "add-request-header", requestOf, false));
  def("req_remove_header", headerRemove("request.remove_header", "remove-request-header", requestOf));

  // ---------------------------------------------------------------- response
  const responseOf = (L: number, call: ScriptCall, fn: string): ResponseHeadView => {
    if (call.response === null) raise(L, `${fn} is for onResponse`);
    return call.response;
  };
  def("res_status", (L, h) => {
    const call = callOf(h);
    pushNumber(m, L, call.response !== null ? call.response.status : call.exchange!.status);
    return 1;
  });
  def("res_set_status", (L, h) => {
    const call = callOf(h);
    const head = responseOf(L, call, "response.set_status");
    const status = m._lua_type(L, 1) === T_NUMBER ? m._lua_tonumberx(L, 1, 0) : Number.NaN;
    if (!Number.isInteger(status) || status < 200 || status > 599) raise(L, "response.set_status: expected a status from 200 to 599");
    head.status = status;
    call.record("set-status", undefined, status);
    return 0;
  });
  def("res_header", (L, h) => pushString(L, responseOf(L, callOf(h), "response.header").headers.get(stringArg(L, 1, "response.header"))));
  def("res_headers", (L, h) => pushHeaders(L, responseOf(L, callOf(h), "response.headers").headers));
  const responseHeaders = (L: number, call: ScriptCall, fn: string): HeaderList => responseOf(L, call, fn).headers;
  def("res_set_header", headerWrite("response.set_header", "set-response-header", responseHeaders, true));
  def("res_add_header", headerWrite("response.add_header", "add-response-header", responseHeaders, false));
  def("res_remove_header", headerRemove("response.remove_header", "remove-response-header", responseHeaders));

  // ---------------------------------------------------------------- respond and route
  def("respond", (L, h) => {
    const call = callOf(h);
    onlyIn(L, call, "respond", ON_REQUEST);
    const status = m._lua_type(L, 1) === T_NUMBER ? m._lua_tonumberx(L, 1, 0) : Number.NaN;
    if (!Number.isInteger(status) || status < 200 || status > 599) raise(L, "respond: expected a status from 200 to 599 as the first argument");
    const bodyType = m._lua_type(L, 2);
    const body = bodyType <= T_NIL ? Buffer.alloc(0) : luaStrings().bytes(L, 2);
    if (body === undefined) raise(L, "respond: the body (argument 2) must be a string");
    const headers: Record<string, string> = {};
    if (m._lua_type(L, 3) === T_TABLE) {
      m._lua_pushnil(L);
      while (m._lua_next(L, 3) !== 0) {
        const name = headerName(L, -2, "respond");
        headers[name] = headerValue(L, -1, "respond");
        m._lua_settop(L, -2);
      }
    } else if (m._lua_type(L, 3) > T_NIL) raise(L, "respond: the headers (argument 3) must be a table of name = value");
    call.answer = call.exchange!.respond(status, body, headers);
    call.record("respond", undefined, status);
    return 0;
  });
  def("route_router", (L, h) => pushString(L, callOf(h).exchange!.router));
  def("route_tenant", (L, h) => pushString(L, callOf(h).exchange!.tenant));
  def("route_service", (L, h) => pushString(L, callOf(h).service ?? callOf(h).exchange!.service));
  def("route_backend", (L, h) => pushString(L, callOf(h).exchange!.backend?.address));
  def("route_use_service", (L, h) => {
    const call = callOf(h);
    onlyIn(L, call, "route.use_service", ON_REQUEST);
    const name = stringArg(L, 1, "route.use_service");
    if (!call.services.has(name)) {
      const allowed = [...call.services];
      raise(L, `route.use_service: "${name}" is not one of this middleware's services (${allowed.length === 0 ? "none are listed: add them to its `services`" : allowed.join(", ")})`);
    }
    call.service = name;
    call.record("use-service", undefined, name);
    return 0;
  });
  def("route_use_backends", (L, h) => {
    const call = callOf(h);
    onlyIn(L, call, "route.use_backends", ON_REQUEST);
    const list = stringList(L, 1, "route.use_backends");
    call.backends = list;
    call.record("use-backends", undefined, list);
    return 0;
  });

  // ---------------------------------------------------------------- exchange facts
  def("ex_id", (L, h) => {
    pushNumber(m, L, callOf(h).exchange!.id);
    return 1;
  });
  def("ex_duration", (L, h) => {
    const ex = callOf(h).exchange!;
    m._lua_pushnumber(L, ex.durationMs > 0 ? ex.durationMs : performance.now() - ex.startTime);
    return 1;
  });

  // ---------------------------------------------------------------- kv, log, time
  def("kv_get", (L, h) => pushString(L, callOf(h).store.get(stringArg(L, 1, "kv.get"))));
  def("kv_set", (L, h) => {
    const call = callOf(h);
    const key = stringArg(L, 1, "kv.set");
    const value = stringArg(L, 2, "kv.set");
    const ok = call.store.set(key, value);
    if (!ok) raise(L, call.store.refusal(key, value));
    call.record("kv-set", key, value);
    return 0;
  });
  def("kv_incr", (L, h) => {
    const call = callOf(h);
    const key = stringArg(L, 1, "kv.incr");
    const by = m._lua_type(L, 2) === T_NUMBER ? m._lua_tonumberx(L, 2, 0) : 1;
    const next = call.store.incr(key, by);
    if (next === undefined) raise(L, call.store.refusal(key, "0"));
    pushNumber(m, L, next);
    return 1;
  });
  def("kv_delete", (L, h) => {
    callOf(h).store.delete(stringArg(L, 1, "kv.delete"));
    return 0;
  });
  const logAt = (level: "debug" | "info" | "warn" | "error") => (L: number, h: HostCall) => {
    const call = callOf(h);
    const msg = optionalString(L, 1) ?? "";
    call.log[level]({ middleware: call.middleware, phase: PHASES[call.phase], router: call.exchange?.router }, msg.length > 4096 ? `${msg.slice(0, 4096)}...` : msg);
    call.record(`log-${level}`, undefined, msg);
    return 0;
  };
  def("log_debug", logAt("debug"));
  def("log_info", logAt("info"));
  def("log_warn", logAt("warn"));
  def("log_error", logAt("error"));
  def("time_now", (L) => {
    m._lua_pushnumber(L, Date.now() / 1000);
    return 1;
  });
  def("time_monotonic", (L) => {
    m._lua_pushnumber(L, performance.now());
    return 1;
  });
}

/**
 * Run first in every state, with the host functions as its argument: builds the
 * script's API tables and removes everything that reaches outside the sandbox.
 */
export const PRELUDE = `
local host = ...
-- Only string, table, math and utf8 stay (and the safe base functions).
for _, name in ipairs({ "io", "os", "debug", "package", "coroutine", "require", "dofile", "loadfile", "load", "loadstring", "collectgarbage", "print", "warn" }) do
  _G[name] = nil
end
string.dump = nil
request = {
  method = host.req_method, set_method = host.req_set_method,
  path = host.req_path, set_path = host.req_set_path,
  query = host.req_query, set_query = host.req_set_query, arg = host.req_arg,
  host = host.req_host, scheme = host.req_scheme, client_ip = host.req_client_ip,
  header = host.req_header, headers = host.req_headers, cookie = host.req_cookie,
  set_header = host.req_set_header, add_header = host.req_add_header, remove_header = host.req_remove_header,
}
response = {
  status = host.res_status, set_status = host.res_set_status,
  header = host.res_header, headers = host.res_headers,
  set_header = host.res_set_header, add_header = host.res_add_header, remove_header = host.res_remove_header,
}
route = {
  router = host.route_router, tenant = host.route_tenant, service = host.route_service, backend = host.route_backend,
  use_service = host.route_use_service, use_backends = host.route_use_backends,
}
exchange = { id = host.ex_id, duration = host.ex_duration }
kv = { get = host.kv_get, set = host.kv_set, incr = host.kv_incr, delete = host.kv_delete }
log = { debug = host.log_debug, info = host.log_info, warn = host.log_warn, error = host.log_error }
time = { now = host.time_now, monotonic = host.time_monotonic }
respond = host.respond
vars = vars or {}
`;
