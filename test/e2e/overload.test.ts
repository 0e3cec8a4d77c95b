import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RawClient, get, startBackend, startGateway } from "../helpers/net.js";

describe("overload protection", () => {
  test("a service's in-flight limit queues requests, then answers 503 with Retry-After when the queue is full", async () => {
    let inFlight = 0;
    let peak = 0;
    const backend = await startBackend((_req, res) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      setTimeout(() => {
        inFlight--;
        res.end("ok");
      }, 150);
    });
    const gw = await startGateway({
      services: { app: { backends: [backend.address], limits: { maxInFlight: 2, queueSize: 2, queueTimeout: "2s" } } },
      routers: { all: { service: "app" } },
    });
    try {
      const results = await Promise.all(Array.from({ length: 5 }, (_, i) => get(`${gw.url}/${i}`, { agent: false })));
      const ok = results.filter((r) => r.status === 200);
      const rejected = results.filter((r) => r.status === 503);
      assert.equal(ok.length, 4, "two in flight and two queued are served");
      assert.equal(rejected.length, 1);
      assert.equal(rejected[0]!.headers["retry-after"], "1");
      assert.match(rejected[0]!.body, /limit of 2 requests in flight/);
      assert.equal(peak, 2);
    } finally {
      await gw.close();
      await backend.close();
    }
  });

  test("a queued request that gets no slot within queueTimeout is answered 503", async () => {
    const backend = await startBackend((_req, res) => {
      setTimeout(() => res.end("slow"), 800);
    });
    const gw = await startGateway({
      services: { app: { backends: [backend.address], limits: { maxInFlight: 1, queueTimeout: "150ms" } } },
      routers: { all: { service: "app" } },
    });
    try {
      const [first, second] = await Promise.all([get(`${gw.url}/a`, { agent: false }), get(`${gw.url}/b`, { agent: false })]);
      assert.equal(first!.status, 200);
      assert.equal(second!.status, 503);
      assert.match(second!.body, /no slot freed up in time/);
    } finally {
      await gw.close();
      await backend.close();
    }
  });

  test("a router's maxBodySize answers 413 at once for a declared length and mid-stream for chunked bodies", async () => {
    let reached = 0;
    const backend = await startBackend((req, res) => {
      reached++;
      let n = 0;
      req.on("data", (c: Buffer) => {
        n += c.length;
      });
      req.on("end", () => res.end(String(n)));
    });
    const gw = await startGateway({
      services: { app: { backends: [backend.address] } },
      routers: { all: { service: "app", maxBodySize: "1KiB" } },
    });
    try {
      assert.equal((await get(`${gw.url}/`, { method: "POST" }, "x".repeat(1024))).body, "1024");
      const declared = await get(`${gw.url}/`, { method: "POST", headers: { "content-length": "2048" } }, "x".repeat(2048));
      assert.equal(declared.status, 413);
      assert.match(declared.body, /limit of 1024 bytes/);
      assert.equal(reached, 1, "the backend saw the oversized request");

      const client = new RawClient(gw.port);
      await client.ready;
      client.write(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n${"y".repeat(1024)}\r\n`);
      await new Promise((r) => setTimeout(r, 30));
      client.write(`10\r\n${"z".repeat(16)}\r\n0\r\n\r\n`);
      const text = await client.waitClosed();
      assert.match(text, /^HTTP\/1.1 413 /);
    } finally {
      await gw.close();
      await backend.close();
    }
  });
});
