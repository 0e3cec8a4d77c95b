/**
 * The plugin through a running Divisor, over real sockets: a node:http backend, the
 * gateway loading the plugin from its source file through the config's `plugins:`,
 * and node:http as the client. Run with `npm test` here, or from Divisor's own suite.
 */
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ConfigError, createGateway, type Gateway } from "divisor";

const PLUGIN_FILE = fileURLToPath(new URL("../src/index.ts", import.meta.url));

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/", headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("the header-rewrite plugin in a running gateway", () => {
  let backend: http.Server;
  let backendPort = 0;
  let gateway: Gateway;
  let port = 0;
  const config = (options: Record<string, unknown> | undefined) => ({
    listeners: [{ address: "127.0.0.1:0" }],
    plugins: [{ name: "header-rewrite", from: PLUGIN_FILE }],
    services: { app: { backends: [`127.0.0.1:${backendPort}`] } },
    middlewares: { rewrite: { type: "plugin" as const, plugin: "header-rewrite", ...(options === undefined ? {} : { options }) } },
    routers: { all: { service: "app", middlewares: ["rewrite"] } },
  });

  before(async () => {
    // Echoes the request headers the plugin set, and sends an x-powered-by for it to remove.
    backend = http.createServer((req, res) => {
      res.setHeader("x-powered-by", "express");
      res.end(JSON.stringify({ apiVersion: req.headers["x-api-version"], tenant: req.headers["x-tenant"] }));
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    backendPort = (backend.address() as AddressInfo).port;
    gateway = createGateway(config(undefined));
    const [bound] = await gateway.listen();
    port = bound!.port;
  });

  after(async () => {
    await gateway.close({ gracePeriodMs: 1000 });
    await new Promise<void>((resolve) => backend.close(() => resolve()));
  });

  test("sends version 2 and the tenant from the Host to the backend, and cleans the response", async () => {
    const res = await request(port, { host: "acme.example.com" });
    assert.equal(res.status, 200, `status: ${res.body}`);
    assert.deepEqual(JSON.parse(res.body), { apiVersion: "2", tenant: "acme" }, "the backend sees the defaults");
    assert.equal(res.headers["x-served-by"], "divisor", "x-served-by is set");
    assert.equal(res.headers["x-powered-by"], undefined, "x-powered-by is removed");
  });

  test("keeps the version the client sent and takes a Host without dots whole", async () => {
    const res = await request(port, { host: "localhost:8080", "x-api-version": "7" });
    assert.deepEqual(JSON.parse(res.body), { apiVersion: "7", tenant: "localhost" }, "the client's version and the whole host");
  });

  test("takes its options from the config after a reload", async () => {
    await gateway.reload(config({ servedBy: "edge-1", defaultApiVersion: "3" }));
    const res = await request(port, { host: "shop.example.com" });
    assert.deepEqual(JSON.parse(res.body), { apiVersion: "3", tenant: "shop" }, "the new default version");
    assert.equal(res.headers["x-served-by"], "edge-1", "the new x-served-by");
  });

  test("refuses options its schema rejects, naming the option, and keeps serving", async () => {
    await assert.rejects(
      gateway.reload(config({ servedBy: "" })),
      (err: unknown) => err instanceof ConfigError && err.issues.some((i) => i.path === "middlewares.rewrite.options.servedBy"),
      "the error names middlewares.rewrite.options.servedBy",
    );
    const res = await request(port, { host: "shop.example.com" });
    assert.equal(res.headers["x-served-by"], "edge-1", "the previous configuration stays in force");
  });
});
