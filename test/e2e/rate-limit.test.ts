import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { ConfigError } from "../../src/errors.js";
import { createGateway } from "../../src/gateway/gateway.js";
import { get, startBackend, startGateway, type TestBackend } from "../helpers/net.js";

const run = promisify(execFile);

function jwt(payload: object): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `Bearer ${part({ alg: "none" })}.${part(payload)}.sig`;
}

describe("rate-limit middleware", () => {
  let backend: TestBackend;
  before(async () => {
    backend = await startBackend();
  });
  after(async () => {
    await backend.close();
  });

  function config(limit: Record<string, unknown>): Omit<DivisorConfigInput, "listeners"> {
    return {
      services: { app: { backends: [backend.address] } },
      middlewares: { rl: { type: "rate-limit", ...limit } as never },
      routers: { all: { service: "app", middlewares: ["rl"] } },
    };
  }

  test("gcra lets a burst through, then answers 429 with Retry-After and the RateLimit fields", async () => {
    const gw = await startGateway(config({ rate: 3, period: "1m" }));
    try {
      const seenBefore = backend.seen.length;
      for (const remaining of [2, 1, 0]) {
        const res = await get(`${gw.url}/`);
        assert.equal(res.status, 200);
        assert.equal(res.headers["ratelimit-policy"], '"rl";q=3;w=60');
        assert.match(String(res.headers.ratelimit), new RegExp(`^"rl";r=${remaining};t=\\d+$`));
      }
      const limited = await get(`${gw.url}/`);
      assert.equal(limited.status, 429);
      const retry = Number(limited.headers["retry-after"]);
      assert.ok(retry >= 19 && retry <= 20, `Retry-After ${retry} is about one interval (20s)`);
      assert.equal(limited.headers["ratelimit-policy"], '"rl";q=3;w=60');
      assert.match(String(limited.headers.ratelimit), /^"rl";r=0;t=(59|60)$/);
      assert.match(limited.body, /rate limit "rl" exceeded/);
      assert.equal(backend.seen.length - seenBefore, 3, "the limited request never reached the backend");
    } finally {
      await gw.close();
    }
  });

  test("gcra refills at rate / period: one request is allowed again after one interval", async () => {
    const gw = await startGateway(config({ rate: 10, period: "1s", burst: 1 }));
    try {
      assert.equal((await get(`${gw.url}/`)).status, 200);
      assert.equal((await get(`${gw.url}/`)).status, 429);
      await new Promise((r) => setTimeout(r, 120));
      assert.equal((await get(`${gw.url}/`)).status, 200);
    } finally {
      await gw.close();
    }
  });

  test("a header key counts each value apart, and a composite key combines parts", async () => {
    const gw = await startGateway(config({ rate: 1, period: "1m", key: ["header:X-Api-Key", "cookie:team"] }));
    try {
      const call = (key: string, team: string) => get(`${gw.url}/`, { headers: { "x-api-key": key, cookie: `a=1; team=${team}` } });
      assert.equal((await call("k1", "red")).status, 200);
      assert.equal((await call("k1", "red")).status, 429);
      assert.equal((await call("k2", "red")).status, 200);
      assert.equal((await call("k1", "blue")).status, 200);
    } finally {
      await gw.close();
    }
  });

  test("a jwt-claim key reads the Bearer token's payload", async () => {
    const gw = await startGateway(config({ rate: 1, period: "1m", key: ["jwt-claim:sub"] }));
    try {
      const call = (sub: string) => get(`${gw.url}/`, { headers: { authorization: jwt({ sub }) } });
      assert.equal((await call("alice")).status, 200);
      assert.equal((await call("alice")).status, 429);
      assert.equal((await call("bob")).status, 200);
    } finally {
      await gw.close();
    }
  });

  test("sliding-window allows rate requests per period, seen by curl", async () => {
    const gw = await startGateway(config({ algorithm: "sliding-window", rate: 2, period: "1m", key: ["router"] }));
    try {
      const curl = async () => (await run("curl", ["-s", "-o", "/dev/null", "-D", "-", `${gw.url}/`])).stdout;
      assert.match(await curl(), /^HTTP\/1\.1 200/);
      const second = await curl();
      assert.match(second, /^HTTP\/1\.1 200/);
      assert.match(second, /ratelimit: "rl";r=0;t=\d+/i);
      const third = await curl();
      assert.match(third, /^HTTP\/1\.1 429/);
      assert.match(third, /retry-after: \d+/i);
      assert.match(third, /ratelimit-policy: "rl";q=2;w=60/i);
    } finally {
      await gw.close();
    }
  });

  test("headers: false leaves allowed responses alone", async () => {
    const gw = await startGateway(config({ rate: 5, headers: false }));
    try {
      const res = await get(`${gw.url}/`);
      assert.equal(res.status, 200);
      assert.equal(res.headers.ratelimit, undefined);
      assert.equal(res.headers["ratelimit-policy"], undefined);
    } finally {
      await gw.close();
    }
  });

  test("a reload that keeps the options keeps the counts; changed options start afresh", async () => {
    const gw = await startGateway(config({ rate: 1, period: "1m" }));
    try {
      assert.equal((await get(`${gw.url}/`)).status, 200);
      await gw.gateway.reload({ listeners: [{ address: "127.0.0.1:0" }], ...config({ rate: 1, period: "1m" }) });
      assert.equal((await get(`${gw.url}/`)).status, 429);
      await gw.gateway.reload({ listeners: [{ address: "127.0.0.1:0" }], ...config({ rate: 2, period: "1m" }) });
      assert.equal((await get(`${gw.url}/`)).status, 200);
    } finally {
      await gw.close();
    }
  });

  test("decisions are counted in divisor_rate_limit_decisions_total", async () => {
    const gw = await startGateway(config({ rate: 1, period: "1m" }));
    try {
      await get(`${gw.url}/`);
      await get(`${gw.url}/`);
      await get(`${gw.url}/`);
      const text = await gw.gateway.metrics();
      assert.match(text, /divisor_rate_limit_decisions_total\{middleware="rl",result="allowed"\} 1\n/);
      assert.match(text, /divisor_rate_limit_decisions_total\{middleware="rl",result="limited"\} 2\n/);
      assert.match(text, /divisor_rate_limit_keys\{middleware="rl"\} 1\n/);
    } finally {
      await gw.close();
    }
  });

  test("a bad key or a burst for sliding-window is refused with the path to fix", () => {
    const refused = (limit: Record<string, unknown>, path: RegExp) =>
      assert.throws(
        () => createGateway({ listeners: [{ address: "127.0.0.1:0" }], ...config(limit) }),
        (err: unknown) => err instanceof ConfigError && path.test(err.message),
      );
    refused({ rate: 1, key: ["ip"] }, /middlewares\.rl\.key\[0\].*client-ip.*found "ip"/s);
    refused({ rate: 1, algorithm: "sliding-window", burst: 3 }, /middlewares\.rl\.burst.*gcra only/s);
    refused({ rate: 0 }, /middlewares\.rl\.rate/);
  });
});
