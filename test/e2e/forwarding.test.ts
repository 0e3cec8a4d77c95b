import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, describe, test } from "node:test";
import { definePlugin } from "../../src/index.js";
import { RawClient, get, simpleConfig, startBackend, startGateway, type TestBackend } from "../helpers/net.js";

describe("forwarding headers and Host", () => {
  let backend: TestBackend;
  const echo: http.RequestListener = (req, res) => {
    res.setHeader("x-seen", "1");
    res.end(JSON.stringify(req.headers));
  };
  before(async () => {
    backend = await startBackend(echo);
  });
  after(async () => {
    await backend.close();
  });

  test("a trusted proxy's X-Forwarded-* are kept and extended, and the client IP comes from them", async () => {
    const clientIp = definePlugin({
      name: "client-ip",
      create: () => ({
        onUpstreamRequest(ex, head) {
          head.headers.set("x-client-ip", ex.request.clientIp);
        },
      }),
    });
    const gw = await startGateway(
      {
        services: { app: { backends: [backend.address] } },
        middlewares: { ip: { type: "plugin", plugin: "client-ip" } },
        routers: { all: { service: "app", middlewares: ["ip"] } },
        proxy: { trustedProxies: ["127.0.0.0/8", "10.0.0.0/8"] },
      },
      [clientIp],
    );
    try {
      const seen = JSON.parse(
        (
          await get(`${gw.url}/`, {
            headers: { host: "api.example.com", "x-forwarded-for": "203.0.113.7, 10.1.1.1", "x-forwarded-proto": "https", "x-forwarded-host": "public.example.com" },
          })
        ).body,
      );
      assert.equal(seen["x-forwarded-for"], "203.0.113.7, 10.1.1.1, 127.0.0.1");
      assert.equal(seen["x-forwarded-proto"], "https");
      assert.equal(seen["x-forwarded-host"], "public.example.com");
      // 10.1.1.1 is a trusted proxy too, so the client is the next hop to the left.
      assert.equal(seen["x-client-ip"], "203.0.113.7");
    } finally {
      await gw.close();
    }
  });

  test("an untrusted peer's X-Forwarded-* and Forwarded are replaced", async () => {
    const gw = await startGateway({ ...simpleConfig([backend.address]), proxy: { trustedProxies: ["10.0.0.0/8"], forwarded: true } });
    try {
      const seen = JSON.parse(
        (
          await get(`${gw.url}/`, {
            headers: { host: "api.example.com", "x-forwarded-for": "6.6.6.6", "x-forwarded-proto": "https", forwarded: "for=6.6.6.6" },
          })
        ).body,
      );
      assert.equal(seen["x-forwarded-for"], "127.0.0.1");
      assert.equal(seen["x-forwarded-proto"], "http");
      assert.equal(seen.forwarded, 'for=127.0.0.1;proto=http;host="api.example.com"');
    } finally {
      await gw.close();
    }
  });

  test("forwarding headers can be turned off, and Via added on both sides", async () => {
    const gw = await startGateway({ ...simpleConfig([backend.address]), proxy: { forwardedHeaders: false, via: "divisor" } });
    try {
      const res = await get(`${gw.url}/`, { headers: { "x-forwarded-for": "1.2.3.4" } });
      const seen = JSON.parse(res.body);
      // Off means "not ours to manage": what the client sent passes through untouched.
      assert.equal(seen["x-forwarded-for"], "1.2.3.4");
      assert.equal(seen["x-forwarded-proto"], undefined);
      assert.equal(seen.via, "1.1 divisor");
      assert.equal(res.headers.via, "1.1 divisor");
    } finally {
      await gw.close();
    }
  });

  test("preserveHost: false sends the backend's address as Host", async () => {
    const gw = await startGateway(simpleConfig([backend.address], { preserveHost: false }));
    try {
      const seen = JSON.parse((await get(`${gw.url}/`, { headers: { host: "api.example.com" } })).body);
      assert.equal(seen.host, backend.address);
      assert.equal(seen["x-forwarded-host"], "api.example.com");
    } finally {
      await gw.close();
    }
  });

  test("an HTTP/1.0 request without Host gets the backend's address as Host and a keep-alive answer when asked", async () => {
    const gw = await startGateway(simpleConfig([backend.address]));
    try {
      const client = new RawClient(gw.port);
      await client.ready;
      client.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
      const text = await client.waitFor((t) => t.endsWith("}"));
      assert.match(text, /^HTTP\/1.1 200 /);
      assert.match(text, /Connection: keep-alive/i);
      const seen = JSON.parse(text.slice(text.indexOf("{")));
      assert.equal(seen.host, backend.address);
      client.write("GET / HTTP/1.0\r\n\r\n");
      await client.waitClosed();
    } finally {
      await gw.close();
    }
  });

  test("a request with Connection: close gets Connection: close and the connection is closed", async () => {
    const gw = await startGateway(simpleConfig([backend.address]));
    try {
      const client = new RawClient(gw.port);
      await client.ready;
      client.write("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
      const text = await client.waitClosed();
      assert.match(text, /Connection: close/i);
    } finally {
      await gw.close();
    }
  });
});

describe("upstream connection pools", () => {
  test("never open more than pool.maxConnections to a backend; extra requests wait their turn", async () => {
    let open = 0;
    let peak = 0;
    const backend = await startBackend((_req, res) => {
      setTimeout(() => res.end("ok"), 50);
    });
    backend.server.on("connection", (s) => {
      open++;
      peak = Math.max(peak, open);
      s.on("close", () => open--);
    });
    const gw = await startGateway(simpleConfig([backend.address], { pool: { maxConnections: 2 } }));
    try {
      const results = await Promise.all(Array.from({ length: 8 }, () => get(`${gw.url}/`, { agent: false })));
      assert.deepEqual(
        results.map((r) => r.status),
        Array(8).fill(200),
      );
      assert.equal(peak, 2);
    } finally {
      await gw.close();
      await backend.close();
    }
  });

  test("answer 503 when every pooled connection stays busy past the connect timeout", async () => {
    const backend = await startBackend((_req, res) => {
      setTimeout(() => res.end("slow"), 1500);
    });
    const gw = await startGateway(simpleConfig([backend.address], { pool: { maxConnections: 1 }, timeouts: { connect: "200ms" } }));
    try {
      const [first, second] = await Promise.all([get(`${gw.url}/a`, { agent: false }), get(`${gw.url}/b`, { agent: false })]);
      assert.equal(first!.status, 200);
      assert.equal(second!.status, 503);
      assert.match(second!.body, /every connection to the backend is busy/);
    } finally {
      await gw.close();
      await backend.close();
    }
  });

  test("close idle upstream connections after pool.idleTimeout", async () => {
    let closed = 0;
    const backend = await startBackend((_req, res) => res.end("ok"));
    backend.server.on("connection", (s) => s.on("close", () => closed++));
    const gw = await startGateway(simpleConfig([backend.address], { pool: { idleTimeout: "200ms" } }));
    try {
      await get(`${gw.url}/`);
      assert.equal(closed, 0);
      const deadline = Date.now() + 3000;
      while (closed === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      assert.equal(closed, 1);
    } finally {
      await gw.close();
      await backend.close();
    }
  });
});
