import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AdminServer, isLoopback } from "../../src/admin/server.js";
import type { AdminGateway } from "../../src/admin/types.js";
import { createGateway } from "../../src/gateway/gateway.js";
import { ConfigError } from "../../src/errors.js";
import { adminCall, nonLoopbackAddress } from "../helpers/admin.js";

describe("isLoopback", () => {
  test("is true for 127.0.0.0/8, ::1 and IPv4-mapped loopback", () => {
    for (const ip of ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1"]) assert.ok(isLoopback(ip), ip);
  });
  test("is false for other addresses and for none", () => {
    for (const ip of ["192.0.2.2", "10.0.0.1", "::ffff:10.0.0.1", "fe80::1", "::", "0.0.0.0", "128.0.0.1", undefined]) assert.ok(!isLoopback(ip), String(ip));
  });
});

describe("an admin listener without tokens", () => {
  let server: AdminServer;
  let port: number;
  before(async () => {
    // Past config validation (which refuses this) on purpose: the peer check must hold on its own.
    const gateway = { listeningSince: Date.now(), draining: () => false } as unknown as AdminGateway;
    server = new AdminServer({ address: "0.0.0.0:0", tokens: [] }, (route, req) => route.handle(req, gateway));
    port = (await server.listen()).port;
  });
  after(() => server.close());

  test("refuses a peer that is not loopback with 403", async () => {
    const res = await adminCall(`http://${nonLoopbackAddress()}:${port}`, "GET", "/api");
    assert.equal(res.status, 403);
    assert.deepEqual(Object.keys(res.body as object), ["error"]);
    assert.equal((res.body as { error: { code: string } }).error.code, "ERR_ADMIN_FORBIDDEN");
    assert.match((res.body as { error: { message: string } }).error.message, /admin\.tokens/);
  });

  test("answers a loopback peer", async () => {
    const res = await adminCall(`http://127.0.0.1:${port}`, "GET", "/api");
    assert.equal(res.status, 200);
  });
});

describe("admin configuration", () => {
  test("a non-loopback admin address without tokens is refused with a clear error", () => {
    assert.throws(
      () => createGateway({ listeners: [{ address: "127.0.0.1:0" }], admin: { address: "0.0.0.0:9901" } }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.equal(err.issues[0]!.path, "admin.tokens");
        assert.match(err.issues[0]!.message, /reachable from other machines without a token; add admin\.tokens or bind it to 127\.0\.0\.1/);
        return true;
      },
    );
  });
});
