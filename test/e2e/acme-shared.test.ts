import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { eventually, sample, tlsGet } from "../helpers/acme.js";
import { startDns, type TestDns } from "../helpers/dns.js";
import { startEtcd, type TestEtcd } from "../helpers/etcd.js";
import { freePort } from "../helpers/net.js";
import { startPebble, type TestPebble } from "../helpers/pebble.js";
import { kill, startRedis } from "../helpers/redis.js";

type Storage = NonNullable<NonNullable<NonNullable<DivisorConfigInput["listeners"]>[number]["tls"]>["acme"]>["storage"];

/** Orders issued, as a gateway's metrics count them. */
function issued(text: string): number {
  return sample(text, "divisor_acme_orders_total", 'result="issued"') ?? 0;
}

describe("ACME with shared storage: two gateways, one pebble, one order per name (real redis-server and etcd)", () => {
  let dir: string;
  let dns: TestDns;
  let pebble: TestPebble;
  let root: string;
  let redis: ChildProcess;
  let redisPort: number;
  let etcd: TestEtcd;
  // Pebble validates at gateway A's ports; gateway B has its own, so B's orders are validated by A answering from the storage.
  const ports = { aHttp: 0, aTls: 0 };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-acme-shared-"));
    dns = await startDns({ anyName: "127.0.0.1" });
    ports.aHttp = await freePort();
    ports.aTls = await freePort();
    pebble = await startPebble(dir, { httpPort: ports.aHttp, tlsPort: ports.aTls, dnsServer: dns.server });
    root = await pebble.root();
    redisPort = await freePort();
    redis = await startRedis(dir, redisPort);
    etcd = await startEtcd(join(dir, "etcd"));
  });

  after(async () => {
    await kill(redis);
    await etcd.stop();
    await pebble.stop();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function twoGateways(name: string, storage: Storage): Promise<void> {
    const bHttp = await freePort();
    const bTls = await freePort();
    const make = (http: number, tls: number): Gateway =>
      createGateway({
        logging: { level: "fatal" },
        listeners: [
          { address: `127.0.0.1:${http}` },
          { address: `127.0.0.1:${tls}`, tls: { acme: { directory: pebble.directory, termsOfServiceAgreed: true, caCertificate: pebble.tlsCa, hosts: [name], storage } } },
        ],
        routers: {},
      });
    const a = make(ports.aHttp, ports.aTls);
    const b = make(bHttp, bTls);
    try {
      await Promise.all([a.listen(), b.listen()]);
      await eventually("both gateways serve the certificate", async () => (await tlsGet(ports.aTls, name, root)).authorized && (await tlsGet(bTls, name, root)).authorized);
      const [fa, fb] = [await tlsGet(ports.aTls, name, root), await tlsGet(bTls, name, root)];
      assert.equal(fa.fingerprint, fb.fingerprint, "both serve the same certificate");
      assert.equal(fa.subjectAltName, `DNS:${name}`, "it names the host");
      assert.equal(issued(await a.metrics()) + issued(await b.metrics()), 1, "one order was made between them");
    } finally {
      await Promise.all([a.close({ gracePeriodMs: 200 }), b.close({ gracePeriodMs: 200 })]);
    }
  }

  test("sharing Redis (SET NX PX lock), only one gateway orders; the other loads the certificate from Redis", async () => {
    await twoGateways("redis.example.com", { type: "redis", url: `redis://127.0.0.1:${redisPort}`, keyPrefix: "acme-test:" });
  });

  test("sharing etcd (a lock on a lease), only one gateway orders; the other loads the certificate from etcd", async () => {
    await twoGateways("etcd.example.com", { type: "etcd", endpoints: [etcd.endpoint], prefix: "/acme-test/" });
  });

  test("a certificate in Redis from an earlier gateway is served by a new one without an order", async () => {
    const http = await freePort();
    const tls = await freePort();
    const gw = createGateway({
      logging: { level: "fatal" },
      listeners: [
        { address: `127.0.0.1:${http}` },
        { address: `127.0.0.1:${tls}`, tls: { acme: { directory: pebble.directory, termsOfServiceAgreed: true, caCertificate: pebble.tlsCa, hosts: ["redis.example.com"], storage: { type: "redis", url: `redis://127.0.0.1:${redisPort}`, keyPrefix: "acme-test:" } } } },
      ],
      routers: {},
    });
    try {
      await gw.listen();
      await eventually("the stored certificate is served", async () => (await tlsGet(tls, "redis.example.com", root)).authorized);
      assert.equal(issued(await gw.metrics()), 0, "no order was made");
    } finally {
      await gw.close({ gracePeriodMs: 200 });
    }
  });
});
