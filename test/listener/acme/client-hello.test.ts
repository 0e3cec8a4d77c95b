import assert from "node:assert/strict";
import net from "node:net";
import { describe, test } from "node:test";
import tls from "node:tls";
import { parseClientHello } from "../../../src/listener/acme/client-hello.js";

/** The first bytes a real Node TLS client sends (its ClientHello), captured by a plain TCP server. */
async function captureHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const { port } = server.address() as net.AddressInfo;
  const got = new Promise<Buffer>((resolve) =>
    server.once("connection", (s) => {
      let buf = Buffer.alloc(0);
      s.on("data", (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        // A hello is one record here; wait for all of it.
        if (buf.length >= 5 && buf.length >= 5 + buf.readUInt16BE(3)) {
          resolve(buf);
          s.destroy();
        }
      });
    }),
  );
  const client = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false, ...options });
  client.on("error", () => {});
  const hello = await got;
  client.destroy();
  await new Promise<void>((r) => server.close(() => r()));
  return hello;
}

describe("ClientHello peek (server name and ALPN, before the TLS server sees the bytes)", () => {
  test("reads the server name and every ALPN protocol a real Node client offers", async () => {
    const hello = await captureHello({ servername: "Shop.Example.com", ALPNProtocols: ["acme-tls/1", "http/1.1"] });
    assert.deepEqual(parseClientHello(hello), { servername: "shop.example.com", alpn: ["acme-tls/1", "http/1.1"] }, "name lowercased, protocols in order");
  });

  test("a hello without SNI or ALPN gives null and an empty list", async () => {
    const hello = await captureHello({ servername: "" });
    assert.deepEqual(parseClientHello(hello), { servername: null, alpn: [] }, "nothing offered");
  });

  test("asks for more bytes until the whole hello has arrived, byte by byte", async () => {
    const hello = await captureHello({ servername: "a.example.com", ALPNProtocols: ["acme-tls/1"] });
    for (let i = 0; i < hello.length; i++) assert.equal(parseClientHello(hello.subarray(0, i)), null, `incomplete at ${i} bytes`);
    assert.deepEqual(parseClientHello(hello), { servername: "a.example.com", alpn: ["acme-tls/1"] }, "complete");
  });

  test("a hello split over two TLS records is put back together", async () => {
    const hello = await captureHello({ servername: "split.example.com", ALPNProtocols: ["acme-tls/1"] });
    const body = hello.subarray(5);
    const cut = 40;
    const record = (b: Buffer) => Buffer.concat([Buffer.from([22, 3, 1, b.length >> 8, b.length & 0xff]), b]);
    const twoRecords = Buffer.concat([record(body.subarray(0, cut)), record(body.subarray(cut))]);
    assert.deepEqual(parseClientHello(twoRecords), { servername: "split.example.com", alpn: ["acme-tls/1"] }, "read across records");
  });

  test("bytes that are not a TLS handshake are handed on untouched as 'other'", () => {
    assert.equal(parseClientHello(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n")), "other", "plain HTTP on the TLS port");
    assert.equal(parseClientHello(Buffer.from([22, 3, 1, 0, 6, 2, 0, 0, 2, 0, 0])), "other", "a handshake that is not a ClientHello");
    assert.equal(parseClientHello(Buffer.from([22, 3, 1, 0, 8, 1, 0, 0, 4, 3, 3, 0, 0])), "other", "a truncated hello body");
  });
});
