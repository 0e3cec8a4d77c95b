import assert from "node:assert/strict";
import http from "node:http";
import { after, before, describe, test } from "node:test";
import pino from "pino";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { SplitWeightsError } from "../../src/gateway/split-weights.js";
import { adminCall } from "../helpers/admin.js";
import { get, startBackend, type TestBackend } from "../helpers/net.js";
import { parseExposition, sampleValue } from "../helpers/prometheus.js";

const OPS = "ops-token-0123456789abcdef";
const VIEWER = "viewer-token-0123456789abcdef";
const ACME = "acme-token-0123456789abcdef";

type ErrorBody = { error: { code: string; message: string } };
type SplitBody = { router: string; tenant: string | null; services: { service: string; weight: number; configuredWeight: number }[]; overridden: boolean; overriddenAt: string | null };

describe("blue/green flipped through the admin API", () => {
  let blue: TestBackend;
  let green: TestBackend;
  let gateway: Gateway;
  let url: string;
  let admin: string;
  const logLines: Record<string, unknown>[] = [];

  type Split = NonNullable<NonNullable<DivisorConfigInput["routers"]>[string]["split"]>;
  const blueGreen = (weights: [number, number] = [100, 0], extra: Partial<Split> = {}): Split => ({
    services: [
      { service: "blue", weight: weights[0] },
      { service: "green", weight: weights[1] },
    ],
    sticky: { cookie: "side" },
    ...extra,
  });
  const config = (split: Split = blueGreen(), more: Partial<DivisorConfigInput> = {}): DivisorConfigInput => ({
    listeners: [{ address: "127.0.0.1:0" }],
    admin: {
      address: "127.0.0.1:0",
      tokens: [
        { name: "ops", token: OPS },
        { name: "viewer", token: VIEWER, readOnly: true },
        { name: "acme-ops", token: ACME, tenant: "acme" },
      ],
    },
    services: { blue: { backends: [blue.address] }, green: { backends: [green.address] }, plain: { backends: [blue.address] } },
    routers: { shop: { match: { path: { prefix: "/" } }, split }, plain: { match: { path: { prefix: "/plain" } }, service: "plain" } },
    tenants: { acme: { hosts: ["acme.example.com"], routers: { shop: { split: blueGreen() } } } },
    ...more,
  });
  const put = (router: string, body: unknown, token = OPS) =>
    adminCall(admin, "PUT", `/api/routers/${encodeURIComponent(router)}/split`, { token, body: typeof body === "string" ? body : JSON.stringify(body) });
  const getSplit = (router: string, token = OPS) => adminCall(admin, "GET", `/api/routers/${encodeURIComponent(router)}/split`, { token });
  const del = (router: string, token = OPS) => adminCall(admin, "DELETE", `/api/routers/${encodeURIComponent(router)}/split`, { token });
  const side = async (headers: Record<string, string> = {}) => (await get(`${url}/`, { headers })).body;

  before(async () => {
    // /slow answers after 300 ms: a request in flight across a flip.
    const backend = (name: string) =>
      startBackend((req, res) => {
        if (req.url === "/slow") setTimeout(() => res.end(name), 300);
        else res.end(name);
      });
    blue = await backend("blue");
    green = await backend("green");
    const logger = pino({ level: "info" }, { write: (line: string) => logLines.push(JSON.parse(line) as Record<string, unknown>) });
    gateway = createGateway(config(), { logger });
    const [bound] = await gateway.listen();
    url = `http://127.0.0.1:${bound!.port}`;
    admin = `http://127.0.0.1:${gateway.adminAddress!.port}`;
  });
  after(async () => {
    await gateway.close({ gracePeriodMs: 1000 });
    await blue.close();
    await green.close();
  });

  test("under keep-alive load from 16 clients, a PUT flips every later request to green and DELETE flips back, with no failed request", async () => {
    await del("shop");
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    type Seen = { startedAt: number; body: string };
    const seen: Seen[] = [];
    const errors: string[] = [];
    let stop = false;
    const client = async () => {
      while (!stop) {
        const startedAt = performance.now();
        try {
          const res = await get(`${url}/`, { agent });
          if (res.status === 200) seen.push({ startedAt, body: res.body });
          else errors.push(`${res.status} ${res.body}`);
        } catch (err) {
          errors.push(String(err));
        }
      }
    };
    const clients = Array.from({ length: 16 }, () => client());
    try {
      await new Promise((r) => setTimeout(r, 600));
      const slow = get(`${url}/slow`, { agent: false });
      await new Promise((r) => setTimeout(r, 50));
      const flipSent = performance.now();
      const flip = await put("shop", { weights: { blue: 0, green: 100 } });
      const flipped = performance.now();
      assert.equal(flip.status, 200, flip.text);
      assert.equal((await slow).body, "blue", "a request in flight across the flip finishes on the side it started on");
      await new Promise((r) => setTimeout(r, 700));
      const backSent = performance.now();
      const back = await del("shop");
      const backAt = performance.now();
      assert.equal(back.status, 200, back.text);
      await new Promise((r) => setTimeout(r, 600));
      stop = true;
      await Promise.all(clients);
      assert.deepEqual(errors, [], "no request failed and no connection was reset");
      const before = seen.filter((s) => s.startedAt < flipSent);
      const during = seen.filter((s) => s.startedAt >= flipped && s.startedAt < backSent);
      const afterBack = seen.filter((s) => s.startedAt > backAt);
      assert.ok(before.length > 100 && during.length > 100 && afterBack.length > 100, `enough requests on each side (${before.length}/${during.length}/${afterBack.length})`);
      assert.deepEqual([...new Set(before.map((s) => s.body))], ["blue"], "before the flip, all from blue");
      assert.deepEqual([...new Set(during.map((s) => s.body))], ["green"], "every request sent after the PUT returned went to green");
      assert.deepEqual([...new Set(afterBack.map((s) => s.body))], ["blue"], "after DELETE, the configuration's weights again");
    } finally {
      stop = true;
      await Promise.all(clients);
      agent.destroy();
    }
  });

  test("GET shows the weights in force and the configured ones; /api/routers and the metrics show them too", async () => {
    const flip = await put("shop", { weights: { blue: 0, green: 100 } });
    assert.equal(flip.status, 200);
    const res = await getSplit("shop");
    assert.equal(res.status, 200);
    const body = res.body as SplitBody;
    assert.deepEqual(body.services, [
      { service: "blue", weight: 0, configuredWeight: 100 },
      { service: "green", weight: 100, configuredWeight: 0 },
    ]);
    assert.equal(body.overridden, true);
    assert.match(body.overriddenAt ?? "", /^\d{4}-\d\d-\d\dT/);
    const routers = (await adminCall(admin, "GET", "/api/routers", { token: OPS })).body as { routers: { name: string; split: unknown }[] };
    assert.deepEqual(routers.routers.find((r) => r.name === "shop")!.split, {
      services: [
        { service: "blue", weight: 0 },
        { service: "green", weight: 100 },
      ],
      overridden: true,
    });
    assert.equal(routers.routers.find((r) => r.name === "plain")!.split, null);
    const families = parseExposition((await adminCall(admin, "GET", "/metrics", { token: OPS })).text, "text");
    assert.equal(sampleValue(families, "divisor_split_weight", { router: "shop", service: "blue" }), 0);
    assert.equal(sampleValue(families, "divisor_split_weight", { router: "shop", service: "green" }), 100);
    assert.equal(sampleValue(families, "divisor_split_weights_overridden", { router: "shop" }), 1);
    assert.equal(sampleValue(families, "divisor_split_weights_overridden", { router: "acme/shop" }), 0);
    assert.equal(sampleValue(families, "divisor_split_weight", { router: "acme/shop", service: "blue" }), 100);
    const cleared = (await del("shop")).body as SplitBody;
    assert.equal(cleared.overridden, false);
    assert.deepEqual(
      cleared.services.map((s) => s.weight),
      [100, 0],
    );
  });

  test("sticky users pinned to a side whose weight became 0 move to the other side, and stay while it keeps weight", async () => {
    const call = (cookie: string) => get(`${url}/`, { headers: { cookie } });
    let res = await call("side=green");
    assert.equal(res.body, "blue", "with the configuration's 100/0, green's cookie is not honoured");
    assert.deepEqual(res.headers["set-cookie"], ["side=blue; Path=/; HttpOnly; SameSite=Lax"]);
    assert.equal((await put("shop", { weights: { blue: 1, green: 1 } })).status, 200);
    res = await call("side=green");
    assert.equal(res.body, "green", "green has a weight now: its users stay on it");
    assert.equal(res.headers["set-cookie"], undefined);
    assert.equal((await put("shop", { weights: { blue: 0, green: 100 } })).status, 200);
    for (let i = 0; i < 3; i++) {
      res = await call("side=blue");
      assert.equal(res.body, "green", "blue's users move once blue's weight is 0");
      assert.deepEqual(res.headers["set-cookie"], ["side=green; Path=/; HttpOnly; SameSite=Lax"]);
    }
    res = await call("side=green");
    assert.equal(res.body, "green");
    assert.equal(res.headers["set-cookie"], undefined);
    assert.equal((await del("shop")).status, 200);
  });

  test("refuses bad requests with the status and a message that names what is wrong and how to fix it", async () => {
    const cases: [unknown, number, string, RegExp][] = [
      ["{not json", 400, "ERR_ADMIN_BAD_BODY", /not JSON; expected a JSON body like \{"weights": \{"blue": 0, "green": 100\}\}/],
      ["", 400, "ERR_ADMIN_BAD_BODY", /the body is empty/],
      [{ blue: 0, green: 100 }, 400, "ERR_ADMIN_BAD_BODY", /the body has no "weights"/],
      [{ weights: [0, 100] }, 400, "ERR_SPLIT_WEIGHTS_SHAPE", /object of service name to weight/],
      [{ weights: { blue: 0, gren: 100 } }, 422, "ERR_SPLIT_UNKNOWN_SERVICE", /router "shop" splits between blue, green; "gren" is not one of them \(did you mean "green"\?\)/],
      [{ weights: { blue: 100 } }, 422, "ERR_SPLIT_MISSING_SERVICE", /"green" has none \(0 sends it nothing by weight\)/],
      [{ weights: { blue: 0, green: 0 } }, 422, "ERR_SPLIT_ALL_ZERO", /needs a weight above 0/],
      [{ weights: { blue: -1, green: 100 } }, 422, "ERR_SPLIT_BAD_WEIGHT", /the weight of "blue" must be a whole number ≥ 0, like 0 or 100; got -1/],
      [{ weights: { blue: 0.5, green: 100 } }, 422, "ERR_SPLIT_BAD_WEIGHT", /got 0\.5/],
      [{ weights: { blue: "0", green: 100 } }, 422, "ERR_SPLIT_BAD_WEIGHT", /got "0"/],
    ];
    for (const [body, status, code, message] of cases) {
      const res = await put("shop", body);
      const error = (res.body as ErrorBody).error;
      assert.equal(res.status, status, `${JSON.stringify(body)}: ${res.text}`);
      assert.equal(error.code, code);
      assert.match(error.message, message);
    }
    const unknown = await put("shp", { weights: { blue: 0, green: 100 } });
    assert.equal(unknown.status, 404);
    assert.equal((unknown.body as ErrorBody).error.code, "ERR_ADMIN_UNKNOWN_ROUTER");
    assert.match((unknown.body as ErrorBody).error.message, /no router "shp" \(did you mean "shop"\?\).*routers: shop, plain, acme\/shop/);
    const plain = await put("plain", { weights: { plain: 1 } });
    assert.equal(plain.status, 404);
    assert.equal((plain.body as ErrorBody).error.code, "ERR_SPLIT_NONE");
    assert.match((plain.body as ErrorBody).error.message, /router "plain" sends its requests to service "plain" and has no split/);
    assert.equal((await getSplit("plain")).status, 404);
    assert.equal((await getSplit("shop")).status, 200);
    assert.equal(((await getSplit("shop")).body as SplitBody).overridden, false, "no refused PUT changed anything");
    assert.equal(await side(), "blue");
  });

  test("read-only tokens may look but not flip; a tenant's token flips its own routers only; each flip is logged with the token's name", async () => {
    assert.equal((await getSplit("shop", VIEWER)).status, 200);
    const ro = await put("shop", { weights: { blue: 0, green: 100 } }, VIEWER);
    assert.equal(ro.status, 403);
    assert.equal((ro.body as ErrorBody).error.code, "ERR_ADMIN_READ_ONLY");
    assert.equal((await del("shop", VIEWER)).status, 403);

    const other = await put("shop", { weights: { blue: 0, green: 100 } }, ACME);
    assert.equal(other.status, 404, "another tenant's (or the gateway's) router does not exist for a tenant token");
    assert.match((other.body as ErrorBody).error.message, /no router "shop".*routers: acme\/shop$/);
    assert.equal((await getSplit("shop", ACME)).status, 404);
    assert.equal((await del("plain", ACME)).status, 404);
    const routers = (await adminCall(admin, "GET", "/api/routers", { token: ACME })).body as { routers: { name: string; split: unknown }[] };
    assert.deepEqual(
      routers.routers.map((r) => r.name),
      ["acme/shop"],
    );

    logLines.length = 0;
    const mine = await put("acme/shop", { weights: { blue: 0, green: 100 } }, ACME);
    assert.equal(mine.status, 200, mine.text);
    assert.equal((mine.body as SplitBody).tenant, "acme");
    assert.equal(await side({ host: "acme.example.com" }), "green");
    assert.equal(await side(), "blue", "the top-level router is untouched");
    const audit = logLines.find((l) => l.msg === "admin call");
    assert.deepEqual(
      { token: audit?.token, method: audit?.method, path: audit?.path, status: audit?.status },
      { token: "acme-ops", method: "PUT", path: "/api/routers/acme%2Fshop/split", status: 200 },
    );
    assert.ok(!JSON.stringify(logLines).includes(ACME), "the token itself is never logged");
    assert.ok(logLines.some((l) => l.msg === "split weights set" && l.router === "acme/shop"));
    assert.equal((await del("acme/shop", ACME)).status, 200);
    assert.equal(await side({ host: "acme.example.com" }), "blue");
  });

  test("a reload keeps the weights set while the router's split in the configuration stays as it was; a changed split wins", async () => {
    assert.equal((await put("shop", { weights: { blue: 0, green: 100 } })).status, 200);
    // Another change (a new router) leaves shop's split as it was: the flip stays.
    await gateway.reload(config(blueGreen(), { routers: { shop: { match: { path: { prefix: "/" } }, split: blueGreen() }, plain: { service: "plain", match: { path: { prefix: "/p" } } } } }));
    assert.equal(((await getSplit("shop")).body as SplitBody).overridden, true);
    assert.equal(await side(), "green");

    logLines.length = 0;
    await gateway.reload(config(blueGreen([90, 10])));
    const after = (await getSplit("shop")).body as SplitBody;
    assert.equal(after.overridden, false, "the file changed shop's split: the file's weights win");
    assert.deepEqual(
      after.services.map((s) => s.weight),
      [90, 10],
    );
    const dropped = logLines.find((l) => l.msg === "split weights set at run time dropped: the configuration's are in force");
    assert.equal(dropped?.router, "shop");
    assert.equal(dropped?.reason, "the configuration changed the router's split");

    assert.equal((await put("shop", { weights: { blue: 0, green: 1 } })).status, 200);
    await gateway.reload(config(blueGreen(), { routers: { shop: { service: "blue" } } }));
    assert.ok(logLines.some((l) => l.router === "shop" && l.reason === "the router no longer has a split"));
    await gateway.reload(config());
    assert.equal(((await getSplit("shop")).body as SplitBody).overridden, false, "a split that comes back starts from the file's weights");
    assert.equal(await side(), "blue");
  });

  test("the library API sets and clears the same weights, and refuses with stable codes", async () => {
    const set = gateway.setSplitWeights("shop", { blue: 1, green: 1 });
    assert.deepEqual(
      set.services.map((s) => s.weight),
      [1, 1],
    );
    assert.deepEqual([await side(), await side()].sort(), ["blue", "green"]);
    assert.deepEqual(
      gateway.splits().map((s) => [s.router, s.overridden]),
      [
        ["acme/shop", false],
        ["shop", true],
      ],
    );
    assert.throws(
      () => gateway.setSplitWeights("shop", { blue: 0, green: 0 }),
      (err: unknown) => err instanceof SplitWeightsError && err.code === "ERR_SPLIT_ALL_ZERO" && err.status === 422,
    );
    assert.throws(
      () => gateway.clearSplitWeights("nope"),
      (err: unknown) => err instanceof SplitWeightsError && err.code === "ERR_SPLIT_UNKNOWN_ROUTER",
    );
    assert.equal(gateway.clearSplitWeights("shop").overridden, false);
  });
});
