import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { RawClient, simpleConfig, startBackend, startGateway, type TestBackend, type TestGateway } from "../helpers/net.js";
import { corpus } from "./corpus.js";

// Every malformed or ambiguous request of the codec's corpus, sent over a real socket to a
// real gateway in front of a real backend: the client gets the expected status, the
// connection is closed, and nothing smuggled reaches the backend.
describe("the gateway refuses every case of the smuggling corpus end to end", () => {
  let backend: TestBackend;
  let gw: TestGateway;
  before(async () => {
    backend = await startBackend((req, res) => {
      req.resume();
      req.on("end", () => res.end("reached backend"));
      req.on("error", () => {});
    });
    gw = await startGateway(simpleConfig([backend.address]));
  });
  after(async () => {
    await gw.close();
    await backend.close();
  });

  for (const c of corpus) {
    test(`${c.name}: ${c.expectStatus} and the connection closed`, async () => {
      const seenBefore = backend.seen.length;
      const client = new RawClient(gw.port);
      await client.ready;
      // A smuggled second request behind the malformed one must never be served.
      client.write(Buffer.from(`${c.raw}GET /smuggled HTTP/1.1\r\nHost: example.test\r\n\r\n`, "latin1"));
      const text = await client.waitClosed(5000);
      const statuses = [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      assert.ok(statuses.includes(c.expectStatus), `expected ${c.expectStatus}, got ${JSON.stringify(text.slice(0, 200))}`);
      assert.ok(!text.includes("reached backend") || c.part === "body", "a malformed head reached the backend");
      const reached = backend.seen.slice(seenBefore).map((r) => r.url);
      assert.ok(!reached.includes("/smuggled"), "the request behind the malformed one was served");
      if (c.part === "head") assert.deepEqual(reached, []);
    });
  }
});
