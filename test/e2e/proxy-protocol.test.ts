import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import tls from "node:tls";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { type IssuedCertificate, TestCa } from "../helpers/certs.js";
import { freePort, startBackend, type TestBackend } from "../helpers/net.js";

/** One HTTP/1.1 request on a fresh connection from `localAddress` (any 127/8 address is this machine). */
function request(port: number, localAddress: string, path = "/", wrap?: (s: net.Socket) => net.Socket, prefix = ""): Promise<string> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({ port, host: "127.0.0.1", localAddress });
    const s = wrap === undefined ? raw : wrap(raw);
    const send = () => s.write(`${prefix}GET ${path} HTTP/1.1\r\nHost: app.example.test\r\nConnection: close\r\n\r\n`);
    if (wrap === undefined) raw.once("connect", send);
    else s.once("secureConnect", send);
    let out = "";
    s.on("data", (d) => (out += d));
    s.on("end", () => resolve(out));
    s.on("close", () => resolve(out));
    s.on("error", reject);
  });
}

function body(response: string): string {
  return response.slice(response.indexOf("\r\n\r\n") + 4);
}

/** Whether `port` accepts connections within 5 s (false at once if `child` exits). */
async function untilListening(port: number, child: ChildProcess): Promise<boolean> {
  for (let i = 0; i < 100 && child.exitCode === null; i++) {
    const up = await new Promise<boolean>((r) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.destroy();
        r(true);
      });
      s.on("error", () => r(false));
    });
    if (up) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Debian's haproxy in TCP mode, started in a temp dir, in front of the gateway. */
async function startHaproxy(dir: string, frontends: { port: number; to: number; send: "send-proxy" | "send-proxy-v2" }[]): Promise<ChildProcess> {
  const cfg = join(dir, "haproxy.cfg");
  const lines = ["global", "  maxconn 100", "defaults", "  mode tcp", "  timeout connect 2s", "  timeout client 10s", "  timeout server 10s"];
  frontends.forEach((f, i) => {
    lines.push(`frontend f${i}`, `  bind 127.0.0.1:${f.port}`, `  default_backend b${i}`, `backend b${i}`, `  server gw 127.0.0.1:${f.to} ${f.send} source 127.0.0.1`);
  });
  writeFileSync(cfg, `${lines.join("\n")}\n`);
  const child = spawn("haproxy", ["-db", "-f", cfg], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  if (await untilListening(frontends[0]!.port, child)) return child;
  throw new Error(`haproxy did not start: ${err}`);
}

describe("PROXY protocol behind a real HAProxy (send-proxy and send-proxy-v2)", () => {
  let dir: string;
  let ca: TestCa;
  let leaf: IssuedCertificate;
  let backend: TestBackend;
  let gw: Gateway;
  let haproxy: ChildProcess;
  let httpPort: number;
  let httpsPort: number;
  const front = { v1: 0, v2: 0, tls: 0 };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-proxy-protocol-"));
    ca = new TestCa();
    leaf = ca.issue(["app.example.test"], "app");
    backend = await startBackend((req, res) => res.end(String(req.headers["x-forwarded-for"])));
    httpPort = await freePort();
    httpsPort = await freePort();
    gw = createGateway({
      listeners: [
        { address: `127.0.0.1:${httpPort}`, name: "plain", proxyProtocol: { trusted: ["127.0.0.1"] } },
        { address: `127.0.0.1:${httpsPort}`, name: "secure", proxyProtocol: { trusted: ["127.0.0.1/32"] }, tls: { certificates: [{ cert: leaf.cert, key: leaf.key }] } },
      ],
      services: { app: { backends: [backend.address] } },
      middlewares: { office: { type: "ip-filter", allow: ["127.0.0.0/30"] } },
      routers: {
        office: { match: { path: { prefix: "/office" } }, service: "app", middlewares: ["office"] },
        all: { service: "app" },
      },
    });
    await gw.listen();
    front.v1 = await freePort();
    front.v2 = await freePort();
    front.tls = await freePort();
    haproxy = await startHaproxy(dir, [
      { port: front.v1, to: httpPort, send: "send-proxy" },
      { port: front.v2, to: httpPort, send: "send-proxy-v2" },
      { port: front.tls, to: httpsPort, send: "send-proxy-v2" },
    ]);
  });
  after(async () => {
    haproxy?.kill("SIGKILL");
    await gw?.close({ gracePeriodMs: 200 });
    await backend?.close();
    ca?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("the client's address from a v1 or v2 header is the one backends and middlewares see", async () => {
    assert.equal(body(await request(front.v1, "127.0.0.5")), "127.0.0.5");
    assert.equal(body(await request(front.v2, "127.0.0.6")), "127.0.0.6");
    // ip-filter decides on the address the header gave, not on HAProxy's.
    assert.match(await request(front.v2, "127.0.0.2", "/office"), /^HTTP\/1\.1 200/);
    assert.match(await request(front.v2, "127.0.0.9", "/office"), /^HTTP\/1\.1 403/);
    const m = await gw.metrics();
    assert.match(m, /divisor_proxy_protocol_headers_total\{listener="plain",version="v1"\} [1-9]/);
    assert.match(m, /divisor_proxy_protocol_headers_total\{listener="plain",version="v2"\} [1-9]/);
  });

  test("the header comes before TLS: HTTPS through HAProxy in TCP mode keeps the client's address", async () => {
    const res = await request(front.tls, "127.0.0.7", "/", (raw) => tls.connect({ socket: raw, servername: "app.example.test", ca: ca.caPem }));
    assert.equal(body(res), "127.0.0.7");
  });

  test("a trusted peer without a header is served as itself; an untrusted one's forged header is not believed", async () => {
    assert.equal(body(await request(httpPort, "127.0.0.1")), "127.0.0.1");
    const forged = await request(httpPort, "127.0.0.8", "/", undefined, "PROXY TCP4 198.51.100.1 127.0.0.1 1234 80\r\n");
    assert.match(forged, /^HTTP\/1\.1 (400|501)/, "refused as HTTP, not read as a PROXY header");
    assert.doesNotMatch(forged, /198\.51\.100\.1/);
  });

  test("a malformed header from a trusted peer closes the connection and is counted; the listener goes on", async () => {
    const res = await request(httpPort, "127.0.0.1", "/", undefined, "PROXY TCP4 not-an-ip 127.0.0.1 1 2\r\n");
    assert.equal(res, "");
    assert.match(await gw.metrics(), /divisor_proxy_protocol_errors_total\{listener="plain"\} [1-9]/);
    assert.equal(body(await request(front.v2, "127.0.0.6")), "127.0.0.6");
  });
});

/**
 * Debian's nginx answering with the address its PROXY header gave, on a listener that requires one.
 * One process (master_process off): the test's SIGKILL then leaves no orphaned worker behind.
 */
async function startProxyProtocolNginx(dir: string, port: number): Promise<ChildProcess> {
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${dir}/${t};`).join("\n");
  const conf = join(dir, "nginx.conf");
  writeFileSync(
    conf,
    `pid ${dir}/nginx.pid;\nerror_log ${dir}/nginx-error.log;\nworker_processes 1;\nevents {}\nhttp {\n  access_log off;\n${temp}\n  server {\n    listen 127.0.0.1:${port} proxy_protocol;\n    location / { return 200 "$proxy_protocol_addr $remote_addr\\n"; }\n  }\n}\n`,
  );
  const child = spawn("nginx", ["-p", dir, "-e", join(dir, "nginx-error.log"), "-c", conf, "-g", "daemon off; master_process off;"], { stdio: ["ignore", "ignore", "pipe"] });
  if (await untilListening(port, child)) return child;
  throw new Error("nginx did not start");
}

describe("PROXY protocol to backends: services.<name>.proxyProtocol, read by a real nginx (listen ... proxy_protocol)", () => {
  let dir: string;
  let nginx: ChildProcess;
  let gw: Gateway;
  let httpPort: number;
  let tcpPort: number;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "divisor-send-proxy-"));
    const nginxPort = await freePort();
    nginx = await startProxyProtocolNginx(dir, nginxPort);
    httpPort = await freePort();
    tcpPort = await freePort();
    gw = createGateway({
      listeners: [
        { address: `127.0.0.1:${httpPort}`, name: "http" },
        { address: `127.0.0.1:${tcpPort}`, name: "tcp", tcp: { service: "v2" } },
      ],
      services: {
        v1: { backends: [`127.0.0.1:${nginxPort}`], proxyProtocol: "v1" },
        v2: { backends: [`127.0.0.1:${nginxPort}`], proxyProtocol: "v2" },
      },
      routers: {
        v1: { match: { path: { prefix: "/v1" } }, service: "v1" },
        v2: { service: "v2" },
      },
    });
    await gw.listen();
  });
  after(async () => {
    await gw?.close({ gracePeriodMs: 200 });
    nginx?.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  });

  test("the backend learns each client's address from the header, v1 and v2; no connection carries two clients", async () => {
    assert.equal(body(await request(httpPort, "127.0.0.5", "/v1/a")), "127.0.0.5 127.0.0.1\n");
    assert.equal(body(await request(httpPort, "127.0.0.6", "/v1/b")), "127.0.0.6 127.0.0.1\n");
    assert.equal(body(await request(httpPort, "127.0.0.7", "/v2")), "127.0.0.7 127.0.0.1\n");
    assert.equal(body(await request(httpPort, "127.0.0.8", "/v2")), "127.0.0.8 127.0.0.1\n");
  });

  test("a TCP listener sends the header at the start of each tunnel", async () => {
    assert.equal(body(await request(tcpPort, "127.0.0.9", "/")), "127.0.0.9 127.0.0.1\n");
  });
});
