import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import { ConfigError } from "../../src/errors.js";
import { createGateway } from "../../src/gateway/gateway.js";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

const run = promisify(execFile);

/** curl through the gateway as the client `ip` (the test's peer 127.0.0.1 is a trusted proxy). */
async function curlAs(url: string, ip: string): Promise<{ status: number; body: string }> {
  const { stdout } = await run("curl", ["-s", "-H", `X-Forwarded-For: ${ip}`, "-w", "\n%{http_code}", url]);
  const cut = stdout.lastIndexOf("\n");
  return { status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) };
}

describe("ip-filter", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startBackend((_req, res) => res.end("proxied"));
    gw = await startGateway({
      admin: { address: "127.0.0.1:0" },
      proxy: { trustedProxies: ["127.0.0.1/32"] },
      services: { app: { backends: [backend.address] } },
      middlewares: {
        office: { type: "ip-filter", allow: ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"], deny: ["10.6.6.0/24", "2001:db8:bad::/48"] },
        blocklist: { type: "ip-filter", deny: ["::ffff:198.51.100.0/120"], status: 451, message: "not here\n" },
      },
      routers: {
        office: { match: { path: { prefix: "/office" } }, service: "app", middlewares: ["office"] },
        open: { service: "app", middlewares: ["blocklist"] },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await backend?.close();
  });

  test("allows clients inside the allow list and refuses the others with a 403 that never reaches the backend", async () => {
    const before = backend.seen.length;
    for (const ip of ["10.1.2.3", "192.0.2.7", "2001:db8::1", "::ffff:10.9.9.9"]) {
      const res = await curlAs(`${gw.url}/office`, ip);
      assert.deepEqual(res, { status: 200, body: "proxied" }, ip);
    }
    assert.equal(backend.seen.length, before + 4);
    for (const ip of ["11.0.0.1", "192.0.2.8", "2001:db9::1", "not-an-ip"]) {
      const res = await curlAs(`${gw.url}/office`, ip);
      assert.deepEqual(res, { status: 403, body: "Forbidden\n" }, ip);
    }
    assert.equal(backend.seen.length, before + 4);
  });

  test("deny wins over allow, for IPv4, IPv6 and IPv4-mapped clients", async () => {
    for (const ip of ["10.6.6.1", "::ffff:10.6.6.200", "2001:db8:bad::5"]) {
      assert.equal((await curlAs(`${gw.url}/office`, ip)).status, 403, ip);
    }
  });

  test("a deny list alone lets everyone else through, and an IPv4-mapped rule matches the IPv4 client", async () => {
    assert.deepEqual(await curlAs(`${gw.url}/`, "198.51.100.20"), { status: 451, body: "not here\n" });
    assert.equal((await curlAs(`${gw.url}/`, "198.51.101.20")).status, 200);
    assert.equal((await get(`${gw.url}/`)).status, 200);
  });

  test("counts decisions in divisor_ip_filter_decisions_total by middleware and result", async () => {
    const res = await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`);
    const families = parseExposition(res.body, "text");
    assert.equal(sampleValue(families, "divisor_ip_filter_decisions_total", { middleware: "office", result: "allowed" }), 4);
    assert.equal(sampleValue(families, "divisor_ip_filter_decisions_total", { middleware: "office", result: "denied" }), 7);
    assert.equal(sampleValue(families, "divisor_ip_filter_decisions_total", { middleware: "blocklist", result: "denied" }), 1);
    assert.equal(sampleValue(families, "divisor_ip_filter_decisions_total", { middleware: "blocklist", result: "allowed" }), 2);
  });

  test("a bad CIDR or an empty filter is a config error naming the entry", () => {
    const config = (mw: unknown) => ({
      listeners: [{ address: "127.0.0.1:0" }],
      services: { app: { backends: ["127.0.0.1:1"] } },
      middlewares: { f: mw },
      routers: { all: { service: "app", middlewares: ["f"] } },
    });
    for (const [mw, text] of [
      [{ type: "ip-filter", allow: ["10.0.0.0/33"] }, "prefix length must be 0..32"],
      [{ type: "ip-filter", deny: ["10.0.0"] }, "not an IP address or CIDR"],
      [{ type: "ip-filter" }, "needs allow and/or deny"],
    ] as const) {
      assert.throws(
        () => createGateway(config(mw) as never),
        (err: unknown) => err instanceof ConfigError && err.message.includes("middlewares.f") && err.message.includes(text),
        text,
      );
    }
  });
});
