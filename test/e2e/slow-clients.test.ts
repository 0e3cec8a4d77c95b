import assert from "node:assert/strict";
import net from "node:net";
import { test } from "node:test";
import { simpleConfig, startBackend, startGatewayProcess } from "../helpers/net.js";

const MB = 1024 * 1024;

test("1,000 slow clients of 2 MB responses keep the gateway's memory flat, and all complete once they read", async () => {
  const body = Buffer.alloc(2 * MB, 0x61);
  const backend = await startBackend((_req, res) => {
    res.writeHead(200, { "content-length": String(body.length) });
    res.end(body);
  });
  const gw = await startGatewayProcess({ listeners: [{ address: "127.0.0.1:0" }], ...simpleConfig([backend.address]) });
  const clients: net.Socket[] = [];
  try {
    gw.resetPeak();
    const base = gw.rss();
    const received = new Array<number>(1000).fill(0);
    // Each client sends its request and then does not read: the kernel's buffers fill
    // and backpressure must reach the backend instead of piling up in the gateway.
    for (let i = 0; i < 1000; i++) {
      const socket = net.connect(gw.port, "127.0.0.1");
      socket.pause();
      socket.on("data", (c: Buffer) => {
        received[i]! += c.length;
      });
      socket.on("error", () => {});
      socket.write("GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      clients.push(socket);
    }
    await new Promise((r) => setTimeout(r, 2000));
    const growthMb = (gw.peakRss() - base) / MB;
    // Buffering the responses would take 2 GB; with backpressure it grew ~33 MB here.
    assert.ok(growthMb < 150, `the gateway's RSS grew ${growthMb.toFixed(0)} MB with 1,000 stalled 2 MB responses`);

    for (const s of clients) s.resume();
    const deadline = Date.now() + 60_000;
    const headSize = (i: number) => received[i]! - body.length;
    while (received.some((_, i) => headSize(i) <= 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      received.every((_, i) => headSize(i) > 0 && headSize(i) < 1024),
      "every client received its whole response",
    );
  } finally {
    for (const s of clients) s.destroy();
    await gw.close();
    await backend.close();
  }
});
