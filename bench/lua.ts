/**
 * Per-call cost of a Lua phase: the typical header-rewriting script's onRequest and
 * onResponse through Divisor's host functions (the Lua C API called directly), beside
 * the same script run through wasmoon's own JS<->Lua bridge (a JS object passed in,
 * its methods called from Lua), which the middleware does not use.
 *
 *   node --import tsx bench/lua.ts
 */
import { readFileSync } from "node:fs";
import { HeaderList } from "../src/http1/headers.js";
import { Script } from "../src/middleware/lua/index.js";
import { luaSchema } from "../src/middleware/lua/schema.js";
import { loadLuaRuntime } from "../src/middleware/lua/vm.js";
import type { Exchange } from "../src/middleware/plugin.js";
import { CLOSED_UPSTREAM_CLIENT } from "../src/middleware/upstream-client.js";
import { NO_PLUGIN_METRICS } from "../src/observability/metrics/plugin-metrics.js";
import { pino } from "pino";

const N = 200_000;
const file = "scripts/lua/header-rewrite.lua";

function report(what: string, ns: bigint): void {
  console.log(`${what.padEnd(58)} ${(Number(ns) / N / 1000).toFixed(2).padStart(7)} µs/request`);
}

function exchange(): { ex: Exchange; response: { status: number; headers: HeaderList } } {
  const headers = new HeaderList(["host", "acme.example.com", "user-agent", "wrk", "accept", "*/*"]);
  const ex = { id: 1, request: { method: "GET", path: "/", query: "", headers, host: "acme.example.com", scheme: "http", clientIp: "127.0.0.1", versionMinor: 1 } } as unknown as Exchange;
  return { ex, response: { status: 200, headers: new HeaderList(["content-length", "12", "x-powered-by", "php"]) } };
}

await loadLuaRuntime();
const options = luaSchema.parse({ type: "lua", file });
const script = new Script("bench", options, { name: "bench", metrics: NO_PLUGIN_METRICS, state: new Map(), upstream: CLOSED_UPSTREAM_CLIENT, log: pino({ level: "silent" }) });
for (let round = 0; round < 2; round++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const { ex, response } = exchange();
    script.onRequest(ex);
    script.onResponse(ex, response);
  }
  if (round === 1) report("divisor host functions (onRequest + onResponse)", process.hrtime.bigint() - t0);
}
{
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) exchange();
  report("(building the sample exchange alone)", process.hrtime.bigint() - t0);
}

// The same script on wasmoon's bridge: request/response tables of JS functions.
const { LuaFactory } = (await import("wasmoon")) as typeof import("wasmoon");
const engine = await new LuaFactory().createEngine({ enableProxy: false });
let current = exchange();
engine.global.set("request", {
  header: (name: string) => current.ex.request.headers.get(name),
  set_header: (name: string, value: string) => current.ex.request.headers.set(name, value),
  host: () => current.ex.request.host,
});
engine.global.set("response", {
  set_header: (name: string, value: string) => current.response.headers.set(name, value),
  remove_header: (name: string) => current.response.headers.delete(name),
});
engine.doStringSync(readFileSync(file, "utf8"));
const onRequest = engine.global.get("onRequest") as () => void;
const onResponse = engine.global.get("onResponse") as () => void;
for (let round = 0; round < 2; round++) {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    current = exchange();
    onRequest();
    onResponse();
  }
  if (round === 1) report("wasmoon's bridge (JS functions called from Lua)", process.hrtime.bigint() - t0);
}
engine.global.close();
script.close();
