import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { promisify } from "node:util";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { adminGatewayOf, createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { type IssuedCertificate, TestCa } from "../helpers/certs.js";
import { freePort, startBackend, type TestBackend } from "../helpers/net.js";

const run = promisify(execFile);

interface Handshake {
  /** First DNS name of the certificate the gateway served. */
  served: string;
  fingerprint: string;
  protocol: string | null;
  socket: tls.TLSSocket;
}

/** One TLS handshake with the gateway; resolves with what it served, rejects when refused. */
function handshake(port: number, options: tls.ConnectionOptions = {}): Promise<Handshake> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...options }, () => {
      const peer = socket.getPeerCertificate();
      const san = (peer.subjectaltname ?? "").split(", ")[0]?.replace(/^DNS:/, "") ?? "";
      resolve({ served: san || String(peer.subject?.CN ?? ""), fingerprint: peer.fingerprint256, protocol: socket.getProtocol(), socket });
    });
    socket.once("error", reject);
  });
}

async function served(port: number, servername?: string): Promise<string> {
  const h = await handshake(port, servername === undefined ? {} : { servername });
  h.socket.destroy();
  return h.served;
}

/** A GET over TLS through curl, trusting only the test CA. */
async function curl(port: number, host: string, ca: string, path = "/", extra: string[] = []): Promise<{ status: number; body: string }> {
  const { stdout } = await run("curl", ["-sS", "--cacert", ca, "--resolve", `${host}:${port}:127.0.0.1`, "-w", "\n%{http_code}", ...extra, `https://${host}:${port}${path}`]);
  const i = stdout.lastIndexOf("\n");
  return { body: stdout.slice(0, i), status: Number(stdout.slice(i + 1)) };
}

async function metrics(gw: Gateway): Promise<string> {
  return gw.metrics();
}

describe("HTTPS listeners: certificates chosen by SNI (real curl and Node TLS clients, certificates from openssl)", () => {
  let ca: TestCa;
  let backend: TestBackend;
  let gw: Gateway;
  let port: number;
  let shop: IssuedCertificate;
  let wild: IssuedCertificate;
  let fallback: IssuedCertificate;
  let config: DivisorConfigInput;

  before(async () => {
    ca = new TestCa();
    shop = ca.issue(["shop.example.test", "www.shop.example.test"], "shop");
    wild = ca.issue(["*.tenants.example.test"], "wild");
    fallback = ca.issue(["default.example.test"], "fallback");
    backend = await startBackend((req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ host: req.headers.host, proto: req.headers["x-forwarded-proto"], url: req.url }));
    });
    config = {
      listeners: [
        {
          address: "127.0.0.1:0",
          tls: {
            certificates: [{ cert: fallback.cert, key: fallback.key }, { cert: shop.cert, key: shop.key }, { cert: wild.cert, key: wild.key }],
          },
        },
      ],
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
    };
    gw = createGateway(config);
    [{ port }] = (await gw.listen()) as unknown as [{ port: number }];
  });
  after(async () => {
    await gw?.close({ gracePeriodMs: 500 });
    await backend?.close();
    ca?.close();
  });

  test("curl gets the proxied response over HTTPS, verified against the CA; the backend sees X-Forwarded-Proto: https", async () => {
    const res = await curl(port, "shop.example.test", ca.caFile, "/cart?x=1");
    assert.equal(res.status, 200);
    assert.deepEqual(JSON.parse(res.body), { host: `shop.example.test:${port}`, proto: "https", url: "/cart?x=1" });
    // A second name of the same certificate, and keep-alive over TLS (two requests, one connection).
    const two = await run("curl", ["-sS", "--cacert", ca.caFile, "--resolve", `www.shop.example.test:${port}:127.0.0.1`, "-w", "%{num_connects}\n", `https://www.shop.example.test:${port}/a`, `https://www.shop.example.test:${port}/b`]);
    assert.match(two.stdout, /"url":"\/a"}1\n\{.*"url":"\/b"}0\n$/);
  });

  test("an exact name, a one-label wildcard, an unknown name and no name at all each get the right certificate", async () => {
    assert.equal(await served(port, "shop.example.test"), "shop.example.test");
    assert.equal(await served(port, "WWW.Shop.Example.Test"), "shop.example.test");
    assert.equal(await served(port, "acme.tenants.example.test"), "*.tenants.example.test");
    // A wildcard covers one label only.
    assert.equal(await served(port, "a.b.tenants.example.test"), "default.example.test");
    assert.equal(await served(port, "unknown.example.test"), "default.example.test");
    assert.equal(await served(port), "default.example.test");
    // curl verifies the wildcard for a tenant's host.
    assert.equal((await curl(port, "acme.tenants.example.test", ca.caFile)).status, 200);
  });

  test("TLS 1.0 and 1.1 are refused by default, and so are TLS 1.2 clients offering only CBC or RSA-key-exchange suites", async () => {
    await assert.rejects(handshake(port, { servername: "shop.example.test", minVersion: "TLSv1", maxVersion: "TLSv1.1" }));
    await assert.rejects(handshake(port, { servername: "shop.example.test", maxVersion: "TLSv1.2", ciphers: "AES128-SHA:ECDHE-RSA-AES128-SHA" }));
    const ok = await handshake(port, { servername: "shop.example.test", maxVersion: "TLSv1.2" });
    assert.equal(ok.protocol, "TLSv1.2");
    assert.match(ok.socket.getCipher().name, /GCM|CHACHA20/);
    ok.socket.destroy();
    const m = await metrics(gw);
    assert.match(m, /divisor_tls_handshakes_total\{listener="127\.0\.0\.1:0",version="TLSv1\.2"\} [1-9]/);
    assert.match(m, /divisor_tls_handshakes_total\{listener="127\.0\.0\.1:0",version="TLSv1\.3"\} [1-9]/);
    assert.match(m, /divisor_tls_handshake_errors_total\{listener="127\.0\.0\.1:0",reason="protocol-mismatch"\} [2-9]/);
  });

  test("a TLS session resumes without a full handshake", async () => {
    const first = await handshake(port, { servername: "shop.example.test", maxVersion: "TLSv1.2" });
    const session = await new Promise<Buffer>((resolve) => {
      const s = first.socket.getSession();
      if (s !== undefined) resolve(s);
      else first.socket.once("session", resolve);
    });
    first.socket.destroy();
    const second = await handshake(port, { servername: "shop.example.test", maxVersion: "TLSv1.2", session });
    assert.equal(second.socket.isSessionReused(), true);
    second.socket.destroy();
  });

  test("plain HTTP sent to the HTTPS port is closed and counted, and the listener keeps serving", async () => {
    const text = await new Promise<string>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => s.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
      let got = "";
      s.on("data", (d) => (got += d.toString("latin1")));
      s.on("close", () => resolve(got));
      s.on("error", () => {});
    });
    assert.doesNotMatch(text, /200 OK/);
    assert.match(await metrics(gw), /divisor_tls_handshake_errors_total\{listener="127\.0\.0\.1:0",reason="(plain-http|other)"\} [1-9]/);
    assert.equal((await curl(port, "shop.example.test", ca.caFile)).status, 200);
  });

  test("the admin view and the expiry metric show each certificate in force", async () => {
    const [listener] = adminGatewayOf(gw).listeners();
    assert.equal(listener!.protocol, "https");
    const certs = listener!.certificates!;
    assert.deepEqual(
      certs.map((c) => [c.names, c.default]),
      [
        [["default.example.test"], true],
        [["shop.example.test", "www.shop.example.test"], false],
        [["*.tenants.example.test"], false],
      ],
    );
    const notAfter = Math.floor(Date.parse(certs[1]!.notAfter) / 1000);
    assert.ok(notAfter > Date.now() / 1000 + 86_400, "issued for two days");
    assert.match(await metrics(gw), new RegExp(`divisor_tls_certificate_expiry_timestamp_seconds\\{listener="127\\.0\\.0\\.1:0",certificate="shop\\.example\\.test"\\} ${notAfter}\\n`));
  });

  test("a certificate file replaced on disk is served to new handshakes; one that does not load keeps the last good one", async () => {
    const before = (await handshake(port, { servername: "shop.example.test" })).fingerprint;
    // Renewed: same file names, a new key and certificate (written in place, as certbot's deploy hook would).
    ca.issue(["shop.example.test", "www.shop.example.test"], "shop");
    const renewed = await waitFor(async () => {
      const h = await handshake(port, { servername: "shop.example.test" });
      h.socket.destroy();
      return h.fingerprint !== before ? h.fingerprint : null;
    });
    assert.notEqual(renewed, before);
    assert.match(await metrics(gw), /divisor_tls_certificate_reloads_total\{listener="127\.0\.0\.1:0"\} [1-9]/);
    // A broken file: the renewed certificate stays in force.
    writeFileSync(shop.cert, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
    await waitFor(async () => ((await metrics(gw)).match(/divisor_tls_certificate_reload_errors_total\{listener="127\.0\.0\.1:0"\} [1-9]/) ? true : null));
    const still = await handshake(port, { servername: "shop.example.test" });
    still.socket.destroy();
    assert.equal(still.fingerprint, renewed);
    assert.equal((await curl(port, "shop.example.test", ca.caFile)).status, 200);
    ca.issue(["shop.example.test", "www.shop.example.test"], "shop");
  });

  test("a reload that names a missing or mismatched file is refused with the path of the bad key, and HTTPS goes on", async () => {
    const bad = structuredClone(config) as { listeners: { tls: { certificates: { cert: string; key: string }[] } }[] };
    bad.listeners[0]!.tls.certificates[1] = { cert: join(ca.dir, "missing.pem"), key: shop.key };
    bad.listeners[0]!.tls.certificates[2] = { cert: wild.cert, key: fallback.key };
    const err = await gw.reload(bad as DivisorConfigInput).then(
      () => null,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ConfigError, String(err));
    assert.deepEqual(
      err.issues.map((i) => i.path),
      ["listeners[0].tls.certificates[1].cert", "listeners[0].tls.certificates[2].key"],
    );
    assert.match(err.issues[0]!.message, /no such file: .*missing\.pem/);
    assert.match(err.issues[1]!.message, /private key does not belong to the certificate/);
    assert.equal((await curl(port, "shop.example.test", ca.caFile)).status, 200);
  });

  test("a reload changes the certificates in force, and strictSni refuses names no certificate has", async () => {
    const next = structuredClone(config) as { listeners: { tls: Record<string, unknown> }[] };
    next.listeners[0]!.tls = { certificates: [{ cert: shop.cert, key: shop.key }, { cert: wild.cert, key: wild.key }], strictSni: true };
    await gw.reload(next as DivisorConfigInput);
    assert.equal(await served(port, "x.tenants.example.test"), "*.tenants.example.test");
    await assert.rejects(handshake(port, { servername: "unknown.example.test" }));
    // No server name at all (a client dialling the IP) still gets the default.
    assert.equal(await served(port), "shop.example.test");
    assert.match(await metrics(gw), /divisor_tls_handshake_errors_total\{listener="127\.0\.0\.1:0",reason="unknown-server-name"\} [1-9]/);
    await gw.reload(config);
    assert.equal(await served(port, "unknown.example.test"), "default.example.test");
  });
});

describe("HTTPS listener settings", () => {
  let ca: TestCa;
  let backend: TestBackend;
  before(async () => {
    ca = new TestCa();
    backend = await startBackend((_req, res) => res.end("ok"));
  });
  after(async () => {
    await backend?.close();
    ca?.close();
  });

  test("minVersion TLSv1.3 refuses TLS 1.2 clients; PEM text works in place of files; names default to the CN without a SAN", async () => {
    const leaf = ca.issue([], "cn-only", "legacy.example.test");
    const { readFileSync } = await import("node:fs");
    const gw = createGateway({
      listeners: [{ address: "127.0.0.1:0", tls: { minVersion: "TLSv1.3", certificates: [{ cert: leaf.pem, key: readFileSync(leaf.key, "utf8") }] } }],
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
    });
    const [{ port }] = (await gw.listen()) as unknown as [{ port: number }];
    try {
      await assert.rejects(handshake(port, { maxVersion: "TLSv1.2" }));
      const h = await handshake(port, { servername: "legacy.example.test" });
      assert.equal(h.protocol, "TLSv1.3");
      h.socket.destroy();
      assert.deepEqual(adminGatewayOf(gw).listeners()[0]!.certificates![0]!.names, ["legacy.example.test"]);
    } finally {
      await gw.close({ gracePeriodMs: 200 });
    }
  });

  test("an OCSP response file is stapled to handshakes that ask for one", async () => {
    const leaf = ca.issue(["ocsp.example.test"], "ocsp");
    const respFile = ca.ocspResponse(leaf, "ocsp.der");
    const gw = createGateway({
      listeners: [{ address: "127.0.0.1:0", tls: { certificates: [{ cert: leaf.cert, key: leaf.key, ocspResponse: respFile }] } }],
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
    });
    const [{ port }] = (await gw.listen()) as unknown as [{ port: number }];
    try {
      const stapled = await new Promise<Buffer | null>((resolve, reject) => {
        // requestOCSP is a documented tls.connect option that @types/node leaves out.
        const s = tls.connect({ host: "127.0.0.1", port, servername: "ocsp.example.test", ca: ca.caPem, requestOCSP: true } as tls.ConnectionOptions);
        s.once("OCSPResponse", (resp: Buffer) => {
          resolve(resp);
          s.destroy();
        });
        s.once("error", reject);
      });
      const { readFileSync } = await import("node:fs");
      assert.deepEqual(stapled, readFileSync(respFile));
    } finally {
      await gw.close({ gracePeriodMs: 200 });
    }
  });

  test("the schema refuses a defaultCertificate out of range and a minVersion above maxVersion, naming the key", () => {
    const leaf = ca.issue(["x.example.test"], "schema");
    assert.throws(
      () => createGateway({ listeners: [{ address: "127.0.0.1:0", tls: { certificates: [{ cert: leaf.cert, key: leaf.key }], defaultCertificate: 1 } }] }),
      (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.path === "listeners[0].tls.defaultCertificate"),
    );
    assert.throws(
      () => createGateway({ listeners: [{ address: "127.0.0.1:0", tls: { certificates: [{ cert: leaf.cert, key: leaf.key }], minVersion: "TLSv1.3", maxVersion: "TLSv1.2" } }] }),
      (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.path === "listeners[0].tls.minVersion"),
    );
  });

  test("redirectToHttps sends every plain-HTTP request to the same host and target over HTTPS; curl -L follows it", async () => {
    const leaf = ca.issue(["app.example.test"], "redirect");
    const httpsPort = await freePort();
    const gw = createGateway({
      listeners: [
        { address: "127.0.0.1:0", redirectToHttps: { port: httpsPort } },
        { address: `127.0.0.1:${httpsPort}`, tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } },
      ],
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
    });
    const [plain] = (await gw.listen()) as unknown as [{ port: number }];
    try {
      const raw = await run("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-X", "POST", "--data", "x", "--resolve", `app.example.test:${plain.port}:127.0.0.1`, `http://app.example.test:${plain.port}/a/b?c=d`]);
      assert.equal(raw.stdout, `308 https://app.example.test:${httpsPort}/a/b?c=d`);
      const followed = await run("curl", ["-sSL", "--cacert", ca.caFile, "--resolve", `app.example.test:${plain.port}:127.0.0.1`, "--resolve", `app.example.test:${httpsPort}:127.0.0.1`, `http://app.example.test:${plain.port}/`]);
      assert.equal(followed.stdout, "ok");
    } finally {
      await gw.close({ gracePeriodMs: 200 });
    }
    assert.throws(
      () => createGateway({ listeners: [{ address: "127.0.0.1:0", redirectToHttps: true, tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }] }),
      (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.path === "listeners[0].redirectToHttps" && /already speaks HTTPS/.test(i.message)),
    );
  });

  test("a listener turned from HTTP to HTTPS by a reload keeps its address", async () => {
    const leaf = ca.issue(["flip.example.test"], "flip");
    const port = await freePort();
    const plain: DivisorConfigInput = { listeners: [{ address: `127.0.0.1:${port}` }], services: { app: { backends: [backend.address] } }, routers: { all: { service: "app" } } };
    const gw = createGateway(plain);
    await gw.listen();
    try {
      assert.equal((await fetch(`http://127.0.0.1:${port}/`)).status, 200);
      await gw.reload({ ...plain, listeners: [{ address: `127.0.0.1:${port}`, tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }] });
      assert.equal((await curl(port, "flip.example.test", ca.caFile)).body, "ok");
      assert.equal(adminGatewayOf(gw).listeners()[0]!.protocol, "https");
    } finally {
      await gw.close({ gracePeriodMs: 200 });
    }
  });
});

async function waitFor<T>(probe: () => Promise<T | null>, timeoutMs = 8000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 100));
  }
}
