// A real browser (Debian's chromium, driven by playwright-core) against the cors middleware:
// what the page's script may do is decided by Chromium's own CORS checks, not by our reading of the spec.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { type Browser, chromium, type Page } from "playwright-core";
import { startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";

const CHROMIUM = "/usr/bin/chromium";

/** The page's origins: one the gateway allows, one it does not. */
async function startPageServer(): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((_req, res) => {
    res.setHeader("content-type", "text/html");
    res.end("<!doctype html><title>page</title><p>cors test page</p>");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return { server, port: (server.address() as AddressInfo).port };
}

/** Run a fetch in the page; what the script sees, or the TypeError name when the browser blocked it. */
async function pageFetch(page: Page, url: string, init: Record<string, unknown>, readHeaders: string[] = []) {
  return page.evaluate(
    async ({ url, init, readHeaders }) => {
      try {
        const res = await fetch(url, init as RequestInit);
        const headers: Record<string, string | null> = {};
        for (const h of readHeaders) headers[h] = res.headers.get(h);
        return { ok: true as const, status: res.status, body: await res.text(), headers };
      } catch (err) {
        return { ok: false as const, error: (err as Error).name };
      }
    },
    { url, init, readHeaders },
  );
}

describe("cors in a real browser (chromium via playwright-core)", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  let allowed: { server: http.Server; port: number };
  let other: { server: http.Server; port: number };
  let browser: Browser;
  let page: Page;
  const methodsSeen: string[] = [];

  before(async () => {
    backend = await startBackend((req, res) => {
      methodsSeen.push(req.method ?? "");
      req.resume();
      req.on("end", () => {
        res.setHeader("x-request-id", "r1");
        res.setHeader("x-internal", "secret-ish");
        res.end(`${req.method} ${req.url} cookie=${req.headers.cookie ?? ""}`);
      });
    });
    allowed = await startPageServer();
    other = await startPageServer();
    gw = await startGateway({
      services: { app: { backends: [backend.address] } },
      middlewares: {
        api: {
          type: "cors",
          rules: [
            {
              origins: [`http://127.0.0.1:${allowed.port}`],
              methods: ["GET", "PUT"],
              allowHeaders: ["Content-Type", "X-Api-Key"],
              exposeHeaders: ["x-request-id"],
              credentials: true,
              maxAge: 0,
            },
          ],
        },
      },
      routers: { all: { service: "app", middlewares: ["api"] } },
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // Root in a container has no user namespaces for Chromium's sandbox.
      // (playwright gives the browser a fresh profile in a temp dir and deletes it on close.)
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    });
    page = await browser.newPage();
  });

  after(async () => {
    await browser?.close();
    await gw?.close();
    await backend?.close();
    for (const s of [allowed, other]) if (s !== undefined) await new Promise((r) => s.server.close(r));
  });

  test("a preflighted PUT with a custom header and credentials goes through; the gateway answered the preflight itself", async () => {
    await page.goto(`http://127.0.0.1:${allowed.port}/`);
    const before = methodsSeen.length;
    const res = await pageFetch(
      page,
      `http://localhost:${gw.port}/items/1`,
      { method: "PUT", credentials: "include", headers: { "content-type": "application/json", "x-api-key": "k" }, body: "{}" },
      ["x-request-id", "x-internal"],
    );
    assert.equal(res.ok, true, JSON.stringify(res));
    assert.ok(res.ok);
    assert.equal(res.status, 200);
    assert.match(res.body, /^PUT \/items\/1/);
    // Exposed headers are readable from the script, the others are not.
    assert.equal(res.headers["x-request-id"], "r1");
    assert.equal(res.headers["x-internal"], null);
    // The backend saw the PUT only: the OPTIONS preflight never left the gateway.
    assert.deepEqual(methodsSeen.slice(before), ["PUT"]);
  });

  test("a simple GET from the allowed origin is readable", async () => {
    await page.goto(`http://127.0.0.1:${allowed.port}/`);
    const res = await pageFetch(page, `http://localhost:${gw.port}/simple`, { method: "GET" });
    assert.ok(res.ok, JSON.stringify(res));
    assert.equal(res.status, 200);
    assert.match(res.body, /^GET \/simple/);
  });

  test("a header the rule does not allow makes the browser refuse the request before sending it", async () => {
    await page.goto(`http://127.0.0.1:${allowed.port}/`);
    const before = methodsSeen.length;
    const res = await pageFetch(page, `http://localhost:${gw.port}/items/1`, { method: "PUT", headers: { "x-not-allowed": "1" }, body: "x" });
    assert.deepEqual(res, { ok: false, error: "TypeError" });
    assert.equal(methodsSeen.length, before, "the backend never saw it");
  });

  test("a method the rule does not allow is refused by the browser", async () => {
    await page.goto(`http://127.0.0.1:${allowed.port}/`);
    const res = await pageFetch(page, `http://localhost:${gw.port}/items/1`, { method: "DELETE" });
    assert.deepEqual(res, { ok: false, error: "TypeError" });
  });

  test("a page from another origin cannot read the response, nor send a preflighted request", async () => {
    await page.goto(`http://127.0.0.1:${other.port}/`);
    const simple = await pageFetch(page, `http://localhost:${gw.port}/simple`, { method: "GET" });
    assert.deepEqual(simple, { ok: false, error: "TypeError" });
    const before = methodsSeen.length;
    const put = await pageFetch(page, `http://localhost:${gw.port}/items/1`, { method: "PUT", headers: { "x-api-key": "k" }, body: "x" });
    assert.deepEqual(put, { ok: false, error: "TypeError" });
    assert.equal(methodsSeen.length, before, "a refused preflight sends nothing to the backend");
  });
});
