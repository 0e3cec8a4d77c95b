import assert from "node:assert/strict";
import https from "node:https";
import type net from "node:net";
import { after, before, describe, test } from "node:test";
import type tls from "node:tls";
import { capture } from "../helpers/capture.js";
import { type IssuedCertificate, TestCa } from "../helpers/certs.js";
import { get, startGateway, type TestGateway } from "../helpers/net.js";

interface HttpsBackend {
  address: string;
  port: number;
  /** TLS connections the backend accepted. */
  connections: number;
  /** What each request saw: the SNI name and the client certificate's CN (mTLS). */
  seen: { servername: string | false; clientCn: string | null; url: string }[];
  close(): Promise<void>;
}

/** A real HTTPS server as a backend; with `clientCa`, it requires a client certificate signed by it. */
async function httpsBackend(leaf: IssuedCertificate, name: string, clientCa?: string): Promise<HttpsBackend> {
  const { readFileSync } = await import("node:fs");
  const seen: HttpsBackend["seen"] = [];
  const server = https.createServer(
    { cert: readFileSync(leaf.cert), key: readFileSync(leaf.key), ...(clientCa === undefined ? {} : { ca: clientCa, requestCert: true, rejectUnauthorized: true }) },
    (req, res) => {
      const socket = req.socket as tls.TLSSocket;
      const peer = socket.getPeerCertificate();
      seen.push({ servername: (socket as tls.TLSSocket & { servername: string | false }).servername, clientCn: peer?.subject === undefined ? null : String(peer.subject.CN), url: req.url ?? "" });
      res.setHeader("x-backend", name);
      res.end(`${name} ${req.url}`);
    },
  );
  const backend: HttpsBackend = { address: "", port: 0, connections: 0, seen, close: () => new Promise((r) => server.close(() => r())) };
  server.on("secureConnection", () => backend.connections++);
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  backend.port = (server.address() as net.AddressInfo).port;
  backend.address = `127.0.0.1:${backend.port}`;
  const close = backend.close;
  backend.close = () => {
    server.closeAllConnections();
    return close();
  };
  return backend;
}


describe("HTTPS backends: services.<name>.tls (real Node HTTPS servers, certificates from openssl)", () => {
  let ca: TestCa;
  let otherCa: TestCa;
  let byIp: HttpsBackend;
  let byName: HttpsBackend;
  let mtls: HttpsBackend;
  let stranger: HttpsBackend;
  let gw: TestGateway;
  const cap = capture();

  before(async () => {
    ca = new TestCa();
    otherCa = new TestCa();
    byIp = await httpsBackend(ca.issue([], "ip", "ip-backend", ["127.0.0.1"]), "ip");
    byName = await httpsBackend(ca.issue(["api.internal.test"], "named"), "named");
    const client = ca.issue(["gateway.internal.test"], "client", "divisor-gateway");
    mtls = await httpsBackend(ca.issue([], "mtls", "mtls-backend", ["127.0.0.1"]), "mtls", ca.caPem);
    stranger = await httpsBackend(otherCa.issue([], "stranger", "stranger", ["127.0.0.1"]), "stranger");
    gw = await startGateway(
      {
        services: {
          ip: { backends: [byIp.address], tls: { ca: ca.caFile }, healthCheck: { type: "http", path: "/health", interval: 200 } },
          named: { backends: [byName.address], tls: { ca: ca.caPem, servername: "api.internal.test" } },
          "named-no-sni": { backends: [byName.address], tls: { ca: ca.caFile } },
          mtls: { backends: [mtls.address], tls: { ca: ca.caFile, cert: client.cert, key: client.key } },
          "mtls-no-cert": { backends: [mtls.address], tls: { ca: ca.caFile } },
          stranger: { backends: [stranger.address], tls: { ca: ca.caFile }, retries: { attempts: 0 } },
          insecure: { backends: [stranger.address], tls: { verify: false } },
        },
        middlewares: { cap: { type: "plugin", plugin: "capture" } },
        routers: Object.fromEntries(
          ["ip", "named", "named-no-sni", "mtls", "mtls-no-cert", "stranger", "insecure"].map((s) => [s, { match: { path: { prefix: `/${s}/` } }, service: s, middlewares: ["cap"] }]),
        ),
      },
      [cap.plugin],
    );
  });
  after(async () => {
    await gw?.close();
    for (const b of [byIp, byName, mtls, stranger]) await b?.close();
    ca?.close();
    otherCa?.close();
  });

  test("requests reach an HTTPS backend verified against a private CA, over kept-alive TLS connections", async () => {
    const before = byIp.connections;
    for (let i = 0; i < 5; i++) {
      const res = await get(`${gw.url}/ip/${i}`);
      assert.equal(res.status, 200);
      assert.equal(res.body, `ip /ip/${i}`);
    }
    assert.ok(byIp.connections - before <= 2, `connections reused (${byIp.connections - before} new for 5 requests, health checks included)`);
    // An IP address as the backend: no SNI is sent, and the certificate's IP SAN is what is checked.
    assert.equal(byIp.seen.at(-1)!.servername, false);
  });

  test("servername sets SNI and the name checked; without it a certificate for a name does not verify for an IP", async () => {
    const res = await get(`${gw.url}/named/x`);
    assert.equal(res.status, 200);
    assert.equal(byName.seen.at(-1)!.servername, "api.internal.test");
    const refused = await get(`${gw.url}/named-no-sni/x`);
    assert.equal(refused.status, 502);
    assert.match(refused.body, /TLS handshake with the backend failed/);
  });

  test("a backend whose certificate another CA signed is refused with 502 and counted as tls-error; verify: false accepts it", async () => {
    const res = await get(`${gw.url}/stranger/x`);
    assert.equal(res.status, 502);
    const metrics = await gw.gateway.metrics();
    assert.match(metrics, new RegExp(`divisor_upstream_errors_total\\{service="stranger",backend="${stranger.address}",kind="tls-error"\\} [1-9]`));
    const insecure = await get(`${gw.url}/insecure/x`);
    assert.equal(insecure.status, 200);
    assert.equal(insecure.body, "stranger /insecure/x");
  });

  test("mTLS: the gateway presents its client certificate to a backend that requires one", async () => {
    const res = await get(`${gw.url}/mtls/x`);
    assert.equal(res.status, 200);
    assert.equal(mtls.seen.at(-1)!.clientCn, "divisor-gateway");
    assert.equal((await get(`${gw.url}/mtls-no-cert/x`)).status, 502);
  });

  test("health checks go over TLS too (the backend speaks nothing but TLS)", async () => {
    for (let i = 0; i < 50 && !byIp.seen.some((s) => s.url === "/health"); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(byIp.seen.some((s) => s.url === "/health"), "the check reached the HTTPS backend");
    const [backend] = gw.gateway.backends().filter((b) => b.service === "ip");
    assert.equal(backend!.healthy, true);
  });

  test("PluginContext.upstream reaches HTTPS services with the same TLS settings", async () => {
    const upstream = cap.context().upstream;
    const res = await upstream.request("mtls", { method: "GET", target: "/from-plugin" });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), "mtls /from-plugin");
    assert.equal(mtls.seen.at(-1)!.clientCn, "divisor-gateway");
    await assert.rejects(upstream.request("stranger", { method: "GET", target: "/" }), (e: Error & { code?: string }) => e.code === "ERR_UPSTREAM_TLS_ERROR");
  });

  test("a CA file that does not exist is a config error naming services.<name>.tls.ca", async () => {
    await assert.rejects(
      gw.gateway.reload({ ...gw.gateway.config, services: { ...gw.gateway.config.services, ip: { backends: [byIp.address], tls: { ca: "/nonexistent/ca.pem" } } } } as never),
      (e: Error & { issues?: { path: string; message: string }[] }) => e.issues?.[0]?.path === "services.ip.tls.ca" && /no such file|ENOENT/.test(e.issues[0]!.message),
    );
    assert.equal((await get(`${gw.url}/ip/still`)).status, 200);
  });
});
