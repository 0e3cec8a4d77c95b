import assert from "node:assert/strict";
import http2 from "node:http2";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { TestCa } from "../helpers/certs.js";
import { freePort } from "../helpers/net.js";

interface Msg {
  text: string;
  count: number;
}

const definition = protoLoader.loadSync(join(import.meta.dirname, "echo.proto"), { keepCase: true, defaults: true });
const proto = grpc.loadPackageDefinition(definition) as unknown as { divisor: { test: { Echo: grpc.ServiceClientConstructor } } };
const Echo = proto.divisor.test.Echo;

/** The generated client's methods, as these tests call them. */
type Method = (...args: unknown[]) => unknown;
type Client = grpc.Client & { Unary: Method; ServerStream: Method; ClientStream: Method; Bidi: Method };

function unary(client: Client, msg: Partial<Msg>, options: grpc.CallOptions = {}): Promise<{ reply?: Msg; err?: grpc.ServiceError }> {
  return new Promise((resolve) => {
    client.Unary(msg, new grpc.Metadata(), options, (err: grpc.ServiceError | null, reply: Msg) => resolve(err === null ? { reply } : { err }));
  });
}

describe("gRPC through the gateway (@grpc/grpc-js client and server; h2 over TLS to the gateway, h2c to the backend)", () => {
  let server: grpc.Server;
  let gw: Gateway;
  let client: Client;
  let down: Client;
  let port: number;
  let ca: TestCa;
  /** Server-side calls the backend saw cancelled (the gateway passed the client's reset on). */
  const cancelled: string[] = [];

  before(async () => {
    server = new grpc.Server();
    server.addService(Echo.service, {
      Unary(call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
        const { text } = call.request;
        if (text === "fail") {
          const md = new grpc.Metadata();
          md.set("x-why", "because");
          cb({ code: grpc.status.INVALID_ARGUMENT, details: "bad input: ünïcode & 100%", metadata: md });
          return;
        }
        if (text === "slow") {
          const timer = setTimeout(() => cb(null, { text, count: 0 }), 3000);
          call.on("cancelled", () => {
            clearTimeout(timer);
            cancelled.push("slow");
          });
          return;
        }
        const md = new grpc.Metadata();
        md.set("x-trailer", "t1");
        cb(null, { text: `echo:${text}:${call.metadata.get("x-client")[0] ?? ""}`, count: text.length }, md);
      },
      ServerStream(call: grpc.ServerWritableStream<Msg, Msg>) {
        for (let i = 0; i < call.request.count; i++) call.write({ text: `${call.request.text}-${i}`, count: i });
        call.end();
      },
      ClientStream(call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) {
        const parts: string[] = [];
        call.on("data", (m: Msg) => parts.push(m.text));
        call.on("end", () => cb(null, { text: parts.join("+"), count: parts.length }));
      },
      Bidi(call: grpc.ServerDuplexStream<Msg, Msg>) {
        call.on("data", (m: Msg) => call.write({ text: m.text.toUpperCase(), count: m.count * 2 }));
        call.on("end", () => call.end());
      },
    });
    const backendPort = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    ca = new TestCa();
    const leaf = ca.issue(["grpc.example.test"], "grpc");
    const deadPort = await freePort();
    gw = createGateway({
      listeners: [{ address: "127.0.0.1:0", tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] }, http2: {} }],
      services: {
        echo: { backends: [`127.0.0.1:${backendPort}`], protocol: "http2" },
        gone: { backends: [`127.0.0.1:${deadPort}`], protocol: "http2", timeouts: { connect: 1000 } },
      },
      routers: {
        down: { match: { path: { exact: "/divisor.test.Echo/Unary" }, headers: [{ name: "x-route", value: "down" }] }, service: "gone" },
        echo: { match: { path: { prefix: "/divisor.test.Echo" } }, service: "echo" },
      },
    });
    [{ port }] = (await gw.listen()) as unknown as [{ port: number }];
    const creds = grpc.credentials.createSsl(Buffer.from(ca.caPem));
    const options = { "grpc.ssl_target_name_override": "grpc.example.test", "grpc.default_authority": "grpc.example.test" };
    client = new Echo(`127.0.0.1:${port}`, creds, options) as unknown as Client;
    down = new Echo(`127.0.0.1:${port}`, creds, options) as unknown as Client;
  });

  after(async () => {
    client?.close();
    down?.close();
    await gw?.close({ gracePeriodMs: 300 });
    server?.forceShutdown();
  });

  test("a unary call returns the backend's reply, with request metadata passed on and trailers back", async () => {
    const md = new grpc.Metadata();
    md.set("x-client", "c1");
    const trailers = await new Promise<grpc.Metadata>((resolve, reject) => {
      const call = client.Unary({ text: "hi" }, md, (err: grpc.ServiceError | null, reply: Msg) => {
        if (err !== null) reject(err);
        else assert.deepEqual(reply, { text: "echo:hi:c1", count: 2 }, "the reply is the backend's");
      }) as grpc.ClientUnaryCall;
      call.on("status", (s: grpc.StatusObject) => resolve(s.metadata));
    });
    assert.deepEqual(trailers.get("x-trailer"), ["t1"], "the backend's trailer metadata reaches the client");
  });

  test("server streaming delivers every message in order", async () => {
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.ServerStream({ text: "s", count: 50 }) as grpc.ClientReadableStream<Msg>;
      call.on("data", (m: Msg) => got.push(m.text));
      call.on("end", () => resolve());
      call.on("error", reject);
    });
    assert.equal(got.length, 50, "all 50 messages arrive");
    assert.equal(got[0], "s-0", "first message first");
    assert.equal(got[49], "s-49", "last message last");
  });

  test("client streaming sends every message before the single reply", async () => {
    const reply = await new Promise<Msg>((resolve, reject) => {
      const call = client.ClientStream((err: grpc.ServiceError | null, r: Msg) => (err ? reject(err) : resolve(r))) as grpc.ClientWritableStream<Msg>;
      for (const t of ["a", "b", "c", "d"]) call.write({ text: t, count: 1 });
      call.end();
    });
    assert.deepEqual(reply, { text: "a+b+c+d", count: 4 }, "the backend saw the four messages in order");
  });

  test("bidirectional streaming answers each message while the call stays open", async () => {
    const call = client.Bidi() as grpc.ClientDuplexStream<Msg, Msg>;
    const next = () => new Promise<Msg>((resolve) => call.once("data", resolve));
    call.write({ text: "one", count: 1 });
    assert.deepEqual(await next(), { text: "ONE", count: 2 }, "the first answer comes before the second message is sent");
    call.write({ text: "two", count: 2 });
    assert.deepEqual(await next(), { text: "TWO", count: 4 }, "the second answer follows");
    const ended = new Promise<void>((resolve) => call.on("end", () => resolve()));
    call.on("data", () => {});
    call.end();
    await ended;
  });

  test("an error status reaches the client with its message and metadata trailers", async () => {
    const { err } = await unary(client, { text: "fail" });
    assert.ok(err !== undefined, "the call fails");
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT, "the backend's status code");
    assert.equal(err.details, "bad input: ünïcode & 100%", "the backend's message, percent-encoding intact");
    assert.deepEqual(err.metadata.get("x-why"), ["because"], "the backend's metadata");
  });

  test("a deadline the backend cannot meet ends as DEADLINE_EXCEEDED and the backend sees the call cancelled", async () => {
    const { err } = await unary(client, { text: "slow" }, { deadline: Date.now() + 300 });
    assert.equal(err?.code, grpc.status.DEADLINE_EXCEEDED, "the client's deadline passed");
    for (let i = 0; i < 50 && cancelled.length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(cancelled, ["slow"], "the gateway reset the backend's stream when the client reset its own");
  });

  test("no reachable backend answers UNAVAILABLE as a trailers-only gRPC response with HTTP 200", async () => {
    const md = new grpc.Metadata();
    md.set("x-route", "down");
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      down.Unary({ text: "x" }, md, (e: grpc.ServiceError | null) => resolve(e!));
    });
    assert.equal(err.code, grpc.status.UNAVAILABLE, "UNAVAILABLE");
    assert.match(err.details, /refused|backend/, "the message says why");
    // The same call by hand: one HEADERS frame, :status 200, grpc-status in it, END_STREAM.
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: ca.caPem, servername: "grpc.example.test" });
    try {
      const { headers, body } = await new Promise<{ headers: http2.IncomingHttpHeaders; body: number }>((resolve, reject) => {
        const req = session.request({ ":method": "POST", ":path": "/divisor.test.Echo/Unary", "content-type": "application/grpc", te: "trailers", "x-route": "down" });
        let body = 0;
        let headers: http2.IncomingHttpHeaders = {};
        req.on("response", (h) => {
          headers = h;
        });
        req.on("data", (c: Buffer) => (body += c.length));
        req.on("end", () => resolve({ headers, body }));
        req.on("error", reject);
        req.end(Buffer.from([0, 0, 0, 0, 0]));
      });
      assert.equal(headers[":status"], 200, "HTTP 200, as gRPC wants");
      assert.equal(headers["grpc-status"], "14", "grpc-status 14 in the only HEADERS frame");
      assert.equal(headers["content-type"], "application/grpc", "a gRPC content-type");
      assert.equal(body, 0, "no message body");
    } finally {
      session.close();
    }
  });

  test("gRPC statuses are counted by router, service and grpc_status", async () => {
    const text = (await gw.metrics())
      .split("\n")
      .filter((l) => l.startsWith("divisor_grpc_responses_total"))
      .join("\n");
    assert.match(text, /divisor_grpc_responses_total\{listener="[^"]+",tenant="",router="echo",service="echo",grpc_status="0"\} [1-9]/, "OK calls counted");
    assert.match(text, /divisor_grpc_responses_total\{[^}]*router="echo",service="echo",grpc_status="3"\} 1/, "the INVALID_ARGUMENT call counted");
    assert.match(text, /divisor_grpc_responses_total\{[^}]*router="down",service="gone",grpc_status="14"\} [1-9]/, "the gateway's UNAVAILABLE answers counted");
  });
});
