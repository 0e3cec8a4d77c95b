import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { ConfigError } from "../../src/errors.js";
import tls from "node:tls";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { TestCa } from "../helpers/certs.js";

interface EchoServer {
  address: string;
  name: string;
  server: net.Server;
  close(): Promise<void>;
}

/** A TCP server that greets with its name, echoes every byte, and answers a FIN with "bye" then its own FIN. */
async function echo(name: string): Promise<EchoServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.write(`${name}:`);
    s.on("data", (d) => s.write(d));
    s.on("end", () => s.end("bye"));
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    name,
    server,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Connect, send `data`, half-close, and collect everything until the gateway closes. */
function exchange(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true }, () => {
      s.write(data);
      s.end();
    });
    let out = "";
    s.on("data", (d) => (out += d));
    s.on("close", () => resolve(out));
    s.on("error", reject);
  });
}

describe("TCP (L4) listeners: connections balanced over a service's backends, bytes copied both ways", () => {
  let a: EchoServer;
  let b: EchoServer;
  let gw: Gateway;
  let port: number;

  before(async () => {
    a = await echo("a");
    b = await echo("b");
    gw = createGateway({
      listeners: [
        { address: "127.0.0.1:0", name: "http" },
        { address: "127.0.0.1:0", name: "db", tcp: { service: "db", idleTimeout: 300 } },
      ],
      services: {
        db: { backends: [a.address, b.address], balancer: { algorithm: "round-robin" }, retries: { attempts: 1 } },
      },
    });
    const bound = await gw.listen();
    port = bound.find((l) => l.name === "db")!.port;
  });
  after(async () => {
    await gw?.close({ gracePeriodMs: 200 });
    await a?.close();
    await b?.close();
  });

  test("each connection reaches a backend, round-robin, with bytes both ways and the half-close passed through", async () => {
    const answers = await Promise.all([exchange(port, "hello"), exchange(port, "hello")]);
    assert.deepEqual(answers.sort(), ["a:hellobye", "b:hellobye"]);
    // A megabyte each way, byte-exact.
    const big = "x".repeat(1 << 20);
    const out = await exchange(port, big);
    assert.ok(out === `a:${big}bye` || out === `b:${big}bye`, `got ${out.length} bytes`);
  });

  test("a backend that refuses connections is retried on another, and counted", async () => {
    await b.close();
    const answers = await Promise.all([exchange(port, "1"), exchange(port, "2"), exchange(port, "3"), exchange(port, "4")]);
    for (const x of answers) assert.match(x, /^a:\dbye$/);
    const m = await gw.metrics();
    assert.match(m, new RegExp(`divisor_upstream_errors_total\\{service="db",backend="${b.address}",kind="connect-refused"\\} [1-9]`));
    assert.match(m, /divisor_tcp_connections_total\{listener="db",result="proxied"\} [1-9]/);
    assert.match(m, /divisor_tcp_received_bytes_total\{listener="db"\} [1-9]/);
  });

  test("a tunnel with no bytes for idleTimeout is closed", async () => {
    const started = Date.now();
    const got = await new Promise<string>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      let out = "";
      s.on("data", (d) => (out += d));
      s.on("close", () => resolve(out));
      s.on("error", () => {});
    });
    assert.match(got, /^a:$/);
    const took = Date.now() - started;
    assert.ok(took >= 250 && took < 3000, `closed after ${took} ms`);
  });

  test("with no backend left the client's connection is closed and counted as failed; the listener goes on", async () => {
    await a.close();
    assert.equal(await exchange(port, "x"), "");
    assert.match(await gw.metrics(), /divisor_tcp_connections_total\{listener="db",result="failed"\} [1-9]/);
  });

  test("with tls the listener terminates TLS and copies the plaintext to the backend", async () => {
    const ca = new TestCa();
    const leaf = ca.issue(["db.example.test"], "db");
    const c = await echo("c");
    const secure = createGateway({
      listeners: [{ address: "127.0.0.1:0", tcp: { service: "db" }, tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } }],
      services: { db: { backends: [c.address] } },
    });
    const [{ port: tlsPort }] = (await secure.listen()) as unknown as [{ port: number }];
    try {
      const got = await new Promise<string>((resolve, reject) => {
        const s = tls.connect({ port: tlsPort, host: "127.0.0.1", servername: "db.example.test", ca: ca.caPem }, () => s.write("over tls"));
        let out = "";
        s.on("data", (d) => {
          out += d;
          if (out === "c:over tls") s.end();
        });
        s.on("close", () => resolve(out));
        s.on("error", reject);
      });
      assert.match(got, /^c:over tls/);
    } finally {
      await secure.close({ gracePeriodMs: 100 });
      await c.close();
      ca.close();
    }
  });

  test("a TCP listener naming an unknown service is a config error with the path", () => {
    assert.throws(
      () => createGateway({ listeners: [{ address: "127.0.0.1:0", tcp: { service: "dbb" } }], services: { db: { backends: ["127.0.0.1:1"] } } }),
      (e: unknown) => e instanceof ConfigError && e.issues.some((i) => i.path === "listeners[0].tcp.service" && /unknown service "dbb" \(did you mean "db"\?\)/.test(i.message)),
    );
  });
});
