import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, describe, test } from "node:test";
import { get, RawClient, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { type ParsedFamily, parseExposition, sampleValue, samples } from "../helpers/prometheus.js";

async function scrape(gw: TestGateway, openMetrics = false): Promise<{ text: string; contentType: string }> {
  const admin = gw.gateway.adminAddress!;
  const headers: http.OutgoingHttpHeaders = openMetrics ? { accept: "application/openmetrics-text; version=1.0.0,text/plain;q=0.5" } : {};
  const res = await get(`http://127.0.0.1:${admin.port}/metrics`, { headers });
  assert.equal(res.status, 200, res.body);
  return { text: res.body, contentType: String(res.headers["content-type"]) };
}

describe("metrics", () => {
  let ok: TestBackend;
  let failing: TestBackend;
  let gw: TestGateway;
  let families: ParsedFamily[];

  before(async () => {
    ok = await startBackend((req, res) => {
      req.resume();
      req.on("end", () => res.end("hello"));
    });
    failing = await startBackend((req, res) => {
      req.resume();
      res.statusCode = 503;
      res.end("down for a bit");
    });
    gw = await startGateway({
      admin: { address: "127.0.0.1:0" },
      services: {
        app: { backends: [ok.address] },
        flaky: { backends: [failing.address], circuitBreaker: { consecutiveFailures: 1000 }, serviceBreaker: { consecutiveFailures: 1000 } },
      },
      routers: {
        api: { match: { path: { prefix: "/api" } }, service: "app" },
        flaky: { match: { path: { prefix: "/flaky" } }, service: "flaky" },
      },
    });
    // Known traffic: 3 GET 200 and 1 POST 200 (7-byte body) on api, 2 GET 503 on flaky,
    // 1 request no router takes (404) and 1 malformed head.
    for (let i = 0; i < 3; i++) assert.equal((await get(`${gw.url}/api/x`)).status, 200);
    assert.equal((await get(`${gw.url}/api/x`, { method: "POST" }, "payload")).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await get(`${gw.url}/flaky`)).status, 503);
    assert.equal((await get(`${gw.url}/nowhere`)).status, 404);
    const raw = new RawClient(gw.port);
    await raw.ready;
    raw.write("GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
    await raw.waitClosed();
    families = parseExposition((await scrape(gw)).text, "text");
  });

  after(async () => {
    await gw.close();
    await ok.close();
    await failing.close();
  });

  test("counts requests by router, service, backend, method and status class, exactly", () => {
    const base = { tenant: "", router: "api", service: "app", backend: ok.address };
    assert.equal(sampleValue(families, "divisor_http_requests_total", { ...base, method: "GET", status_class: "2xx" }), 3);
    assert.equal(sampleValue(families, "divisor_http_requests_total", { ...base, method: "POST", status_class: "2xx" }), 1);
    assert.equal(
      sampleValue(families, "divisor_http_requests_total", { router: "flaky", service: "flaky", backend: failing.address, method: "GET", status_class: "5xx" }),
      2,
    );
    assert.equal(sampleValue(families, "divisor_http_requests_total", { router: "", service: "", backend: "", method: "GET", status_class: "4xx" }), 1);
    const all = samples(families, "divisor_http_requests_total");
    assert.equal(
      all.reduce((n, s) => n + s.value, 0),
      7,
      "every proxied or answered request is counted once (the malformed head is counted apart)",
    );
    assert.deepEqual(Object.keys(all[0]!.labels).sort(), ["backend", "method", "router", "service", "status_class", "tenant"]);
  });

  test("the duration histogram has a count per series equal to the requests and cumulative buckets", () => {
    const labels = { router: "api", method: "GET", status_class: "2xx" };
    assert.equal(sampleValue(families, "divisor_http_request_duration_seconds_count", labels), 3);
    const buckets = samples(families, "divisor_http_request_duration_seconds_bucket").filter((s) => s.labels.router === "api" && s.labels.method === "GET");
    assert.ok(buckets.length >= 2);
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, "buckets are cumulative");
    assert.equal(buckets.at(-1)!.labels.le, "+Inf");
    assert.equal(buckets.at(-1)!.value, 3);
    const sum = sampleValue(families, "divisor_http_request_duration_seconds_sum", labels)!;
    assert.ok(sum > 0 && sum < 3, `sum of three local requests in seconds: ${sum}`);
  });

  test("counts request and response body bytes", () => {
    assert.equal(sampleValue(families, "divisor_http_request_body_bytes_total", { router: "api", method: "POST" }), 7);
    assert.equal(sampleValue(families, "divisor_http_response_body_bytes_total", { router: "api", method: "GET" }), 3 * "hello".length);
  });

  test("counts the malformed head on its listener, and connections", () => {
    const listener = "127.0.0.1:0";
    assert.equal(sampleValue(families, "divisor_http_request_parse_errors_total", { listener }), 1);
    assert.ok(sampleValue(families, "divisor_listener_connections_accepted_total", { listener })! >= 2);
    assert.equal(typeof sampleValue(families, "divisor_listener_connections", { listener }), "number");
    assert.equal(sampleValue(families, "divisor_http_requests_in_flight", { listener }), 0);
  });

  test("reports backend state: up, circuit state, in flight, connections, connect time", () => {
    const b = { service: "app", backend: ok.address };
    assert.equal(sampleValue(families, "divisor_backend_up", b), 1);
    assert.equal(sampleValue(families, "divisor_backend_circuit_state", { ...b, state: "closed" }), 1);
    assert.equal(sampleValue(families, "divisor_backend_circuit_state", { ...b, state: "open" }), 0);
    assert.equal(sampleValue(families, "divisor_backend_requests_in_flight", b), 0);
    assert.equal(sampleValue(families, "divisor_upstream_connections", { ...b, state: "idle" }), 1);
    assert.equal(sampleValue(families, "divisor_upstream_connect_duration_seconds_count", b), 1, "one connection, reused by keep-alive");
    assert.equal(sampleValue(families, "divisor_upstream_errors_total", { ...b, kind: "reset" }), 0);
    assert.equal(sampleValue(families, "divisor_service_circuit_state", { service: "app", state: "closed" }), 1);
  });

  test("reports process and runtime metrics", () => {
    for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_heap_size_used_bytes", "nodejs_eventloop_lag_p99_seconds", "nodejs_active_handles_total"]) {
      assert.ok(samples(families, name).length > 0, `${name} is exposed`);
    }
    assert.equal(sampleValue(families, "divisor_build_info", { nodejs_version: process.versions.node }), 1);
  });

  test("serves OpenMetrics when asked, which the strict OpenMetrics parser accepts", async () => {
    const { text, contentType } = await scrape(gw, true);
    assert.match(contentType, /^application\/openmetrics-text; version=1\.0\.0/);
    assert.ok(text.endsWith("# EOF\n"));
    const om = parseExposition(text, "openmetrics");
    assert.equal(sampleValue(om, "divisor_http_requests_total", { router: "api", method: "GET", status_class: "2xx" }), 3);
    assert.equal(om.find((f) => f.name === "divisor_http_requests")?.type, "counter");
  });
});

describe("metrics: upstream failures and reloads", () => {
  test("counts failed tries by kind, retries, and reloads by result", async () => {
    const ok = await startBackend();
    // A backend address nothing listens on: connects are refused.
    const dead = await startBackend();
    const deadAddress = dead.address;
    await dead.close();
    const config = {
      admin: { address: "127.0.0.1:0" },
      services: { app: { backends: [deadAddress, ok.address], balancer: { algorithm: "round-robin" as const }, retries: { attempts: 1 } } },
      routers: { all: { service: "app" } },
    };
    const gw = await startGateway(config);
    try {
      for (let i = 0; i < 4; i++) assert.equal((await get(`${gw.url}/`)).status, 200);
      await assert.rejects(gw.gateway.reload({ ...config, listeners: [{ address: "127.0.0.1:0" }], routers: { all: { service: "missing" } } }));
      await gw.gateway.reload({ ...config, listeners: [{ address: "127.0.0.1:0" }] });
      const f = parseExposition((await scrape(gw)).text, "text");
      const refused = sampleValue(f, "divisor_upstream_errors_total", { service: "app", backend: deadAddress, kind: "connect-refused" })!;
      assert.ok(refused >= 1, `refused connects counted: ${refused}`);
      assert.equal(sampleValue(f, "divisor_retries_total", { router: "all", service: "app" }), refused, "each refused connect was retried on the other backend");
      assert.equal(sampleValue(f, "divisor_http_requests_total", { router: "all", backend: ok.address, status_class: "2xx" }), 4);
      assert.equal(sampleValue(f, "divisor_config_reloads_total", { result: "success" }), 1);
      assert.equal(sampleValue(f, "divisor_config_reloads_total", { result: "failure" }), 1);
      assert.equal(sampleValue(f, "divisor_config_last_reload_successful"), 1);
    } finally {
      await gw.close();
      await ok.close();
    }
  });

  test("with metrics disabled no request series are kept, and backend state is still reported", async () => {
    const ok = await startBackend();
    const gw = await startGateway({ admin: { address: "127.0.0.1:0" }, metrics: { enabled: false, process: false }, ...simple(ok.address) });
    try {
      assert.equal((await get(`${gw.url}/`)).status, 200);
      const f = parseExposition(await gw.gateway.metrics(), "text");
      assert.equal(samples(f, "divisor_http_requests_total").length, 0);
      assert.equal(sampleValue(f, "divisor_backend_up", { service: "app" }), 1);
      assert.equal(samples(f, "process_cpu_seconds_total").length, 0);
    } finally {
      await gw.close();
      await ok.close();
    }
  });
});

function simple(address: string) {
  return { services: { app: { backends: [address] } }, routers: { all: { service: "app" } } };
}
