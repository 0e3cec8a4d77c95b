import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { DivisorError } from "../../src/errors.js";
import { capture } from "../helpers/capture.js";
import { startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";


async function rejectsWith(promise: Promise<unknown>, code: string): Promise<DivisorError> {
  const err = await promise.then(
    () => assert.fail(`expected a rejection with ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof DivisorError, `expected a DivisorError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

describe("PluginContext.upstream", () => {
  let a: TestBackend;
  let b: TestBackend;
  let c: TestBackend;
  let silent: net.Server;
  let silentAddress: string;
  const silentSockets = new Set<net.Socket>();
  let gw: TestGateway;
  const cap = capture();
  const config = (backends: string[]) => ({
    admin: { address: "127.0.0.1:0" },
    services: {
      shadow: { backends, balancer: { algorithm: "round-robin" as const } },
      slow: { backends: [silentAddress] },
      app: { backends: [a.address] },
    },
    middlewares: { cap: { type: "plugin" as const, plugin: "capture" } },
    routers: { all: { service: "app", middlewares: ["cap"] } },
  });

  /** Reloads replace the whole config: keep the gateway's listener. */
  const withListener = (backends: string[]) => ({ ...config(backends), listeners: gw.gateway.config.listeners });

  before(async () => {
    const echo = (name: string) =>
      startBackend((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (d: Buffer) => chunks.push(d));
        req.on("end", () => {
          res.setHeader("x-backend", name);
          res.setHeader("x-seen-host", req.headers.host ?? "");
          res.setHeader("x-seen-custom", String(req.headers["x-custom"] ?? ""));
          res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`);
        });
      });
    a = await echo("a");
    b = await echo("b");
    c = await echo("c");
    silent = net.createServer((socket) => {
      silentSockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => silentSockets.delete(socket));
    });
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", () => resolve()));
    silentAddress = `127.0.0.1:${(silent.address() as net.AddressInfo).port}`;
    gw = await startGateway(config([a.address, b.address]), [cap.plugin]);
  });
  after(async () => {
    await gw.close();
    for (const socket of silentSockets) socket.destroy();
    await Promise.all([a.close(), b.close(), c.close(), new Promise((r) => silent.close(r))]);
  });

  test("reaches the service's backends in the order of its balancer, with method, target, headers and body", async () => {
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await cap.context().upstream.request("shadow", {
        method: "POST",
        target: "/x?q=1",
        headers: [["x-custom", "v"]],
        body: Buffer.from("payload"),
      });
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), "POST /x?q=1 payload");
      const header = (n: string) => res.headers.find(([k]) => k === n)?.[1];
      assert.equal(header("x-seen-custom"), "v");
      assert.equal(header("x-seen-host"), res.backend, "Host defaults to the backend's address");
      seen.push(header("x-backend")!);
    }
    assert.deepEqual(seen.sort(), ["a", "a", "b", "b"]);
  });

  test("follows a reload that changes the service's backends", async () => {
    await gw.gateway.reload(withListener([c.address]));
    const res = await cap.context().upstream.request("shadow", { method: "GET", target: "/", headers: { host: "shadow.example" } });
    assert.equal(res.headers.find(([k]) => k === "x-backend")?.[1], "c");
    assert.equal(res.headers.find(([k]) => k === "x-seen-host")?.[1], "shadow.example");
    await gw.gateway.reload(withListener([a.address, b.address]));
  });

  test("rejects an unknown service with ERR_UNKNOWN_SERVICE, naming the known ones", async () => {
    const err = await rejectsWith(cap.context().upstream.request("nope", { method: "GET", target: "/" }), "ERR_UNKNOWN_SERVICE");
    assert.match(err.message, /shadow/);
  });

  test("rejects with ERR_UPSTREAM_RESPONSE_TIMEOUT when the backend never answers", async () => {
    const started = performance.now();
    await rejectsWith(cap.context().upstream.request("slow", { method: "GET", target: "/", timeoutMs: 150 }), "ERR_UPSTREAM_RESPONSE_TIMEOUT");
    const took = performance.now() - started;
    assert.ok(took >= 140 && took < 2000, `took ${took} ms`);
  });

  test("rejects with ERR_UPSTREAM_NO_BACKEND when every backend is out of rotation", async () => {
    for (const backend of [a, b]) gw.gateway.setBackendState("shadow", backend.address, "maintenance");
    try {
      await rejectsWith(cap.context().upstream.request("shadow", { method: "GET", target: "/" }), "ERR_UPSTREAM_NO_BACKEND");
    } finally {
      for (const backend of [a, b]) gw.gateway.setBackendState("shadow", backend.address, "active");
    }
  });

  test("rejects with ERR_UPSTREAM_CONNECT_REFUSED when nothing listens", async () => {
    const closed = await startBackend();
    const address = closed.address;
    await closed.close();
    await gw.gateway.reload(withListener([address]));
    try {
      await rejectsWith(cap.context().upstream.request("shadow", { method: "GET", target: "/" }), "ERR_UPSTREAM_CONNECT_REFUSED");
    } finally {
      await gw.gateway.reload(withListener([a.address, b.address]));
    }
  });

  test("rejects a response body over the bound with ERR_UPSTREAM_RESPONSE_TOO_LARGE", async () => {
    await rejectsWith(
      cap.context().upstream.request("shadow", { method: "POST", target: "/", body: Buffer.alloc(4096, 120), maxResponseBytes: 1024 }),
      "ERR_UPSTREAM_RESPONSE_TOO_LARGE",
    );
  });

  test("rejects a header Node refuses to send with ERR_UPSTREAM_CLIENT_INVALID_REQUEST, and keeps the backends' in-flight counts", async () => {
    await rejectsWith(cap.context().upstream.request("shadow", { method: "GET", target: "/", headers: { "x-bad": "a\nb" } }), "ERR_UPSTREAM_CLIENT_INVALID_REQUEST");
    for (const backend of gw.gateway.backends().filter((b) => b.service === "shadow")) assert.equal(backend.active, 0, backend.address);
  });

  test("rejects with the signal's reason when aborted", async () => {
    const controller = new AbortController();
    const pending = cap.context().upstream.request("slow", { method: "GET", target: "/", signal: controller.signal });
    controller.abort(new DivisorError("ERR_TEST_ABORT", "stop"));
    await rejectsWith(pending, "ERR_TEST_ABORT");
  });
});
