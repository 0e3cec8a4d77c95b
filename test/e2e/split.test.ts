import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import { validateConfig } from "../../src/config/load.js";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { get, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

type Split = NonNullable<NonNullable<DivisorConfigInput["routers"]>[string]["split"]>;

describe("traffic split between services", () => {
  let blue: TestBackend;
  let green: TestBackend;
  before(async () => {
    blue = await startBackend((_req, res) => res.end("blue"));
    green = await startBackend((_req, res) => res.end("green"));
  });
  after(async () => {
    await blue.close();
    await green.close();
  });

  const config = (split: Split): Omit<DivisorConfigInput, "listeners"> => ({
    admin: { address: "127.0.0.1:0" },
    services: { blue: { backends: [blue.address] }, green: { backends: [green.address] } },
    routers: { shop: { split } },
  });

  async function withSplit(split: Split, run: (gw: TestGateway) => Promise<void>): Promise<void> {
    const gw = await startGateway(config(split));
    try {
      await run(gw);
    } finally {
      await gw.close();
    }
  }

  async function bodies(gw: TestGateway, n: number, headers: Record<string, string> = {}): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await get(`${gw.url}/`, { headers })).body);
    return out;
  }

  test("spreads requests by weight with exact, evenly interleaved shares, counted under each chosen service", async () => {
    await withSplit({ services: [{ service: "blue", weight: 3 }, { service: "green", weight: 1 }] }, async (gw) => {
      const seen = await bodies(gw, 40);
      assert.equal(seen.filter((b) => b === "blue").length, 30);
      assert.equal(seen.filter((b) => b === "green").length, 10);
      for (let i = 0; i < 40; i += 4) assert.equal(seen.slice(i, i + 4).filter((b) => b === "green").length, 1, `one green in each 4 (${seen.slice(i, i + 4)})`);
      const res = await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`);
      const families = parseExposition(res.body, "text");
      assert.equal(sampleValue(families, "divisor_http_requests_total", { router: "shop", service: "blue" }), 30);
      assert.equal(sampleValue(families, "divisor_http_requests_total", { router: "shop", service: "green" }), 10);
    });
  });

  test("A/B rules by header or cookie take precedence over the weights", async () => {
    await withSplit(
      {
        services: [{ service: "blue", weight: 1 }],
        match: [
          { header: "X-Beta", value: "1", service: "green" },
          { cookie: "tester", service: "green" },
        ],
      },
      async (gw) => {
        assert.deepEqual(await bodies(gw, 3), ["blue", "blue", "blue"]);
        assert.deepEqual(await bodies(gw, 3, { "x-beta": "1" }), ["green", "green", "green"]);
        assert.deepEqual(await bodies(gw, 2, { "x-beta": "0" }), ["blue", "blue"]);
        assert.deepEqual(await bodies(gw, 2, { cookie: "a=b; tester=yes" }), ["green", "green"]);
      },
    );
  });

  test("a sticky cookie keeps each user on the service first chosen for them", async () => {
    await withSplit({ services: [{ service: "blue", weight: 1 }, { service: "green", weight: 1 }], sticky: { cookie: "side", maxAge: "1h" } }, async (gw) => {
      const first = await get(`${gw.url}/`);
      const second = await get(`${gw.url}/`);
      assert.notEqual(first.body, second.body, "without a cookie, the weights alternate");
      assert.deepEqual(first.headers["set-cookie"], [`side=${first.body}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax`]);
      assert.deepEqual(second.headers["set-cookie"], [`side=${second.body}; Path=/; Max-Age=3600; HttpOnly; SameSite=Lax`]);
      for (const user of [first, second]) {
        const again = await Promise.all(Array.from({ length: 6 }, () => get(`${gw.url}/`, { headers: { cookie: `side=${user.body}` } })));
        assert.deepEqual(
          again.map((r) => r.body),
          Array(6).fill(user.body),
        );
        assert.ok(again.every((r) => r.headers["set-cookie"] === undefined), "a user who has the cookie gets no new one");
      }
    });
  });

  test("a blue/green flip by reload under load fails no request, and moves sticky users off the side that lost its weight", async () => {
    const blueOnly = { services: [{ service: "blue", weight: 100 }, { service: "green", weight: 0 }], sticky: { cookie: "side" } };
    const greenOnly = { services: [{ service: "blue", weight: 0 }, { service: "green", weight: 100 }], sticky: { cookie: "side" } };
    const gw = await startGateway(config(blueOnly));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    let stop = false;
    const errors: string[] = [];
    const served = { blue: 0, green: 0 };
    const client = async () => {
      while (!stop) {
        try {
          const res = await get(`${gw.url}/`, { agent });
          if (res.status === 200 && (res.body === "blue" || res.body === "green")) served[res.body]++;
          else errors.push(`${res.status} ${res.body}`);
        } catch (err) {
          errors.push(String(err));
        }
      }
    };
    try {
      const clients = Array.from({ length: 8 }, () => client());
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 15));
        await gw.gateway.reload({ listeners: [{ address: "127.0.0.1:0" }], ...config(i % 2 === 0 ? greenOnly : blueOnly) });
      }
      await gw.gateway.reload({ listeners: [{ address: "127.0.0.1:0" }], ...config(greenOnly) });
      await new Promise((r) => setTimeout(r, 30));
      stop = true;
      await Promise.all(clients);
      assert.deepEqual(errors, []);
      assert.ok(served.blue > 0 && served.green > 0, `both sides served during the flips (${JSON.stringify(served)})`);
      const after = await get(`${gw.url}/`, { headers: { cookie: "side=blue" } });
      assert.equal(after.body, "green", "a user stuck to blue moves to green once blue has no weight");
      assert.deepEqual(after.headers["set-cookie"], ["side=green; Path=/; HttpOnly; SameSite=Lax"]);
    } finally {
      stop = true;
      agent.destroy();
      await gw.close();
    }
  });

  test("refuses unknown services with a suggestion, a router with both service and split, and weights that are all 0", () => {
    const problems = (routers: DivisorConfigInput["routers"]): string[] => {
      try {
        validateConfig({ listeners: [{ address: "127.0.0.1:0" }], services: { blue: { backends: ["127.0.0.1:1"] }, green: { backends: ["127.0.0.1:2"] } }, routers });
      } catch (err) {
        assert.ok(err instanceof ConfigError);
        return err.issues.map((i) => `${i.path}: ${i.message}`);
      }
      return [];
    };
    assert.deepEqual(problems({ shop: { split: { services: [{ service: "bleu", weight: 1 }], match: [{ header: "x-b", service: "gren" }] } } }), [
      'routers.shop.split.services[0].service: unknown service "bleu" (did you mean "blue"?)',
      'routers.shop.split.match[0].service: unknown service "gren" (did you mean "green"?)',
    ]);
    assert.match(problems({ shop: { service: "blue", split: { services: [{ service: "green", weight: 1 }] } } }).join("\n"), /either service or split, not both/);
    assert.match(problems({ shop: { split: { services: [{ service: "blue", weight: 0 }] } } }).join("\n"), /at least one service needs a weight above 0/);
    assert.deepEqual(problems({ shop: { split: { services: [{ service: "blue", weight: 1 }] } } }), []);
  });
});
