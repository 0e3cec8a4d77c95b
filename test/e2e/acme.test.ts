import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { adminGatewayOf, createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { eventually, tlsGet } from "../helpers/acme.js";
import { startDnsServer, type TestDnsServer } from "../helpers/dns-server.js";
import { freePort, startBackend, type TestBackend } from "../helpers/net.js";
import { startPebble, type TestPebble } from "../helpers/pebble.js";

type AcmeInput = NonNullable<NonNullable<DivisorConfigInput["listeners"]>[number]["tls"]>["acme"];

describe("ACME against a real pebble: certificates issued, served, stored and renewed", () => {
  let dir: string;
  let dns: TestDnsServer;
  let pebble: TestPebble;
  let backend: TestBackend;
  let httpPort: number;
  let tlsPort: number;
  let root: string;
  const gateways: Gateway[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-acme-"));
    dns = await startDnsServer();
    httpPort = await freePort();
    tlsPort = await freePort();
    pebble = await startPebble(dir, { httpPort, tlsPort, dnsServer: dns.address });
    root = await pebble.root();
    backend = await startBackend((req, res) => res.end(`backend saw ${req.headers.host}`));
  });

  after(async () => {
    for (const g of gateways) await g.close({ gracePeriodMs: 200 });
    await backend.close();
    await pebble.stop();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function acme(extra: Partial<NonNullable<AcmeInput>> & { storage?: NonNullable<AcmeInput>["storage"] }): NonNullable<AcmeInput> {
    return { directory: pebble.directory, termsOfServiceAgreed: true, caCertificate: pebble.tlsCa, storage: { type: "file", path: join(dir, "storage") }, ...extra } as NonNullable<AcmeInput>;
  }

  async function start(acmeConfig: NonNullable<AcmeInput>): Promise<Gateway> {
    const gw = createGateway({
      logging: { level: "error" },
      listeners: [{ address: `127.0.0.1:${httpPort}` }, { address: `127.0.0.1:${tlsPort}`, tls: { acme: acmeConfig } }],
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app" } },
    });
    gateways.push(gw);
    await gw.listen();
    return gw;
  }

  async function stop(gw: Gateway): Promise<void> {
    await gw.close({ gracePeriodMs: 200 });
    gateways.splice(gateways.indexOf(gw), 1);
  }

  test("a configured host gets a certificate over HTTP-01 that chains to pebble's root, names the host, and is served", async () => {
    const gw = await start(acme({ hosts: ["shop.example.com"], storage: { type: "file", path: join(dir, "http01") } }));
    await eventually("the certificate is served", async () => (await tlsGet(tlsPort, "shop.example.com", root)).authorized);
    const served = await tlsGet(tlsPort, "shop.example.com", root);
    assert.equal(served.subjectAltName, "DNS:shop.example.com", "the certificate names the host");
    assert.match(served.response, /^HTTP\/1\.1 200[\s\S]*backend saw shop\.example\.com/, "the request went through to the backend over the issued certificate");
    assert.match(await gw.metrics(), /divisor_acme_orders_total\{listener="127\.0\.0\.1:\d+",result="issued"\} 1/, "one order issued");
    await stop(gw);
  });
});
