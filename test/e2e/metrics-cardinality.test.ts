import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import http from "node:http";
import { test } from "node:test";
import { get, startBackend, startGateway } from "../helpers/net.js";
import { parseExposition } from "../helpers/prometheus.js";

/** Every series of the exposition as `name{labels}`, leaving out the process's own (sockets by type vary with load). */
function gatewaySeries(text: string): Set<string> {
  const out = new Set<string>();
  for (const f of parseExposition(text, "text")) {
    if (!f.name.startsWith("divisor_")) continue;
    for (const s of f.samples) out.add(`${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`);
  }
  return out;
}

test("1,000 requests to distinct random paths and Host headers through one router add no series after the first", async () => {
  const backend = await startBackend();
  const gw = await startGateway({ admin: { address: "127.0.0.1:0" }, services: { app: { backends: [backend.address] } }, routers: { all: { service: "app" } } });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  const scrape = async () => (await get(`http://127.0.0.1:${gw.gateway.adminAddress!.port}/metrics`)).body;
  // "zz" + hex: a token no metric name, label or number of an exposition can contain by chance.
  const tokens: string[] = [];
  const random = () => {
    const t = `zz${randomBytes(6).toString("hex")}`;
    tokens.push(t);
    return t;
  };
  const send = async (path: string, host: string) => {
    const res = await get(`${gw.url}${path}`, { agent, headers: { host } });
    assert.equal(res.status, 200);
  };
  try {
    await send(`/${random()}`, `${random()}.example`);
    const first = await scrape();
    const before = gatewaySeries(first);
    for (let batch = 0; batch < 100; batch++) {
      const round: Promise<void>[] = [];
      for (let i = 0; i < 10; i++) {
        const path = `/${random()}/${random()}?q=${random()}`;
        const host = `${random()}.example:${1000 + i}`;
        round.push(send(path, host));
      }
      await Promise.all(round);
    }
    const last = await scrape();
    const afterwards = gatewaySeries(last);
    assert.deepEqual([...afterwards].filter((s) => !before.has(s)), [], "series added by the 1,000 requests");
    assert.equal(afterwards.size, before.size);
    const counted = parseExposition(last, "text")
      .flatMap((f) => f.samples)
      .filter((s) => s.name === "divisor_http_requests_total");
    assert.deepEqual(
      counted.map((s) => [s.labels.router, s.labels.status_class, s.value]),
      [["all", "2xx", 1001]],
    );
    assert.equal(tokens.length, 2 + 4000);
    assert.deepEqual(
      tokens.filter((t) => last.includes(t)),
      [],
      "no part of a request's path, query or host appears anywhere in /metrics",
    );
  } finally {
    agent.destroy();
    await gw.close();
    await backend.close();
  }
});
