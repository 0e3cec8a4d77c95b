import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { adminGatewayOf, createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { eventually, sample, tlsGet } from "../helpers/acme.js";
import { startDns, type TestDns } from "../helpers/dns.js";
import { freePort, startBackend, type TestBackend } from "../helpers/net.js";
import { startPebble, type TestPebble } from "../helpers/pebble.js";

type AcmeInput = NonNullable<NonNullable<DivisorConfigInput["listeners"]>[number]["tls"]>["acme"];

describe("ACME against a real pebble: certificates issued, served, stored and renewed", () => {
  let dir: string;
  let dns: TestDns;
  let pebble: TestPebble;
  let backend: TestBackend;
  let httpPort: number;
  let tlsPort: number;
  let root: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-acme-"));
    dns = await startDns({ anyName: "127.0.0.1" });
    httpPort = await freePort();
    tlsPort = await freePort();
    pebble = await startPebble(dir, { httpPort, tlsPort, dnsServer: dns.server });
    root = await pebble.root();
    backend = await startBackend((req, res) => res.end(`backend saw ${req.headers.host}`));
  });

  after(async () => {
    await backend.close();
    await pebble.stop();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function acme(extra: Partial<NonNullable<AcmeInput>> & { storage?: NonNullable<AcmeInput>["storage"] }): NonNullable<AcmeInput> {
    return { directory: pebble.directory, termsOfServiceAgreed: true, caCertificate: pebble.tlsCa, storage: { type: "file", path: join(dir, "storage") }, ...extra } as NonNullable<AcmeInput>;
  }

  function configFor(acmeConfig: NonNullable<AcmeInput>, plain: Record<string, unknown> = {}): DivisorConfigInput {
    return {
      logging: { level: "fatal" },
      listeners: [{ address: `127.0.0.1:${httpPort}`, ...plain }, { address: `127.0.0.1:${tlsPort}`, tls: { acme: acmeConfig } }],
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
    };
  }

  /** Runs `fn` with a gateway whose plain and HTTPS listeners are on the ports pebble validates; closes it after. */
  async function withGateway(acmeConfig: NonNullable<AcmeInput> | DivisorConfigInput, fn: (gw: Gateway) => Promise<void>): Promise<void> {
    const gw = createGateway("listeners" in acmeConfig ? (acmeConfig as DivisorConfigInput) : configFor(acmeConfig as NonNullable<AcmeInput>));
    try {
      await gw.listen();
      await fn(gw);
    } finally {
      await gw.close({ gracePeriodMs: 200 });
    }
  }

  test("a configured host gets a certificate over HTTP-01 that chains to pebble's root, names the host, and is served", async () => {
    await withGateway(acme({ hosts: ["shop.example.com"], storage: { type: "file", path: join(dir, "http01") } }), async (gw) => {
    await eventually("the certificate is served", async () => (await tlsGet(tlsPort, "shop.example.com", root)).authorized);
    const served = await tlsGet(tlsPort, "shop.example.com", root);
    assert.equal(served.subjectAltName, "DNS:shop.example.com", "the certificate names the host");
    assert.match(served.response, /^HTTP\/1\.1 200[\s\S]*backend saw shop\.example\.com/, "the request went through to the backend over the issued certificate");
    assert.equal(sample(await gw.metrics(), "divisor_acme_orders_total", 'result="issued"'), 1, "one order issued");
    });
  });

  test("a restarted gateway serves the certificate from its storage without ordering again", async () => {
    const storage = { type: "file" as const, path: join(dir, "http01") };
    const before = await tlsGet(tlsPort, "shop.example.com", root).catch(() => null);
    assert.equal(before, null, "nothing listens between the two gateways");
    await withGateway(acme({ hosts: ["shop.example.com"], storage }), async (gw) => {
    await eventually("the stored certificate is served", async () => (await tlsGet(tlsPort, "shop.example.com", root)).authorized);
    const text = await gw.metrics();
    for (const result of ["issued", "failed", "rate-limited"]) {
      assert.equal(sample(text, "divisor_acme_orders_total", `result="${result}"`), 0, `no order was made (${result} is shown at 0)`);
    }
    const listener = adminGatewayOf(gw).listeners().find((l) => l.protocol === "https")!;
    assert.deepEqual(listener.acme?.certificates.map((c) => c.name), ["shop.example.com"], "the admin API lists the managed certificate");
    assert.ok(listener.certificates?.some((c) => c.names.includes("shop.example.com") && !c.default), "the certificate is in force, not as the default");
    });
  });

  test("tls-alpn-01: pebble's validation handshake (ALPN acme-tls/1) gets the challenge certificate, and the issued one is served", async () => {
    await withGateway(acme({ hosts: ["alpn.example.com"], challenge: "tls-alpn-01", storage: { type: "file", path: join(dir, "alpn") } }), async (gw) => {
    await eventually("the certificate is served", async () => (await tlsGet(tlsPort, "alpn.example.com", root)).authorized);
    const text = await gw.metrics();
    assert.ok((sample(text, "divisor_acme_challenge_responses_total", 'type="tls-alpn-01"') ?? 0) >= 1, "the validation was answered over TLS-ALPN");
    assert.equal(sample(text, "divisor_acme_challenge_responses_total", 'type="http-01"'), undefined, "no HTTP-01 request was answered");
    const plain = await tlsGet(tlsPort, "alpn.example.com", root, ["http/1.1"]);
    assert.match(plain.response, /^HTTP\/1\.1 200/, "ordinary handshakes on the same port still reach the router");
    });
  });

  test("on demand: the first handshake for an allowed name waits for its certificate; concurrent ones share one order; other names get the default certificate and order nothing", async () => {
    await withGateway(acme({ onDemand: { allow: ["*.customers.example.com"] }, storage: { type: "file", path: join(dir, "on-demand") } }), async (gw) => {
    const first = await Promise.all([1, 2, 3, 4].map(() => tlsGet(tlsPort, "acme-corp.customers.example.com", root)));
    for (const h of first) {
      assert.ok(h.authorized, `the first handshakes get the issued certificate (${h.authorizationError})`);
      assert.equal(h.subjectAltName, "DNS:acme-corp.customers.example.com", "it names the tenant's host");
    }
    const text = await gw.metrics();
    assert.equal(sample(text, "divisor_acme_orders_total", 'result="issued"'), 1, "four concurrent handshakes made one order");
    const denied = await tlsGet(tlsPort, "evil.example.net", root);
    assert.equal(denied.authorized, false, "a name outside the allow-list gets no trusted certificate");
    assert.equal(denied.subjectAltName, "DNS:divisor.invalid", "it gets the self-signed default");
    const deep = await tlsGet(tlsPort, "a.b.customers.example.com", root);
    assert.equal(deep.subjectAltName, "DNS:divisor.invalid", "a wildcard allows one label only");
    const after = await gw.metrics();
    assert.equal(sample(after, "divisor_acme_orders_total", 'result="issued"'), 1, "the refused names ordered nothing");
    assert.equal(sample(after, "divisor_acme_on_demand_refusals_total", 'reason="not-allowed"'), 2, "both refusals are counted");
    });
  });

  test("an order pebble cannot validate fails with the ACME problem, backs off, and leaves the default certificate served", async () => {
    // The DNS server sends pebble's validation of this name to an address nothing listens on.
    dns.zones.set("broken.customers.example.com", { A: [{ address: "127.0.0.2", ttl: 1 }] });
    await withGateway(acme({ onDemand: { allow: ["*.customers.example.com"] }, backoff: { initial: "1h" }, storage: { type: "file", path: join(dir, "backoff") } }), async (gw) => {
    const h = await tlsGet(tlsPort, "broken.customers.example.com", root);
    assert.equal(h.subjectAltName, "DNS:divisor.invalid", "the handshake falls back to the default certificate");
    await eventually("the order has failed", async () => sample(await gw.metrics(), "divisor_acme_orders_total", 'result="failed"') === 1);
    const snapshot = adminGatewayOf(gw).listeners().find((l) => l.protocol === "https")!.acme!;
    const failure = snapshot.failures.find((f) => f.name === "broken.customers.example.com");
    assert.ok(failure !== undefined, "the admin API lists the failing name");
    assert.match(failure.error, /urn:ietf:params:acme:error:\w+/, `the error names the ACME problem type (${failure.error})`);
    assert.ok(Date.parse(failure.retryAt) > Date.now() + 50 * 60_000, "the next order waits for the backoff");
    await tlsGet(tlsPort, "broken.customers.example.com", root);
    const text = await gw.metrics();
    assert.equal(sample(text, "divisor_acme_orders_total", 'result="failed"'), 1, "the second handshake made no new order");
    assert.equal(sample(text, "divisor_acme_on_demand_refusals_total", 'reason="backoff"'), 1, "it was refused for the backoff");
    });
  });

  test("the plain listener answers ACME validations before redirectToHttps, and unknown tokens with 404", async () => {
    await withGateway(configFor(acme({ hosts: ["redirect.example.com"], storage: { type: "file", path: join(dir, "redirect") } }), { redirectToHttps: { port: tlsPort } }), async () => {
      await eventually("the certificate is served", async () => (await tlsGet(tlsPort, "redirect.example.com", root)).authorized);
      const unknown = await fetch(`http://127.0.0.1:${httpPort}/.well-known/acme-challenge/no-such-token`, { redirect: "manual" });
      assert.equal(unknown.status, 404, "an unknown token is not found");
      assert.match(await unknown.text(), /no ACME challenge is in progress/, "and says why");
      const other = await fetch(`http://127.0.0.1:${httpPort}/shop`, { redirect: "manual" });
      assert.equal(other.status, 308, "other paths are still redirected");
    });
  });

  test("on demand with ask: only names the ask endpoint accepts are ordered", async () => {
    const asked: string[] = [];
    const ask = await startBackend((req, res) => {
      const domain = new URL(req.url ?? "/", "http://x").searchParams.get("domain") ?? "";
      asked.push(domain);
      res.statusCode = domain === "yes.customers.example.com" ? 200 : 403;
      res.end();
    });
    try {
      await withGateway(acme({ onDemand: { allow: ["*.customers.example.com"], ask: `http://${ask.address}/check` }, storage: { type: "file", path: join(dir, "ask") } }), async (gw) => {
        const no = await tlsGet(tlsPort, "no.customers.example.com", root);
        assert.equal(no.subjectAltName, "DNS:divisor.invalid", "a refused name gets the default certificate");
        const yes = await tlsGet(tlsPort, "yes.customers.example.com", root);
        assert.ok(yes.authorized, "an accepted name gets its certificate");
        assert.deepEqual(asked, ["no.customers.example.com", "yes.customers.example.com"], "the endpoint was asked once per name");
        const text = await gw.metrics();
        assert.equal(sample(text, "divisor_acme_on_demand_refusals_total", 'reason="ask-refused"'), 1, "the refusal is counted");
        assert.equal(sample(text, "divisor_acme_orders_total", 'result="issued"'), 1, "one order");
      });
    } finally {
      await ask.close();
    }
  });

  test("the on-demand rate limit stops orders past its count, and those handshakes get the default certificate", async () => {
    await withGateway(acme({ onDemand: { allow: ["*.limited.example.com"], rateLimit: { orders: 1, per: "1h" } }, storage: { type: "file", path: join(dir, "limited") } }), async (gw) => {
      assert.ok((await tlsGet(tlsPort, "one.limited.example.com", root)).authorized, "the first name is ordered");
      const second = await tlsGet(tlsPort, "two.limited.example.com", root);
      assert.equal(second.subjectAltName, "DNS:divisor.invalid", "the second waits for the next period");
      assert.equal(sample(await gw.metrics(), "divisor_acme_on_demand_refusals_total", 'reason="rate-limited"'), 1, "counted as rate-limited");
    });
  });

  test("a reload that adds a host orders only that one, and keeps serving the certificates held", async () => {
    const storage = { type: "file" as const, path: join(dir, "reload") };
    await withGateway(acme({ hosts: ["first.example.com"], storage }), async (gw) => {
      await eventually("the first certificate is served", async () => (await tlsGet(tlsPort, "first.example.com", root)).authorized);
      const before = (await tlsGet(tlsPort, "first.example.com", root)).fingerprint;
      await gw.reload(configFor(acme({ hosts: ["first.example.com", "second.example.com"], storage })));
      assert.equal((await tlsGet(tlsPort, "first.example.com", root)).fingerprint, before, "the held certificate is still served after the reload");
      await eventually("the added host's certificate is served", async () => (await tlsGet(tlsPort, "second.example.com", root)).authorized);
      assert.equal(sample(await gw.metrics(), "divisor_acme_orders_total", 'result="issued"'), 2, "one order per host, none again for the first");
    });
  });

  test("a reload that moves the storage replaces the listener, and the certificates go to the new storage", async () => {
    const first = join(dir, "move-a");
    const second = join(dir, "move-b");
    await withGateway(acme({ hosts: ["moved.example.com"], storage: { type: "file", path: first } }), async (gw) => {
      await eventually("the certificate is served", async () => (await tlsGet(tlsPort, "moved.example.com", root)).authorized);
      await gw.reload(configFor(acme({ hosts: ["moved.example.com"], storage: { type: "file", path: second } })));
      await eventually("the new storage holds the certificate", () => existsSync(join(second, "certificates", "moved.example.com.json")));
      await eventually("the certificate is served after the reload", async () => (await tlsGet(tlsPort, "moved.example.com", root)).authorized);
    });
  });
});

describe("ACME renewal against a pebble issuing short-lived certificates", () => {
  test("a certificate is renewed before it expires and the new one is served", async () => {
    const dir = mkdtempSync(join(tmpdir(), "divisor-acme-renew-"));
    const dns = await startDns({ anyName: "127.0.0.1" });
    const httpPort = await freePort();
    const tlsPort = await freePort();
    const pebble = await startPebble(dir, { httpPort, tlsPort, dnsServer: dns.server, validitySeconds: 9 });
    const gw = createGateway({
      logging: { level: "fatal" },
      listeners: [
        { address: `127.0.0.1:${httpPort}` },
        { address: `127.0.0.1:${tlsPort}`, tls: { acme: { directory: pebble.directory, termsOfServiceAgreed: true, caCertificate: pebble.tlsCa, hosts: ["short.example.com"], storage: { type: "file", path: join(dir, "storage") } } } },
      ],
      routers: {},
    });
    try {
      await gw.listen();
      const root = await pebble.root();
      await eventually("the first certificate is served", async () => (await tlsGet(tlsPort, "short.example.com", root)).authorized);
      const first = await tlsGet(tlsPort, "short.example.com", root);
      await eventually("a renewed certificate is served", async () => (await tlsGet(tlsPort, "short.example.com", root)).fingerprint !== first.fingerprint, 30_000);
      const renewed = await tlsGet(tlsPort, "short.example.com", root);
      assert.ok(renewed.authorized, "the renewed certificate chains to pebble's root");
      assert.ok(renewed.notAfter > first.notAfter, "it expires later than the first");
      assert.ok(first.notAfter > Date.now() - 1000, "the first was replaced before it expired");
      assert.ok((sample(await gw.metrics(), "divisor_acme_renewals_total") ?? 0) >= 1, "the renewal is counted");
    } finally {
      await gw.close({ gracePeriodMs: 200 });
      await pebble.stop();
      await dns.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
