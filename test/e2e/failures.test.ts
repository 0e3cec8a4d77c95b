import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import { after, before, describe, test } from "node:test";
import { RawClient, freePort, get, simpleConfig, startBackend, startGateway, statusLines, type TestBackend } from "../helpers/net.js";

describe("upstream failures map to 502, 503 and 504 with the cause named", () => {
  let hanging: TestBackend;
  before(async () => {
    hanging = await startBackend(() => {
      // never answers
    });
  });
  after(async () => {
    await hanging.close();
  });

  test("answers 502 when the backend refuses the connection", async () => {
    const gw = await startGateway(simpleConfig([`127.0.0.1:${await freePort()}`]));
    try {
      const res = await get(`${gw.url}/`);
      assert.equal(res.status, 502);
      assert.match(res.body, /refused the connection/);
      assert.match(res.body, /service app/);
    } finally {
      await gw.close();
    }
  });

  test("answers 504 when the backend does not respond within the response timeout", async () => {
    const gw = await startGateway(simpleConfig([hanging.address], { timeouts: { response: "300ms" } }));
    try {
      const res = await get(`${gw.url}/`);
      assert.equal(res.status, 504);
      assert.match(res.body, /did not respond in time/);
    } finally {
      await gw.close();
    }
  });

  test("answers 504 when connecting to the backend times out", async () => {
    // A real listener that never accepts: once its backlog is full the kernel drops
    // further SYNs, so connecting hangs until our connect timeout.
    const py = spawn("python3", [
      "-c",
      "import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)",
    ]);
    const port = await new Promise<number>((resolve) => py.stdout.once("data", (d: Buffer) => resolve(Number(d.toString().trim()))));
    const fillers: net.Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const s = net.connect(port, "127.0.0.1");
        s.on("error", () => {});
        fillers.push(s);
      }
      await new Promise((r) => setTimeout(r, 100));
      const gw = await startGateway(simpleConfig([`127.0.0.1:${port}`], { timeouts: { connect: "300ms" } }));
      try {
        const res = await get(`${gw.url}/`);
        assert.equal(res.status, 504);
        assert.match(res.body, /connecting to the backend timed out/);
      } finally {
        await gw.close();
      }
    } finally {
      for (const s of fillers) s.destroy();
      py.kill();
    }
  });

  test("answers 503 when no backend is available", async () => {
    const gw = await startGateway(simpleConfig([{ address: hanging.address, weight: 0 } as never]));
    try {
      const res = await get(`${gw.url}/`);
      assert.equal(res.status, 503);
      assert.match(res.body, /no backend is available/);
    } finally {
      await gw.close();
    }
  });

  test("answers 502 when the backend sends a malformed response", async () => {
    const bad = net.createServer((s) => s.once("data", () => s.end("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello")));
    await new Promise<void>((resolve) => bad.listen(0, "127.0.0.1", () => resolve()));
    const gw = await startGateway(simpleConfig([`127.0.0.1:${(bad.address() as net.AddressInfo).port}`]));
    try {
      const res = await get(`${gw.url}/`);
      assert.equal(res.status, 502);
      assert.match(res.body, /invalid response/);
    } finally {
      await gw.close();
      bad.close();
    }
  });

  test("answers 404 when no router matches", async () => {
    const gw = await startGateway({
      services: { app: { backends: [hanging.address] } },
      routers: { only: { match: { hosts: ["only.example.com"] }, service: "app" } },
    });
    try {
      const res = await get(`${gw.url}/`, { headers: { host: "other.example.com" } });
      assert.equal(res.status, 404);
    } finally {
      await gw.close();
    }
  });

  test("replays an idempotent request on a fresh connection when a reused one is closed without a response", async () => {
    // The backend drops every connection at its second request, as a backend whose
    // keep-alive timeout just expired does.
    const perSocket = new WeakMap<object, number>();
    let served = 0;
    let dropped = 0;
    const flaky = await startBackend((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      if (n >= 2) {
        dropped++;
        req.socket.destroy();
        return;
      }
      served++;
      res.end("fresh");
    });
    const gw = await startGateway(simpleConfig([flaky.address]));
    try {
      for (let i = 0; i < 5; i++) {
        const res = await get(`${gw.url}/`);
        assert.equal(res.status, 200);
        assert.equal(res.body, "fresh");
      }
      assert.equal(served, 5);
      assert.ok(dropped >= 1, "the test did not exercise a dropped reused connection");
    } finally {
      await gw.close();
      await flaky.close();
    }
  });

  test("does not replay a POST whose reused connection was dropped", async () => {
    const perSocket = new WeakMap<object, number>();
    let posts = 0;
    const flaky = await startBackend((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      if (req.method === "POST") posts++;
      if (n >= 2) {
        req.socket.destroy();
        return;
      }
      req.resume();
      req.on("end", () => res.end("ok"));
    });
    const gw = await startGateway(simpleConfig([flaky.address]));
    try {
      assert.equal((await get(`${gw.url}/`)).status, 200);
      const res = await get(`${gw.url}/`, { method: "POST" }, "data");
      assert.equal(res.status, 502);
      assert.equal(posts, 1);
    } finally {
      await gw.close();
      await flaky.close();
    }
  });
});

describe("client-side limits and timeouts", () => {
  let backend: TestBackend;
  before(async () => {
    backend = await startBackend();
  });
  after(async () => {
    await backend.close();
  });

  test("answers 408 and closes when the head does not arrive within the header timeout", async () => {
    const gw = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ address: "127.0.0.1:0", timeouts: { header: "300ms" } }] });
    try {
      const client = new RawClient(gw.port);
      await client.ready;
      client.write("GET / HTTP/1.1\r\nHost: x\r\n"); // slowloris: never finishes the head
      const text = await client.waitClosed(3000);
      assert.match(text, /^HTTP\/1.1 408 /);
    } finally {
      await gw.close();
    }
  });

  test("answers 408 and closes when a request body stops arriving for the idle timeout", async () => {
    const gw = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ address: "127.0.0.1:0", timeouts: { idle: "300ms" } }] });
    try {
      const client = new RawClient(gw.port);
      await client.ready;
      client.write("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc");
      const text = await client.waitClosed(3000);
      assert.match(text, /^HTTP\/1.1 408 /);
      assert.match(text, /body stopped arriving/);
    } finally {
      await gw.close();
    }
  });

  test("closes an idle keep-alive connection after the idle timeout", async () => {
    const gw = await startGateway({ ...simpleConfig([backend.address]), listeners: [{ address: "127.0.0.1:0", timeouts: { idle: "300ms" } }] });
    try {
      const client = new RawClient(gw.port);
      await client.ready;
      client.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
      await client.waitFor((t) => statusLines(t).length === 1);
      const text = await client.waitClosed(3000);
      assert.equal(statusLines(text).length, 1);
    } finally {
      await gw.close();
    }
  });

  test("answers 431 to an oversized head and 414 to an overlong target", async () => {
    const gw = await startGateway({
      ...simpleConfig([backend.address]),
      listeners: [{ address: "127.0.0.1:0", limits: { maxHeadSize: 2048, maxUrlLength: 512 } }],
    });
    try {
      const big = new RawClient(gw.port);
      await big.ready;
      big.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(4000)}\r\n\r\n`);
      assert.match(await big.waitClosed(), /^HTTP\/1.1 431 /);
      const long = new RawClient(gw.port);
      await long.ready;
      long.write(`GET /${"a".repeat(600)} HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.match(await long.waitClosed(), /^HTTP\/1.1 414 /);
    } finally {
      await gw.close();
    }
  });
});
