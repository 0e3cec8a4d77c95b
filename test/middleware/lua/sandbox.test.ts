// Hostile and broken scripts: refused at load with clear errors, or stopped at run time
// while the gateway keeps serving everyone else.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { ConfigError, createGateway, loadLuaRuntime } from "../../../src/index.js";
import type { DivisorConfigInput } from "../../../src/config/schema.js";
import { get, startBackend, startGateway, type TestBackend } from "../../helpers/net.js";

const lua = (source: string, extra: Record<string, unknown> = {}) => ({ type: "lua", source, ...extra }) as never;

describe("lua sandbox and limits", () => {
  let backend: TestBackend;
  before(async () => {
    await loadLuaRuntime();
    backend = await startBackend((req, res) => res.end(JSON.stringify({ url: req.url, headers: req.headers })));
  });
  after(async () => {
    await backend.close();
  });

  const config = (middlewares: Record<string, unknown>): Omit<DivisorConfigInput, "listeners"> => ({
    services: { app: { backends: [backend.address] } },
    middlewares: middlewares as never,
    routers: { all: { service: "app", middlewares: Object.keys(middlewares) } },
  });

  const refusal = (middlewares: Record<string, unknown>): string => {
    try {
      createGateway({ listeners: [{ address: "127.0.0.1:0" }], ...config(middlewares) }).close();
    } catch (err) {
      assert.ok(err instanceof ConfigError, `a ConfigError, got ${String(err)}`);
      return err.message;
    }
    assert.fail("the configuration was accepted");
  };

  test("a syntax error is refused at config load with its line number", () => {
    const message = refusal({ s: lua("function onRequest()\n  local x = = 1\nend\n") });
    assert.match(message, /middlewares\.s\.source/, `names the key: ${message}`);
    assert.match(message, /line 2: unexpected symbol near '='/, `names the line: ${message}`);
  });

  for (const name of ["os", "io", "load", "debug", "package", "require", "dofile", "loadfile", "collectgarbage", "coroutine"]) {
    test(`a script that uses \`${name}\` is refused at load with the line and why`, () => {
      const message = refusal({ s: lua(`-- reaching out\nfunction onRequest()\n  local f = ${name}\nend\n`) });
      assert.match(message, new RegExp(`line 3: \`${name}\` is not available in scripts`), `refused with its line: ${message}`);
    });
  }

  test("names in strings, comments and fields are not mistaken for the forbidden globals", async () => {
    const gw = await startGateway(config({ s: lua(`-- os.exit() in a comment\n--[[ io.open ]]\nlocal t = { os = "linux" }\nfunction onRequest() request.set_header("x-os", t.os .. " " .. "io") end\n`) }));
    try {
      const seen = JSON.parse((await get(`${gw.url}/`)).body);
      assert.equal(seen.headers["x-os"], "linux io", "the script ran");
    } finally {
      await gw.close();
    }
  });

  test("what the sandbox removed is nil at run time, however a script spells it", async () => {
    const probe = `
function onRequest()
  local found = {}
  for _, n in ipairs({ "o".."s", "i".."o", "lo".."ad", "de".."bug", "pack".."age", "req".."uire", "dofi".."le", "loadstr".."ing", "collect".."garbage", "corou".."tine", "pri".."nt" }) do
    if _G[n] ~= nil then found[#found + 1] = n end
  end
  if string["du".."mp"] ~= nil then found[#found + 1] = "string.dump" end
  return respond(200, table.concat(found, ","))
end`;
    const gw = await startGateway(config({ s: lua(probe) }));
    try {
      const res = await get(`${gw.url}/`);
      assert.equal(res.status, 200, "the probe ran");
      assert.equal(res.body, "", `nothing outside the sandbox is reachable, found: ${res.body}`);
    } finally {
      await gw.close();
    }
  });

  test("an infinite loop is stopped at its budget, answered 500, counted, and the next request is served", async () => {
    const gw = await startGateway(config({ s: lua(`function onRequest() if request.path() == "/loop" then while true do end end end`, { limits: { timeout: "50ms" } }) }));
    try {
      const res = await get(`${gw.url}/loop`);
      assert.equal(res.status, 500, "the looping request gets 500");
      assert.equal((await get(`${gw.url}/ok`)).status, 200, "the next request is served");
      const metrics = await gw.gateway.metrics();
      assert.match(metrics, /divisor_script_errors_total\{middleware="s",kind="timeout"\} 1/, "counted as a timeout");
      assert.match(metrics, /divisor_script_runs_total\{middleware="s",phase="onRequest",result="failed"\} 1/, "and as a failed run");
    } finally {
      await gw.close();
    }
  });

  test("a loop that catches its own stop with pcall is still stopped", async () => {
    const gw = await startGateway(config({ s: lua(`function onRequest() while true do pcall(function() while true do end end) end end`, { limits: { timeout: "50ms" } }) }));
    try {
      assert.equal((await get(`${gw.url}/`)).status, 500, "stopped despite pcall");
    } finally {
      await gw.close();
    }
  });

  test("the instruction budget stops a long computation before the time budget", async () => {
    const gw = await startGateway(config({ s: lua(`function onRequest() local n = 0 for i = 1, 1e9 do n = n + i end end`, { limits: { timeout: "10s", instructions: 100000 } }) }));
    try {
      assert.equal((await get(`${gw.url}/`)).status, 500, "stopped by the instruction budget");
      assert.match(await gw.gateway.metrics(), /divisor_script_errors_total\{middleware="s",kind="timeout"\} 1/, "counted with the budget stops");
    } finally {
      await gw.close();
    }
  });

  test("a memory bomb is stopped at the memory cap and counted", async () => {
    const gw = await startGateway(config({ s: lua(`function onRequest() local t = {} for i = 1, 100 do t[i] = string.rep("x", 1048576) .. i end end`, { limits: { memory: "4MiB", timeout: "2s" } }) }));
    try {
      assert.equal((await get(`${gw.url}/`)).status, 500, "the bomb gets 500");
      assert.match(await gw.gateway.metrics(), /divisor_script_errors_total\{middleware="s",kind="memory"\} 1/, "counted as memory");
      assert.equal((await get(`${gw.url}/`)).status, 500, "a fresh state is stopped again (the gateway is fine)");
    } finally {
      await gw.close();
    }
  });

  test("a header value with CR/LF is refused, so a script cannot split a response", async () => {
    const gw = await startGateway(config({ s: lua(`function onResponse() response.set_header("x-a", "b\\r\\nset-cookie: evil=1") end`) }));
    try {
      const res = await get(`${gw.url}/`);
      assert.equal(res.status, 500, "the response is not sent as the script wanted");
      assert.equal(res.headers["set-cookie"], undefined, "no injected header");
    } finally {
      await gw.close();
    }
  });

  test("the kv store is shared across requests and bounded by maxKeys", async () => {
    const script = `function onRequest()
  local n = kv.incr("hits")
  local ok, err = pcall(kv.set, "k" .. n, "v")
  return respond(200, n .. " " .. tostring(ok) .. " " .. (err or ""))
end`;
    const gw = await startGateway(config({ s: lua(script, { kv: { maxKeys: 3 } }) }));
    try {
      assert.equal((await get(`${gw.url}/`)).body, "1 true ", "first");
      assert.equal((await get(`${gw.url}/`)).body, "2 true ", "second");
      assert.match((await get(`${gw.url}/`)).body, /^3 false .*the store is full \(3 keys, kv\.maxKeys\)/, "the fourth key is refused");
    } finally {
      await gw.close();
    }
  });

  test("a script over limits.size is refused at load", () => {
    assert.match(refusal({ s: lua(`-- ${"x".repeat(200)}\n`, { limits: { size: 100 } }) }), /over its limit of 100 \(limits\.size\)/, "size cap");
  });

  test("route.use_service refuses a service the middleware does not list", async () => {
    const gw = await startGateway({ ...config({ s: lua(`function onRequest() route.use_service("other") end`, { services: [] }) }), services: { app: { backends: [backend.address] }, other: { backends: [backend.address] } } });
    try {
      assert.equal((await get(`${gw.url}/`)).status, 500, "a service outside the list is not reachable");
    } finally {
      await gw.close();
    }
  });

  test("a reload swaps the script, and a reload with a broken script is refused while the old one keeps serving", async () => {
    const base = config({ s: lua(`function onRequest() return respond(200, "one") end`) });
    const gw = await startGateway(base);
    try {
      assert.equal((await get(`${gw.url}/`)).body, "one", "first script");
      await gw.gateway.reload({ listeners: gw.gateway.config.listeners, ...config({ s: lua(`function onRequest() return respond(200, "two") end`) }) });
      assert.equal((await get(`${gw.url}/`)).body, "two", "reloaded script");
      await assert.rejects(gw.gateway.reload({ listeners: gw.gateway.config.listeners, ...config({ s: lua(`function onRequest( return end`) }) }), /line 1:/, "a broken script is refused with its line");
      assert.equal((await get(`${gw.url}/`)).body, "two", "the previous script keeps serving");
    } finally {
      await gw.close();
    }
  });

  test("a tenant whose script loops forever does not hold up another tenant: all its requests succeed promptly", async () => {
    const budget = 400;
    const gw = await startGateway({
      services: { app: { backends: [backend.address] } },
      middlewares: {
        spin: lua(`function onRequest() while true do end end`, { limits: { timeout: budget }, quarantine: { after: 1, duration: "1m" } }),
        tag: lua(`function onRequest() request.set_header("x-tenant", route.tenant()) end`),
      },
      tenants: {
        evil: { hosts: ["evil.test"], middlewares: ["spin"], routers: { all: { service: "app" } } },
        good: { hosts: ["good.test"], middlewares: ["tag"], routers: { all: { service: "app" } } },
      },
    });
    try {
      const hostile = Array.from({ length: 20 }, () => get(`${gw.url}/`, { headers: { host: "evil.test" } }));
      const times: number[] = [];
      const good = Array.from({ length: 40 }, async (_, i) => {
        const start = performance.now();
        const res = await get(`${gw.url}/${i}`, { headers: { host: "good.test" } });
        times.push(performance.now() - start);
        return res;
      });
      const [evil, fine] = await Promise.all([Promise.all(hostile), Promise.all(good)]);
      for (const res of fine) {
        assert.equal(res.status, 200, "every request of the other tenant succeeds");
        assert.equal(JSON.parse(res.body).headers["x-tenant"], "good", "through its own script");
      }
      const slowest = Math.max(...times);
      assert.ok(slowest < 2 * budget, `no request of the other tenant waited for the hostile budget twice (slowest ${Math.round(slowest)} ms, budget ${budget} ms)`);
      const statuses = evil.map((r) => r.status);
      assert.equal(statuses.filter((s) => s === 500).length, 1, `one hostile request ran into the budget: ${statuses.join(",")}`);
      assert.equal(statuses.filter((s) => s === 503).length, 19, "the others were refused at once by the quarantine");
      assert.match(await gw.gateway.metrics(), /divisor_script_runs_total\{middleware="spin",phase="onRequest",result="quarantined"\} 19/, "quarantined runs are counted");
    } finally {
      await gw.close();
    }
  });
});
