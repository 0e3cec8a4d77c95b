import assert from "node:assert/strict";
import cluster, { type Worker } from "node:cluster";
import { Readable } from "node:stream";
import { after, describe, test } from "node:test";
import { pino } from "pino";
import { ClusterAdmin, type WorkerSlot } from "../../src/admin/cluster/primary.js";
import type { ToPrimary, ToWorker, WireRequest } from "../../src/admin/cluster/protocol.js";
import type { AdminRequest, AdminRoute } from "../../src/admin/types.js";

/** A stand-in for a cluster worker: records what the primary sends, answers with `reply`. */
function fakeWorker(pid: number, reply: (req: WireRequest, id: number, worker: Worker) => ToPrimary[] | null) {
  const received: ToWorker[] = [];
  const worker = {
    process: { pid },
    isConnected: () => true,
    send(message: ToWorker) {
      received.push(message);
      if (message.divisorAdmin !== "request") return true;
      const answers = reply(message.request, message.id, worker);
      setImmediate(() => {
        for (const a of answers ?? []) cluster.emit("message", worker, a);
      });
      return true;
    },
  } as unknown as Worker;
  return { worker, received };
}

const ok = (status: number, text: string) => (_req: WireRequest, id: number) => [{ divisorAdmin: "response", id, status, headers: undefined, body: { text } } as ToPrimary];

function request(route: AdminRoute, query = ""): AdminRequest {
  return {
    method: route.method,
    path: route.path,
    query: new URLSearchParams(query),
    headers: { authorization: "Bearer secret-token-value", accept: "*/*" },
    params: {},
    principal: { name: "ops", tenant: undefined, readOnly: false },
    body: Buffer.from("{}"),
  };
}

const write: AdminRoute = { method: "POST", path: "/test/write", description: "a write", writes: true, handle: () => ({ status: 200, body: "" }) };
const read: AdminRoute = { method: "GET", path: "/test/read", description: "a read", handle: () => ({ status: 200, body: "" }) };

describe("the --workers primary's admin dispatch", () => {
  const admins: ClusterAdmin[] = [];
  const log = pino({ level: "silent" });
  after(() => {
    for (const a of admins) a.close();
  });

  /** A ClusterAdmin over the given workers, each announced as serving. */
  function primary(...workers: Worker[]): ClusterAdmin {
    const slots: WorkerSlot[] = workers.map((worker, index) => ({ index, worker, restarts: 0 }));
    const admin = new ClusterAdmin(slots, log);
    admins.push(admin);
    for (const w of workers) cluster.emit("message", w, { divisorAdmin: "serving", id: 0 });
    return admin;
  }

  test("a route that writes goes to every running worker with the caller's principal but not its token; the answer is the first failure", async () => {
    const a = fakeWorker(101, ok(200, "done"));
    const b = fakeWorker(102, ok(500, "broke"));
    const admin = primary(a.worker, b.worker);
    const res = await admin.dispatch(write, request(write));
    assert.equal(res.status, 500);
    assert.equal(res.body, "broke");
    for (const w of [a, b]) {
      const sent = w.received[0] as Extract<ToWorker, { divisorAdmin: "request" }>;
      assert.equal(sent.request.route, "POST /test/write");
      assert.equal(sent.request.principal.name, "ops");
      assert.equal(sent.request.headers.authorization, undefined);
      assert.equal(sent.request.headers.accept, "*/*");
      assert.equal(Buffer.from(sent.request.body, "base64").toString(), "{}");
    }
    const allOk = primary(fakeWorker(103, ok(200, "first")).worker, fakeWorker(104, ok(202, "second")).worker);
    assert.equal((await allOk.dispatch(write, request(write))).body, "first");
  });

  test("a read goes to the lowest running slot, or to the one ?worker= names (not forwarded further); a slot that is not running is a 503", async () => {
    const a = fakeWorker(201, ok(200, "from 0"));
    const b = fakeWorker(202, ok(200, "from 1"));
    const admin = primary(a.worker, b.worker);
    assert.equal((await admin.dispatch(read, request(read))).body, "from 0");
    assert.equal((await admin.dispatch(read, request(read, "worker=1&x=y"))).body, "from 1");
    assert.equal((b.received[0] as Extract<ToWorker, { divisorAdmin: "request" }>).request.query, "x=y");
    assert.equal(a.received.length, 1, "worker 0 was asked once");

    const notYet = fakeWorker(203, ok(200, "never"));
    const slots: WorkerSlot[] = [{ index: 0, worker: notYet.worker, restarts: 0 }];
    const starting = new ClusterAdmin(slots, log);
    admins.push(starting);
    const res = await starting.dispatch(read, request(read, "worker=0"));
    assert.equal(res.status, 503, "a worker that has not announced itself is not asked");
    assert.equal(notYet.received.length, 0);
  });

  test("a worker that exits before answering gives a 502 naming its slot", async () => {
    const silent = fakeWorker(301, () => null);
    const admin = primary(silent.worker);
    const pending = admin.dispatch(read, request(read));
    setImmediate(() => cluster.emit("exit", silent.worker, 1, null));
    const res = await pending;
    assert.equal(res.status, 502);
    assert.match(JSON.stringify(res.body), /worker 0 exited before answering/);
  });

  test("a streamed answer comes through as a stream of the worker's chunks, in order", async () => {
    const streaming = fakeWorker(401, (_req, id) => [
      { divisorAdmin: "head", id, status: 200, headers: { "content-type": "application/json" } },
      { divisorAdmin: "chunk", id, data: { text: '{"a":' } },
      { divisorAdmin: "chunk", id, data: { base64: Buffer.from("1}").toString("base64") } },
      { divisorAdmin: "end", id },
    ]);
    const admin = primary(streaming.worker);
    const res = await admin.dispatch(read, request(read));
    assert.equal(res.status, 200);
    assert.ok(res.body instanceof Readable);
    let text = "";
    for await (const chunk of res.body) text += chunk;
    assert.equal(text, '{"a":1}');
  });

  test("a client that goes away cancels the forwarded request on the worker", async () => {
    const slow = fakeWorker(501, () => null);
    const admin = primary(slow.worker);
    const gone = new AbortController();
    const pending = admin.dispatch(read, { ...request(read), signal: gone.signal });
    gone.abort();
    assert.equal((await pending).status, 499);
    assert.deepEqual(
      slow.received.map((m) => m.divisorAdmin),
      ["request", "abort"],
    );
  });
});
