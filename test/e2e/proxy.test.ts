import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { RawClient, get, simpleConfig, startBackend, startGateway, statusLines, type TestBackend, type TestGateway } from "../helpers/net.js";

describe("proxying over keep-alive connections", () => {
  let a: TestBackend;
  let b: TestBackend;
  let gw: TestGateway;
  before(async () => {
    const echo = (name: string): http.RequestListener =>
      (req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          res.setHeader("x-backend", name);
          res.end(JSON.stringify({ name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
        });
      };
    a = await startBackend(echo("a"));
    b = await startBackend(echo("b"));
    gw = await startGateway(simpleConfig([a.address, b.address]));
  });
  after(async () => {
    await gw.close();
    await a.close();
    await b.close();
  });

  test("spreads GETs round-robin over the backends", async () => {
    const names: string[] = [];
    for (let i = 0; i < 6; i++) names.push((await get(`${gw.url}/x`)).headers["x-backend"] as string);
    assert.deepEqual(names.sort(), ["a", "a", "a", "b", "b", "b"]);
  });

  test("reuses upstream connections across requests", async () => {
    const before = a.connections + b.connections;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 20; i++) await get(`${gw.url}/reuse`, { agent });
    agent.destroy();
    assert.ok(a.connections + b.connections - before <= 2, `opened ${a.connections + b.connections - before} upstream connections for 20 requests`);
  });

  test("passes method, path, query and body through unchanged", async () => {
    const res = await get(`${gw.url}/p/a?x=1&y=%20`, { method: "POST", headers: { "content-type": "text/plain" } }, "hello body");
    const seen = JSON.parse(res.body);
    assert.equal(seen.method, "POST");
    assert.equal(seen.url, "/p/a?x=1&y=%20");
    assert.equal(seen.body, "hello body");
  });

  test("preserves Host and sets X-Forwarded-For/-Proto/-Host", async () => {
    const res = await get(`${gw.url}/h`, { headers: { host: "shop.example.com", "x-forwarded-for": "6.6.6.6" } });
    const seen = JSON.parse(res.body);
    assert.equal(seen.headers.host, "shop.example.com");
    // The peer is not a trusted proxy, so its X-Forwarded-For is replaced, not extended.
    assert.equal(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert.equal(seen.headers["x-forwarded-proto"], "http");
    assert.equal(seen.headers["x-forwarded-host"], "shop.example.com");
  });

  test("removes hop-by-hop headers and the headers named in Connection", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write(
      "GET /hop HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, x-secret\r\nKeep-Alive: timeout=5\r\nX-Secret: s\r\nTE: trailers\r\nProxy-Connection: keep-alive\r\nX-Kept: yes\r\n\r\n",
    );
    const text = await client.waitFor((t) => t.includes("}"));
    client.destroy();
    const seen = JSON.parse(text.slice(text.indexOf("{")));
    assert.equal(seen.headers["x-kept"], "yes");
    for (const h of ["x-secret", "keep-alive", "te", "proxy-connection"]) assert.equal(seen.headers[h], undefined, `${h} was forwarded`);
    assert.notEqual(seen.headers.connection, "keep-alive, x-secret");
  });

  test("serves pipelined requests in order on one connection", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\nGET /3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const text = await client.waitClosed();
    assert.equal(statusLines(text).length, 3);
    const urls = [...text.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(urls, ["/1", "/2", "/3"]);
  });

  test("streams a chunked request body and keeps the connection", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    await new Promise((r) => setTimeout(r, 30));
    client.write("6\r\n world\r\n0\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    const text = await client.waitFor((t) => statusLines(t).length === 2 && t.includes('"/after"') && t.endsWith("}"));
    client.destroy();
    assert.match(text, /"body":"hello world"/);
  });

  test("answers HEAD without a body and keeps the connection usable", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const text = await client.waitClosed();
    assert.equal(statusLines(text).length, 2);
    assert.match(text, /"url":"\/next"/);
  });
});

describe("responses with special framing", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startBackend((req, res) => {
      if (req.url === "/204") {
        res.writeHead(204).end();
      } else if (req.url === "/304") {
        res.writeHead(304, { etag: '"x"' }).end();
      } else if (req.url === "/chunked") {
        res.writeHead(200, { "content-type": "text/plain", trailer: "x-sum" });
        res.write("part1-");
        setTimeout(() => {
          res.write("part2");
          res.addTrailers({ "x-sum": "42" });
          res.end();
        }, 20);
      } else if (req.url === "/early-hints") {
        res.writeEarlyHints({ link: "</style.css>; rel=preload" });
        res.end("after hints");
      } else if (req.url === "/close-delimited") {
        // HTTP/1.0-style body: no length, ends when the backend closes.
        req.socket.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil close body");
        req.socket.end();
      } else if (req.url === "/continue") {
        req.resume();
        req.on("end", () => res.end("got it"));
      } else {
        res.end("ok");
      }
    });
    gw = await startGateway(simpleConfig([backend.address]));
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  test("relays 204 and 304 without a body and keeps the connection", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("GET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const text = await client.waitClosed();
    assert.deepEqual(
      statusLines(text).map((l) => l.slice(9, 12)),
      ["204", "304", "200"],
    );
    assert.ok(text.endsWith("ok"));
  });

  test("relays a chunked response with trailers", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("GET /chunked HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n");
    const text = await client.waitClosed();
    assert.match(text, /Transfer-Encoding: chunked/i);
    assert.match(text, /part1-/);
    assert.match(text, /part2/);
    assert.match(text, /x-sum: 42/i);
  });

  test("de-chunks for an HTTP/1.0 client and closes", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("GET /chunked HTTP/1.0\r\nHost: x\r\n\r\n");
    const text = await client.waitClosed();
    const body = text.slice(text.indexOf("\r\n\r\n") + 4);
    assert.equal(body, "part1-part2");
    assert.doesNotMatch(text, /Transfer-Encoding/i);
  });

  test("relays 103 Early Hints before the final response", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("GET /early-hints HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const text = await client.waitClosed();
    assert.deepEqual(
      statusLines(text).map((l) => l.slice(9, 12)),
      ["103", "200"],
    );
    assert.ok(text.endsWith("after hints"));
  });

  test("relays a close-delimited body and closes the client connection after it", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("GET /close-delimited HTTP/1.1\r\nHost: x\r\n\r\n");
    const text = await client.waitClosed();
    assert.ok(text.endsWith("until close body"));
    assert.match(text, /Connection: close/i);
  });

  test("handles Expect: 100-continue", async () => {
    const client = new RawClient(gw.port);
    await client.ready;
    client.write("POST /continue HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n");
    await client.waitFor((t) => t.includes("100 Continue"));
    client.write("hello");
    const text = await client.waitClosed();
    assert.deepEqual(
      statusLines(text).map((l) => l.slice(9, 12)),
      ["100", "200"],
    );
    assert.ok(text.endsWith("got it"));
  });
});
