import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { z } from "zod";
import { definePlugin, type Exchange } from "../../src/index.js";
import { get, startBackend, startGateway, type TestBackend } from "../helpers/net.js";

describe("built-in middlewares", () => {
  let backend: TestBackend;
  before(async () => {
    backend = await startBackend((req, res) => {
      res.setHeader("server", "backend/1.0");
      res.setHeader("x-powered-by", "secret");
      res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    });
  });
  after(async () => {
    await backend.close();
  });

  test("headers sets, adds and removes request and response headers", async () => {
    const gw = await startGateway({
      services: { app: { backends: [backend.address] } },
      middlewares: {
        h: {
          type: "headers",
          request: { set: { "x-env": "prod" }, add: { "x-tag": "two" }, remove: ["x-debug"] },
          response: { remove: ["x-powered-by"], set: { server: "divisor" } },
        },
      },
      routers: { all: { service: "app", middlewares: ["h"] } },
    });
    try {
      const res = await get(`${gw.url}/`, { headers: { "x-debug": "1", "x-env": "dev", "x-tag": "one" } });
      const seen = JSON.parse(res.body);
      assert.equal(seen.headers["x-env"], "prod");
      assert.equal(seen.headers["x-tag"], "one, two");
      assert.equal(seen.headers["x-debug"], undefined);
      assert.equal(res.headers["x-powered-by"], undefined);
      assert.equal(res.headers.server, "divisor");
    } finally {
      await gw.close();
    }
  });

  test("strip-prefix removes the prefix at a segment boundary and sets X-Forwarded-Prefix", async () => {
    const gw = await startGateway({
      services: { app: { backends: [backend.address] } },
      middlewares: { strip: { type: "strip-prefix", prefixes: ["/api"] } },
      routers: { all: { service: "app", middlewares: ["strip"] } },
    });
    try {
      const one = JSON.parse((await get(`${gw.url}/api/users?x=1`)).body);
      assert.equal(one.url, "/users?x=1");
      assert.equal(one.headers["x-forwarded-prefix"], "/api");
      assert.equal(JSON.parse((await get(`${gw.url}/api`)).body).url, "/");
      assert.equal(JSON.parse((await get(`${gw.url}/apix`)).body).url, "/apix");
    } finally {
      await gw.close();
    }
  });

  test("rewrite-path rewrites with regex groups", async () => {
    const gw = await startGateway({
      services: { app: { backends: [backend.address] } },
      middlewares: { v2: { type: "rewrite-path", regex: "^/v1/(.*)$", replacement: "/v2/$1" } },
      routers: { all: { service: "app", middlewares: ["v2"] } },
    });
    try {
      assert.equal(JSON.parse((await get(`${gw.url}/v1/items?q=a`)).body).url, "/v2/items?q=a");
    } finally {
      await gw.close();
    }
  });

  test("redirect answers without proxying", async () => {
    const gw = await startGateway({
      middlewares: {
        https: { type: "redirect", scheme: "https", status: 308 },
        docs: { type: "redirect", regex: "^/docs/(.*)", replacement: "https://docs.example.com/$1", status: 301 },
      },
      routers: {
        docs: { match: { path: { prefix: "/docs" } }, middlewares: ["docs"] },
        all: { middlewares: ["https"] },
      },
    });
    try {
      const a = await get(`${gw.url}/x?y=1`, { headers: { host: "shop.example.com" } });
      assert.equal(a.status, 308);
      assert.equal(a.headers.location, "https://shop.example.com/x?y=1");
      const b = await get(`${gw.url}/docs/intro`);
      assert.equal(b.status, 301);
      assert.equal(b.headers.location, "https://docs.example.com/intro");
    } finally {
      await gw.close();
    }
  });
});

describe("user plugins", () => {
  test("run every phase in order, sync and async, and can steer backend selection", async () => {
    const a = await startBackend((_req, res) => res.end("a"));
    const b = await startBackend((req, res) => res.end(`b ${req.headers["x-plugin"]}`));
    const calls: string[] = [];
    const logged: Exchange[] = [];
    const canary = definePlugin({
      name: "canary",
      schema: z.object({ header: z.string(), backend: z.string() }),
      create: ({ header, backend }) => ({
        async onRequest(ex) {
          calls.push("onRequest");
          await new Promise((r) => setTimeout(r, 5));
          if (ex.request.path === "/deny") return ex.respond(403, "denied by plugin");
          ex.locals.set("t", "seen");
        },
        selectBackend(ex, candidates) {
          calls.push("selectBackend");
          return ex.request.headers.get(header) === "1" ? candidates.find((c) => c.address === backend) : undefined;
        },
        onUpstreamRequest(ex, head) {
          calls.push("onUpstreamRequest");
          head.headers.set("x-plugin", String(ex.locals.get("t")));
        },
        async onResponse(_ex, head) {
          calls.push("onResponse");
          await new Promise((r) => setTimeout(r, 5));
          head.headers.set("x-phase", "response");
        },
        onLog(ex) {
          calls.push("onLog");
          logged.push(ex);
        },
      }),
    });
    const gw = await startGateway(
      {
        services: { app: { backends: [a.address, b.address], balancer: { algorithm: "round-robin" } } },
        middlewares: { canary: { type: "plugin", plugin: "canary", options: { header: "x-canary", backend: b.address } } },
        routers: { all: { service: "app", middlewares: ["canary"] } },
      },
      [canary],
    );
    try {
      for (let i = 0; i < 4; i++) {
        const res = await get(`${gw.url}/x`, { headers: { "x-canary": "1" } });
        assert.equal(res.body, "b seen");
        assert.equal(res.headers["x-phase"], "response");
      }
      assert.deepEqual(calls.slice(0, 5), ["onRequest", "selectBackend", "onUpstreamRequest", "onResponse", "onLog"]);
      const denied = await get(`${gw.url}/deny`);
      assert.equal(denied.status, 403);
      assert.equal(denied.body, "denied by plugin");
      const last = logged.at(-1)!;
      assert.equal(last.status, 403);
      assert.equal(last.router, "all");
      assert.ok(last.durationMs > 0);
    } finally {
      await gw.close();
      await a.close();
      await b.close();
    }
  });

  test("a plugin's invalid options are a config error naming the middleware", async () => {
    const strict = definePlugin({ name: "strict", schema: z.object({ n: z.number() }), create: () => ({}) });
    await assert.rejects(
      startGateway(
        {
          services: { app: { backends: ["127.0.0.1:1"] } },
          middlewares: { s: { type: "plugin", plugin: "strict", options: { n: "x" } } },
          routers: { all: { service: "app", middlewares: ["s"] } },
        },
        [strict],
      ),
      /middlewares\.s\.options/,
    );
  });

  test("a throwing plugin answers 500 and the gateway keeps serving", async () => {
    const a = await startBackend((_req, res) => res.end("a"));
    const boom = definePlugin({
      name: "boom",
      create: () => ({
        onRequest(ex) {
          if (ex.request.path === "/boom") throw new Error("kaboom");
        },
      }),
    });
    const gw = await startGateway(
      {
        services: { app: { backends: [a.address] } },
        middlewares: { boom: { type: "plugin", plugin: "boom" } },
        routers: { all: { service: "app", middlewares: ["boom"] } },
      },
      [boom],
    );
    const warn = process.emitWarning;
    process.emitWarning = () => {};
    try {
      assert.equal((await get(`${gw.url}/boom`)).status, 500);
      assert.equal((await get(`${gw.url}/ok`)).body, "a");
    } finally {
      process.emitWarning = warn;
      await gw.close();
      await a.close();
    }
  });
});
