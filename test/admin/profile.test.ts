import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";

const FULL = "full-access-token-0123456789";
const READ_ONLY = "read-only-token-0123456789";
const TENANT = "tenant-token-0123456789abc";

describe("profiling endpoints", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  let admin: string;

  before(async () => {
    backend = await startBackend((req, res) => {
      req.resume();
      req.on("end", () => res.end("hello"));
    });
    gw = await startGateway({
      admin: {
        address: "127.0.0.1:0",
        tokens: [
          { name: "ops", token: FULL },
          { name: "viewer", token: READ_ONLY, readOnly: true },
          { name: "acme-admin", token: TENANT, tenant: "acme" },
        ],
      },
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
      tenants: { acme: { hosts: ["acme.example"], routers: { shop: { service: "app" } } } },
    });
    admin = `http://127.0.0.1:${gw.gateway.adminAddress!.port}`;
  });

  after(async () => {
    await gw.close();
    await backend.close();
  });

  const as = (token: string): http.RequestOptions => ({ headers: { authorization: `Bearer ${token}` } });

  /** Requests through the gateway, a few at a time, until `done` settles; the statuses seen. */
  async function loadUntil(done: Promise<unknown>): Promise<number[]> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    const statuses: number[] = [];
    let finished = false;
    void done.finally(() => {
      finished = true;
    });
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!finished) statuses.push((await get(`${gw.url}/`, { agent })).status);
      }),
    );
    agent.destroy();
    return statuses;
  }

  test("a CPU profile under load is a valid .cpuprofile that includes the exchange's functions, and the gateway keeps serving during it", async () => {
    const profile = get(`${admin}/debug/pprof/profile?seconds=2&interval=200`, as(FULL));
    const statuses = await loadUntil(profile);
    const res = await profile;
    assert.equal(res.status, 200, res.body);
    assert.match(String(res.headers["content-disposition"]), /^attachment; filename="divisor-\d+-\d{8}T\d{6}Z\.cpuprofile"$/);
    assert.ok(statuses.length > 50, `only ${statuses.length} requests went through during the profile`);
    assert.ok(
      statuses.every((s) => s === 200),
      "every request during the profile succeeded",
    );
    const cpu = JSON.parse(res.body);
    for (const key of ["nodes", "samples", "timeDeltas"]) assert.ok(Array.isArray(cpu[key]), `${key} is an array`);
    assert.equal(typeof cpu.startTime, "number");
    assert.ok(cpu.endTime - cpu.startTime >= 1.9e6, "about two seconds, in microseconds");
    assert.equal(cpu.samples.length, cpu.timeDeltas.length);
    const exchangeFrames = cpu.nodes.filter(
      (n: { callFrame: { url: string; functionName: string } }) => n.callFrame.url.includes("src/exchange/exchange.ts") && n.callFrame.functionName !== "",
    );
    assert.ok(exchangeFrames.length > 0, "the profile saw the exchange's code run");
  });

  test("a second profile while one runs is refused with 409, and a client that goes away frees the profiler", async () => {
    const first = http.get(`${admin}/debug/pprof/profile?seconds=60`, as(FULL));
    first.on("error", () => {});
    await new Promise((r) => setTimeout(r, 200));
    const second = await get(`${admin}/debug/pprof/allocations?seconds=1`, as(FULL));
    assert.equal(second.status, 409);
    assert.match(JSON.parse(second.body).error.message, /a CPU profile is already running in this process; one profile at a time/);
    first.destroy();
    await new Promise((r) => setTimeout(r, 200));
    const third = await get(`${admin}/debug/pprof/profile?seconds=1`, as(FULL));
    assert.equal(third.status, 200, "the cancelled profile stopped and released the profiler");
  });

  test("bad parameters are refused with 400 naming the allowed range", async () => {
    for (const query of ["seconds=0", "seconds=301", "seconds=abc", "seconds=1.5", "interval=1"]) {
      const res = await get(`${admin}/debug/pprof/profile?${query}`, as(FULL));
      assert.equal(res.status, 400, query);
      const { error } = JSON.parse(res.body);
      assert.equal(error.code, "ERR_ADMIN_BAD_PARAMETER");
      assert.match(error.message, query.startsWith("seconds") ? /seconds must be a whole number from 1 to 300/ : /interval must be a whole number from 50 to 1000000/);
    }
    const res = await get(`${admin}/debug/pprof/allocations?interval=100`, as(FULL));
    assert.equal(res.status, 400);
    assert.match(JSON.parse(res.body).error.message, /interval must be a whole number from 512 to 16777216/);
  });

  test("the heap snapshot is streamed in chunks and parses as a V8 snapshot with meta and nodes", async () => {
    const res = await get(`${admin}/debug/pprof/heap`, as(FULL));
    assert.equal(res.status, 200);
    assert.equal(res.headers["transfer-encoding"], "chunked");
    assert.match(String(res.headers["content-disposition"]), /\.heapsnapshot"$/);
    const snapshot = JSON.parse(res.body);
    assert.ok(Array.isArray(snapshot.snapshot.meta.node_fields));
    assert.ok(snapshot.nodes.length > 1000);
    assert.equal(snapshot.nodes.length % snapshot.snapshot.meta.node_fields.length, 0);
  });

  test("the allocation profile under load is a .heapprofile whose samples include the garbage requests leave", async () => {
    const pending = get(`${admin}/debug/pprof/allocations?seconds=1&interval=1024`, as(FULL));
    await loadUntil(pending);
    const res = await pending;
    assert.equal(res.status, 200);
    assert.match(String(res.headers["content-disposition"]), /\.heapprofile"$/);
    const profile = JSON.parse(res.body);
    assert.equal(typeof profile.head.callFrame.functionName, "string");
    assert.ok(Array.isArray(profile.head.children));
    assert.ok(profile.samples.length > 100, `${profile.samples.length} samples`);
    const frames: string[] = [];
    const walk = (n: { callFrame: { url: string }; children: unknown[] }) => {
      frames.push(n.callFrame.url);
      for (const c of n.children) walk(c as typeof n);
    };
    walk(profile.head);
    assert.ok(
      frames.some((u) => u.includes("/src/")),
      "allocations by the gateway's own code were sampled",
    );
  });

  test("tenant-scoped tokens may take no profile; read-only tokens may take CPU and allocation profiles but not heap snapshots", async () => {
    for (const path of ["/debug/pprof/profile?seconds=1", "/debug/pprof/heap", "/debug/pprof/allocations?seconds=1"]) {
      const res = await get(`${admin}${path}`, as(TENANT));
      assert.equal(res.status, 403, path);
      assert.equal(JSON.parse(res.body).error.code, "ERR_ADMIN_TENANT_SCOPE");
    }
    const heap = await get(`${admin}/debug/pprof/heap`, as(READ_ONLY));
    assert.equal(heap.status, 403);
    assert.match(JSON.parse(heap.body).error.message, /token "viewer" is read-only; a heap snapshot holds the process memory/);
    assert.equal((await get(`${admin}/debug/pprof/profile?seconds=1`, as(READ_ONLY))).status, 200);
    assert.equal((await get(`${admin}/debug/pprof/allocations?seconds=1`, as(READ_ONLY))).status, 200);
    assert.equal((await get(`${admin}/debug/pprof/profile?seconds=1`)).status, 401);
  });
});
