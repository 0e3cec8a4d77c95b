import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { promisify } from "node:util";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { type IssuedCertificate, TestCa } from "../helpers/certs.js";
import { startBackend, type TestBackend } from "../helpers/net.js";

const run = promisify(execFile);

describe("mutual TLS: tls.clientAuth on the listener, the client-cert middleware per router (real curl with client certificates)", () => {
  let ca: TestCa;
  let rogueCa: TestCa;
  let server: IssuedCertificate;
  let alice: IssuedCertificate;
  let billing: IssuedCertificate;
  let rogue: IssuedCertificate;
  let backend: TestBackend;
  let gw: Gateway;
  let port: number;
  let config: DivisorConfigInput;

  before(async () => {
    ca = new TestCa();
    rogueCa = new TestCa();
    server = ca.issue(["mtls.example.test"], "server");
    alice = ca.issue([], "alice", "alice");
    billing = ca.issue(["billing.internal"], "billing", "billing-service");
    rogue = rogueCa.issue([], "rogue", "alice");
    backend = await startBackend((req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ subject: req.headers["x-client-cert-subject"] ?? null, fingerprint: req.headers["x-client-cert-fingerprint"] ?? null, cn: req.headers["x-cn"] ?? null, pem: req.headers["x-cert"] ?? null }));
    });
    config = {
      listeners: [{ address: "127.0.0.1:0", tls: { certificates: [{ cert: server.cert, key: server.key }], clientAuth: { ca: ca.caFile } } }],
      services: { app: { backends: [backend.address] } },
      middlewares: {
        mtls: { type: "client-cert" },
        "billing-only": { type: "client-cert", allow: { subjectAltNames: ["DNS:billing.internal"] }, headers: { commonName: "X-CN", certificate: "X-Cert" } },
      },
      routers: {
        internal: { match: { path: { prefix: "/internal/" } }, service: "app", middlewares: ["mtls"] },
        billing: { match: { path: { prefix: "/billing/" } }, service: "app", middlewares: ["billing-only"] },
        public: { service: "app" },
      },
    };
    gw = createGateway(config);
    [{ port }] = (await gw.listen()) as unknown as [{ port: number }];
  });
  after(async () => {
    await gw?.close({ gracePeriodMs: 200 });
    await backend?.close();
    ca?.close();
    rogueCa?.close();
  });

  async function curl(path: string, cert?: IssuedCertificate, headers: string[] = []): Promise<{ status: number; body: string }> {
    const args = ["-sS", "--cacert", ca.caFile, "--resolve", `mtls.example.test:${port}:127.0.0.1`, "-w", "\n%{http_code}"];
    if (cert !== undefined) args.push("--cert", cert.cert, "--key", cert.key);
    for (const h of headers) args.push("-H", h);
    const { stdout } = await run("curl", [...args, `https://mtls.example.test:${port}${path}`]);
    const i = stdout.lastIndexOf("\n");
    return { body: stdout.slice(0, i), status: Number(stdout.slice(i + 1)) };
  }

  test("a router without the middleware serves clients with and without a certificate", async () => {
    assert.equal((await curl("/")).status, 200);
    assert.equal((await curl("/", alice)).status, 200);
  });

  test("client-cert refuses a request without a certificate, or with one another CA signed, with 403 and the reason", async () => {
    const none = await curl("/internal/x");
    assert.equal(none.status, 403);
    assert.match(none.body, /client certificate is required/);
    const forged = await curl("/internal/x", rogue);
    assert.equal(forged.status, 403);
    assert.match(forged.body, /did not verify \(UNABLE_TO_VERIFY_LEAF_SIGNATURE|unable to verify/i);
  });

  test("a verified certificate passes; the backend gets its subject and fingerprint, and headers forged by the client are dropped", async () => {
    const res = await curl("/internal/x", alice, ["X-Client-Cert-Subject: CN=admin", "X-Client-Cert-Fingerprint: forged"]);
    assert.equal(res.status, 200, res.body);
    const seen = JSON.parse(res.body) as Record<string, string | null>;
    assert.equal(seen.subject, "CN=alice");
    const { X509Certificate } = await import("node:crypto");
    assert.equal(seen.fingerprint, new X509Certificate(alice.pem).fingerprint256);
    // Without a certificate the forged headers do not reach the backend either.
    const anon = JSON.parse((await curl("/", undefined, ["X-Client-Cert-Subject: CN=admin"])).body) as Record<string, string | null>;
    assert.equal(anon.subject, "CN=admin", "routers without client-cert leave headers alone");
  });

  test("allow narrows which certificates pass; chosen headers carry the common name and the URL-encoded PEM", async () => {
    assert.equal((await curl("/billing/x", alice)).status, 403);
    const res = await curl("/billing/x", billing, ["X-CN: admin"]);
    assert.equal(res.status, 200);
    const seen = JSON.parse(res.body) as Record<string, string | null>;
    assert.equal(seen.cn, "billing-service");
    assert.equal(seen.subject, null, "only the headers configured are set");
    const { X509Certificate } = await import("node:crypto");
    assert.equal(new X509Certificate(decodeURIComponent(seen.pem!)).fingerprint256, new X509Certificate(billing.pem).fingerprint256);
    const m = await gw.metrics();
    assert.match(m, /divisor_client_cert_decisions_total\{middleware="billing-only",result="denied"\} 1/);
    assert.match(m, /divisor_client_cert_decisions_total\{middleware="mtls",result="missing"\} [1-9]/);
  });

  test("clientAuth.required refuses the handshake without a certificate; a reload turns it on and off", async () => {
    const strict = structuredClone(config) as { listeners: { tls: { clientAuth: { ca: string; required?: boolean } } }[] };
    strict.listeners[0]!.tls.clientAuth.required = true;
    await gw.reload(strict as DivisorConfigInput);
    await assert.rejects(curl("/"));
    assert.equal((await curl("/", alice)).status, 200);
    await assert.rejects(
      new Promise((resolve, reject) => {
        const s = tls.connect({ host: "127.0.0.1", port, servername: "mtls.example.test", ca: ca.caPem, cert: rogue.pem, key: readFileSync(rogue.key, "utf8") }, () => {
          s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        });
        s.on("data", resolve);
        s.on("error", reject);
        s.on("close", () => reject(new Error("closed")));
      }),
    );
    await gw.reload(config);
    assert.equal((await curl("/")).status, 200);
  });
});

