import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import tls from "node:tls";
import { exited, runBuilt, startBuilt, until } from "../helpers/cli.js";
import { type IssuedCertificate, TestCa } from "../helpers/certs.js";
import { freePort, startBackend, type TestBackend } from "../helpers/net.js";
import { workerPids } from "../helpers/process.js";

let dir: string;
let ca: TestCa;
let leaf: IssuedCertificate;
let backend: TestBackend;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "divisor-tls-cli-"));
  ca = new TestCa();
  leaf = ca.issue(["secure.example.test"], "secure");
  backend = await startBackend((_req, res) => res.end(`pid ${process.pid}`));
});
after(async () => {
  await backend.close();
  ca.close();
  rmSync(dir, { recursive: true, force: true });
});

/** One TLS 1.2 handshake (tickets are the resumption TLS 1.2 and 1.3 share); resolves with the session and whether it was resumed. */
function connect(port: number, session?: Buffer): Promise<{ session: Buffer; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername: "secure.example.test", ca: ca.caPem, maxVersion: "TLSv1.2", session }, () => {
      const reused = s.isSessionReused();
      const got = s.getSession();
      s.end();
      resolve({ session: got ?? session!, reused });
    });
    s.once("error", reject);
  });
}

test("divisor validate reads every certificate: a missing file fails with its path in the document and exit 1", async () => {
  const file = join(dir, "bad.yaml");
  writeFileSync(file, `listeners: [{ address: "127.0.0.1:0", tls: { certificates: [{ cert: "${join(dir, "nope.pem")}", key: "${leaf.key}" }] } }]\n`);
  const res = await runBuilt(["validate", "-c", file]);
  assert.equal(res.code, 1, res.out + res.err);
  assert.match(res.err, /listeners\[0\]\.tls\.certificates\[0\]\.cert/);
  assert.match(res.err, /no such file: .*nope\.pem/);
  const good = join(dir, "good.yaml");
  writeFileSync(good, `listeners: [{ address: "127.0.0.1:0", tls: { certificates: [{ cert: "${leaf.cert}", key: "${leaf.key}" }] } }]\n`);
  assert.equal((await runBuilt(["validate", "-c", good])).code, 0);
});

test("with --workers 2 an HTTPS listener serves from both workers and a TLS session resumes on either of them", async () => {
  const port = await freePort();
  const file = join(dir, "workers.yaml");
  writeFileSync(
    file,
    [
      `listeners: [{ address: "127.0.0.1:${port}", tls: { certificates: [{ cert: "${leaf.cert}", key: "${leaf.key}" }] } }]`,
      `services: { app: { backends: ["${backend.address}"] } }`,
      "routers: { all: { service: app } }",
    ].join("\n"),
  );
  const { child, logs } = startBuilt(["-c", file, "--workers", "2"]);
  try {
    await until(() => workerPids(logs()).length === 2 && (logs().match(/gateway started/g) ?? []).length === 2, "two workers to start");
    const first = await connect(port);
    assert.equal(first.reused, false);
    // Connections are spread over the workers: each must resume the session the first one issued.
    const resumed = await Promise.all(Array.from({ length: 20 }, () => connect(port, first.session)));
    assert.deepEqual(
      resumed.map((r) => r.reused),
      Array(20).fill(true),
    );
    const res = await fetchOverTls(port);
    assert.equal(res, `pid ${process.pid}`);
  } finally {
    child.kill("SIGTERM");
    await exited(child);
  }
});

function fetchOverTls(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername: "secure.example.test", ca: ca.caPem }, () => {
      s.write("GET / HTTP/1.1\r\nHost: secure.example.test\r\nConnection: close\r\n\r\n");
    });
    let out = "";
    s.on("data", (d) => (out += d));
    s.on("end", () => resolve(out.slice(out.indexOf("\r\n\r\n") + 4)));
    s.once("error", reject);
  });
}
