// The script API at each phase, and the steering hooks (Exchange.useService, backend subsets), through the gateway.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { definePlugin, loadLuaRuntime } from "../../../src/index.js";
import { get, startBackend, startGateway, type TestBackend } from "../../helpers/net.js";

const lua = (source: string, extra: Record<string, unknown> = {}) => ({ type: "lua", source, ...extra }) as never;

describe("lua phases and steering", () => {
  const b: TestBackend[] = [];
  before(async () => {
    await loadLuaRuntime();
    for (let i = 0; i < 3; i++) {
      b.push(await startBackend((req, res) => res.end(JSON.stringify({ backend: i, method: req.method, url: req.url, headers: req.headers }))));
    }
  });
  after(async () => {
    for (const x of b) await x.close();
  });

  test("onRequest rewrites path and query, onUpstreamRequest the method and headers, onResponse the status", async () => {
    const script = `
function onRequest()
  request.set_path("/v2" .. request.path())
  request.set_query("page=" .. (request.arg("p") or "1"))
end
function onUpstreamRequest()
  request.set_method("POST")
  request.set_header("x-upstream-target", request.path() .. "?" .. request.query())
end
function onResponse()
  if response.status() == 200 then response.set_status(203) end
  response.set_header("x-method-seen", request.method())
end`;
    const gw = await startGateway({ services: { app: { backends: [b[0]!.address] } }, middlewares: { s: lua(script) }, routers: { all: { service: "app", middlewares: ["s"] } } });
    try {
      const res = await get(`${gw.url}/users?p=3`);
      const seen = JSON.parse(res.body);
      assert.equal(seen.url, "/v2/users?page=3", "path and query rewritten");
      assert.equal(seen.method, "POST", "method rewritten upstream");
      assert.equal(seen.headers["x-upstream-target"], "/v2/users?page=3", "onUpstreamRequest sees the rewritten target");
      assert.equal(res.status, 203, "status rewritten");
      assert.equal(res.headers["x-method-seen"], "GET", "onResponse reads the client's request (only onUpstreamRequest sees the upstream head)");
    } finally {
      await gw.close();
    }
  });

  test("route.use_backends limits the service's balancer to the listed backends", async () => {
    const script = `function onRequest() if request.header("x-pin") then route.use_backends({ request.header("x-pin") }) end end`;
    const gw = await startGateway({ services: { app: { backends: b.map((x) => x.address) } }, middlewares: { s: lua(script) }, routers: { all: { service: "app", middlewares: ["s"] } } });
    try {
      for (let i = 0; i < 4; i++) {
        const seen = JSON.parse((await get(`${gw.url}/`, { headers: { "x-pin": b[2]!.address } })).body);
        assert.equal(seen.backend, 2, "always the pinned backend");
      }
      const spread = new Set<number>();
      for (let i = 0; i < 6; i++) spread.add(JSON.parse((await get(`${gw.url}/`)).body).backend);
      assert.equal(spread.size, 3, "without the header the balancer spreads over all");
    } finally {
      await gw.close();
    }
  });

  test("a selectBackend phase picks among the candidates' addresses", async () => {
    const script = `function selectBackend(candidates)
  for _, address in ipairs(candidates) do
    if address == vars.prefer then return address end
  end
end`;
    const gw = await startGateway({ services: { app: { backends: b.map((x) => x.address) } }, middlewares: { s: lua(script, { vars: { prefer: b[1]!.address } }) }, routers: { all: { service: "app", middlewares: ["s"] } } });
    try {
      for (let i = 0; i < 3; i++) assert.equal(JSON.parse((await get(`${gw.url}/`)).body).backend, 1, "the preferred backend");
      assert.match(await gw.gateway.metrics(), /divisor_script_runs_total\{middleware="s",phase="selectBackend",result="ok"\} 3/, "counted");
    } finally {
      await gw.close();
    }
  });

  test("a TypeScript plugin steers a request to another service with exchange.useService", async () => {
    const steer = definePlugin({
      name: "steer",
      create: () => ({
        onRequest(ex) {
          if (ex.request.headers.get("x-beta") !== undefined) ex.useService("beta");
        },
      }),
    });
    const gw = await startGateway(
      {
        services: { app: { backends: [b[0]!.address] }, beta: { backends: [b[1]!.address] } },
        middlewares: { steer: { type: "plugin", plugin: "steer" } },
        routers: { all: { service: "app", middlewares: ["steer"] } },
      },
      [steer],
    );
    try {
      assert.equal(JSON.parse((await get(`${gw.url}/`)).body).backend, 0, "the router's service");
      assert.equal(JSON.parse((await get(`${gw.url}/`, { headers: { "x-beta": "1" } })).body).backend, 1, "the steered service");
      assert.match(await gw.gateway.metrics(), /divisor_http_requests_total\{[^}]*service="beta"[^}]*\} 1/, "counted under the steered service");
    } finally {
      await gw.close();
    }
  });

  test("a tenant's middlewares run before its routers' own, for every router of the tenant", async () => {
    const gw = await startGateway({
      services: { app: { backends: [b[0]!.address] } },
      middlewares: {
        first: lua(`function onRequest() request.set_header("x-order", "tenant") end`),
        second: lua(`function onRequest() request.set_header("x-order", request.header("x-order") .. ",router") end`),
      },
      tenants: {
        acme: {
          hosts: ["acme.test"],
          middlewares: ["first"],
          routers: { api: { match: { path: { prefix: "/api" } }, service: "app", middlewares: ["second"] }, web: { service: "app" } },
        },
      },
    });
    try {
      assert.equal(JSON.parse((await get(`${gw.url}/api/x`, { headers: { host: "acme.test" } })).body).headers["x-order"], "tenant,router", "tenant first, then router");
      assert.equal(JSON.parse((await get(`${gw.url}/`, { headers: { host: "acme.test" } })).body).headers["x-order"], "tenant", "every router of the tenant");
    } finally {
      await gw.close();
    }
  });

  test("a reload that leaves a script unchanged keeps its Lua states; a changed script starts fresh ones", async () => {
    const counting = (tag: string) => ({
      services: { app: { backends: [b[0]!.address] } },
      middlewares: { s: lua(`n = (n or 0) + 0\nfunction onRequest() n = n + 1 return respond(200, "${tag} " .. n) end`) },
      routers: { all: { service: "app", middlewares: ["s"] } },
    });
    const gw = await startGateway(counting("a"));
    try {
      assert.equal((await get(`${gw.url}/`)).body, "a 1", "first request");
      assert.equal((await get(`${gw.url}/`)).body, "a 2", "the state's global counts");
      await gw.gateway.reload({ listeners: gw.gateway.config.listeners, ...counting("a"), proxy: { via: "changed" } } as never);
      assert.equal((await get(`${gw.url}/`)).body, "a 3", "an unrelated reload keeps the state");
      await gw.gateway.reload({ listeners: gw.gateway.config.listeners, ...counting("b") } as never);
      assert.equal((await get(`${gw.url}/`)).body, "b 1", "a changed script gets a fresh state");
    } finally {
      await gw.close();
    }
  });

  test("onLog sees the final status and duration, and log.* reaches the middleware logger without failing", async () => {
    const script = `function onLog() kv.set("last", response.status() .. " " .. tostring(exchange.duration() >= 0)) log.info("done") end
function onRequest() if request.path() == "/last" then return respond(200, kv.get("last") or "none") end end`;
    const gw = await startGateway({ services: { app: { backends: [b[0]!.address] } }, middlewares: { s: lua(script) }, routers: { all: { service: "app", middlewares: ["s"] } }, logging: { level: "silent" } as never });
    try {
      await get(`${gw.url}/first`);
      assert.equal((await get(`${gw.url}/last`)).body, "200 true", "onLog of the previous request stored its status");
    } finally {
      await gw.close();
    }
  });
});
