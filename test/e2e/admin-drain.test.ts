import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, beforeEach, describe, test } from "node:test";
import { adminCall } from "../helpers/admin.js";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

type State = "active" | "drain" | "maintenance";

describe("backend admin states through the admin API, with real traffic", () => {
  const held: { name: string; res: http.ServerResponse }[] = [];
  let a: TestBackend;
  let b: TestBackend;
  let gw: TestGateway;
  let admin: string;

  const backendNamed = (name: string) =>
    startBackend((req, res) => {
      req.resume();
      // "/slow" requests wait until the test releases them: an exchange in flight.
      if (req.url!.includes("/slow")) held.push({ name, res });
      else req.on("end", () => res.end(name));
    });

  const config = (extra: Record<string, unknown> = {}) => ({
    admin: { address: "127.0.0.1:0" },
    services: {
      rr: { backends: [a.address, b.address] },
      sticky: { backends: [a.address, b.address], sticky: { cookie: "srv" } },
      hash: { backends: [a.address, b.address], balancer: { algorithm: "consistent-hash" as const, key: { source: "header" as const, name: "x-user" } } },
      ...extra,
    },
    routers: {
      rr: { match: { path: { prefix: "/rr" } }, service: "rr" },
      sticky: { match: { path: { prefix: "/sticky" } }, service: "sticky" },
      hash: { match: { path: { prefix: "/hash" } }, service: "hash" },
    },
  });

  const setState = async (service: string, backend: TestBackend, state: State) => {
    const res = await adminCall(admin, "PUT", `/api/services/${service}/backends/${encodeURIComponent(backend.address)}`, { body: JSON.stringify({ state }) });
    assert.equal(res.status, 200, res.text);
    return res.body as { backend: { adminState: State; available: boolean; unavailableBecause: string[] } };
  };

  /** Which backends answer `n` requests, in order. */
  const spread = async (path: string, n: number, headers: http.OutgoingHttpHeaders = {}) => {
    const names: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await get(`${gw.url}${path}`, { headers });
      assert.equal(res.status, 200, res.body);
      names.push(res.body);
    }
    return names;
  };

  const waitHeld = async (count: number) => {
    for (let i = 0; i < 200 && held.length < count; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(held.length, count, "the slow request reached a backend");
  };

  before(async () => {
    a = await backendNamed("a");
    b = await backendNamed("b");
    gw = await startGateway(config());
    admin = `http://127.0.0.1:${gw.gateway.adminAddress!.port}`;
  });

  after(async () => {
    for (const h of held) h.res.end();
    await gw.close();
    await a.close();
    await b.close();
  });

  beforeEach(() => {
    for (const service of ["rr", "sticky", "hash"]) for (const backend of [a, b]) gw.gateway.setBackendState(service, backend.address, "active");
  });

  for (const state of ["drain", "maintenance"] as const) {
    test(`a backend in ${state} gets no new requests, and the one in flight on it completes`, async () => {
      held.length = 0;
      const slow = get(`${gw.url}/rr/slow`);
      await waitHeld(1);
      const busy = held[0]!.name === "a" ? a : b;
      const other = busy === a ? "b" : "a";
      const after = await setState("rr", busy, state);
      assert.equal(after.backend.adminState, state);
      assert.equal(after.backend.available, false);
      assert.deepEqual(after.backend.unavailableBecause, [state]);
      assert.deepEqual(await spread("/rr/x", 6), Array(6).fill(other));
      held[0]!.res.end(`slow from ${held[0]!.name}`);
      const done = await slow;
      assert.equal(done.status, 200);
      assert.equal(done.body, `slow from ${busy === a ? "a" : "b"}`);
    });
  }

  test("active puts a drained backend back in rotation", async () => {
    await setState("rr", a, "drain");
    assert.deepEqual(await spread("/rr/x", 4), ["b", "b", "b", "b"]);
    await setState("rr", a, "active");
    assert.deepEqual((await spread("/rr/x", 4)).sort(), ["a", "a", "b", "b"]);
  });

  test("a drained backend keeps its sticky clients; in maintenance it loses them", async () => {
    let cookie: string | undefined;
    for (let i = 0; i < 4 && cookie === undefined; i++) {
      const res = await get(`${gw.url}/sticky/x`);
      if (res.body === "a") cookie = String(res.headers["set-cookie"]).split(";")[0];
    }
    assert.ok(cookie !== undefined, "a response from a set its sticky cookie");
    await setState("sticky", a, "drain");
    assert.deepEqual(await spread("/sticky/x", 3, { cookie }), ["a", "a", "a"], "pinned clients stay");
    assert.deepEqual(await spread("/sticky/x", 3), ["b", "b", "b"], "new clients go elsewhere");
    await setState("sticky", a, "maintenance");
    assert.deepEqual(await spread("/sticky/x", 3, { cookie }), ["b", "b", "b"]);
  });

  test("a drained backend keeps its consistent-hash keys; in maintenance they move", async () => {
    let key: string | undefined;
    for (let i = 0; i < 64 && key === undefined; i++) if ((await get(`${gw.url}/hash/x`, { headers: { "x-user": `user-${i}` } })).body === "a") key = `user-${i}`;
    assert.ok(key !== undefined, "some key hashes to a");
    await setState("hash", a, "drain");
    assert.deepEqual(await spread("/hash/x", 3, { "x-user": key }), ["a", "a", "a"]);
    assert.deepEqual(await spread("/hash/x", 3), ["b", "b", "b"], "requests without a key are balanced over the others");
    await setState("hash", a, "maintenance");
    assert.deepEqual(await spread("/hash/x", 3, { "x-user": key }), ["b", "b", "b"]);
  });

  test("shows in divisor_backend_up and divisor_backend_admin_state", async () => {
    await setState("rr", a, "maintenance");
    await setState("rr", b, "drain");
    const families = parseExposition((await adminCall(admin, "GET", "/metrics")).text, "text");
    const labels = (backend: TestBackend) => ({ service: "rr", backend: backend.address });
    assert.equal(sampleValue(families, "divisor_backend_up", labels(a)), 0);
    assert.equal(sampleValue(families, "divisor_backend_up", labels(b)), 0);
    assert.equal(sampleValue(families, "divisor_backend_up", { service: "sticky", backend: a.address }), 1);
    for (const [backend, current] of [
      [a, "maintenance"],
      [b, "drain"],
    ] as const) {
      for (const state of ["active", "drain", "maintenance"]) {
        assert.equal(sampleValue(families, "divisor_backend_admin_state", { ...labels(backend), state }), state === current ? 1 : 0, `${current} ${state}`);
      }
    }
    const get503 = await get(`${gw.url}/rr/x`);
    assert.equal(get503.status, 503, "no backend in rotation");
  });

  test("the state is kept by a reload that keeps the backend and forgotten by one that drops it", async () => {
    await setState("rr", a, "drain");
    await gw.gateway.reload({ listeners: [{ address: gw.gateway.config.listeners[0]!.address }], ...config({ extra: { backends: [b.address] } }) });
    const rr = () => gw.gateway.backends().find((x) => x.service === "rr" && x.address === a.address);
    assert.equal(rr()!.adminState, "drain");
    assert.deepEqual(await spread("/rr/x", 3), ["b", "b", "b"]);
    const without = config();
    without.services.rr = { backends: [b.address] };
    await gw.gateway.reload({ listeners: [{ address: gw.gateway.config.listeners[0]!.address }], ...without });
    assert.equal(rr(), undefined);
    await gw.gateway.reload({ listeners: [{ address: gw.gateway.config.listeners[0]!.address }], ...config() });
    assert.equal(rr()!.adminState, "active");
  });

  test("an unknown service or backend is 404 naming what exists", async () => {
    const svc = await adminCall(admin, "PUT", `/api/services/rx/backends/${encodeURIComponent(a.address)}`, { body: '{"state":"drain"}' });
    assert.equal(svc.status, 404);
    assert.equal((svc.body as { error: { message: string } }).error.message, 'no service "rx" (did you mean "rr"?); services: rr, sticky, hash');
    const typo = a.address.replace(/:(\d+)$/, (_m, p: string) => `:${p.slice(0, -1)}`);
    const be = await adminCall(admin, "PUT", `/api/services/rr/backends/${encodeURIComponent(typo)}`, { body: '{"state":"drain"}' });
    assert.equal(be.status, 404);
    assert.equal((be.body as { error: { code: string } }).error.code, "ERR_ADMIN_UNKNOWN_BACKEND");
    assert.match((be.body as { error: { message: string } }).error.message, new RegExp(`did you mean "${a.address}"\\?\\); its backends: ${a.address}, ${b.address}`));
  });

  test("a bad body is 400 saying the allowed values", async () => {
    const path = `/api/services/rr/backends/${encodeURIComponent(a.address)}`;
    for (const body of ["", "drain", '{"state":"paused"}', '{"mode":"drain"}', '{"state":1}']) {
      const res = await adminCall(admin, "PUT", path, { body });
      assert.equal(res.status, 400, body);
      assert.match((res.body as { error: { message: string } }).error.message, /state one of "active", "drain", "maintenance"/, body);
    }
    assert.equal(gw.gateway.backends().find((x) => x.service === "rr" && x.address === a.address)!.adminState, "active");
  });
});
