import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { eventually, tlsGet } from "../helpers/acme.js";
import { exited, startBuilt } from "../helpers/cli.js";
import { startDns } from "../helpers/dns.js";
import { freePort } from "../helpers/net.js";
import { startPebble } from "../helpers/pebble.js";

test("the built divisor command gets a certificate from pebble for a configured host and serves it (acme-client loaded from outside the bundle)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "divisor-cli-acme-"));
  const dns = await startDns({ anyName: "127.0.0.1" });
  const httpPort = await freePort();
  const tlsPort = await freePort();
  const pebble = await startPebble(dir, { httpPort, tlsPort, dnsServer: dns.server });
  const file = join(dir, "divisor.yaml");
  writeFileSync(join(dir, "pebble-ca.pem"), pebble.tlsCa);
  writeFileSync(
    file,
    stringify({
      logging: { level: "warn" },
      listeners: [
        { address: `127.0.0.1:${httpPort}` },
        {
          address: `127.0.0.1:${tlsPort}`,
          tls: { acme: { directory: pebble.directory, termsOfServiceAgreed: true, caCertificate: join(dir, "pebble-ca.pem"), hosts: ["cli.example.com"], storage: { type: "file", path: join(dir, "acme") } } },
        },
      ],
      routers: {},
    }),
  );
  const { child, logs } = startBuilt(["-c", file]);
  try {
    const root = await pebble.root();
    await eventually("the certificate is served", async () => (await tlsGet(tlsPort, "cli.example.com", root).catch(() => null))?.authorized === true);
    const served = await tlsGet(tlsPort, "cli.example.com", root);
    assert.equal(served.subjectAltName, "DNS:cli.example.com", `it names the host (${logs()})`);
  } finally {
    child.kill("SIGTERM");
    await exited(child);
    await pebble.stop();
    await dns.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
