// The kubernetes provider end to end: a gateway with `providers: [{ type: kubernetes }]`
// against the FAKE Kubernetes API (test/helpers/fake-kube-api.ts: no real API server can
// run here), real backends on port 0, real requests through the gateway.
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { DivisorConfigInput } from "../../src/config/schema.js";
import { createGateway, type Gateway } from "../../src/gateway/gateway.js";
import { TestCa } from "../helpers/certs.js";
import { loadLoop } from "../helpers/load.js";
import { eventually } from "../helpers/eventually.js";
import { type FakeKubeApi, type KubeObject, startFakeKubeApi } from "../helpers/fake-kube-api.js";
import { exited, startBuilt } from "../helpers/cli.js";
import { freePort, get, startNamedBackend, type TestBackend } from "../helpers/net.js";

let fake: FakeKubeApi;
const backends: TestBackend[] = [];

before(async () => {
  fake = await startFakeKubeApi();
});

after(async () => {
  await fake.close();
  await Promise.all(backends.map((b) => b.close().catch(() => {})));
});

async function pod(name: string, delayMs = 0): Promise<TestBackend> {
  const b = await startNamedBackend(name, delayMs);
  backends.push(b);
  return b;
}

function service(ns: string, name: string, port = 80): KubeObject {
  return { apiVersion: "v1", kind: "Service", metadata: { name, namespace: ns }, spec: { selector: { app: name }, ports: [{ name: "http", protocol: "TCP", port, targetPort: "http" }] } };
}

interface Endpoint {
  pod: TestBackend;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

function slice(ns: string, svc: string, endpoints: Endpoint[], name = `${svc}-abcde`): KubeObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: ns, labels: { "kubernetes.io/service-name": svc } },
    addressType: "IPv4",
    ports: [{ name: "http", protocol: "TCP", port: endpoints[0]?.pod.port ?? 8080 }],
    endpoints: endpoints.map((e) => ({ addresses: ["127.0.0.1"], conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating }, targetRef: { kind: "Pod", name: `pod-${e.pod.port}` } })),
  };
}

/** A slice per pod (our test pods share 127.0.0.1 and differ by port, and a slice has one port set). */
function applyPods(ns: string, svc: string, endpoints: Endpoint[], known: Set<number>): void {
  const now = new Set(endpoints.map((e) => e.pod.port));
  for (const e of endpoints) fake.apply(slice(ns, svc, [e], `${svc}-${e.pod.port}`));
  for (const port of known) if (!now.has(port)) fake.remove("EndpointSlice", ns, `${svc}-${port}`);
  known.clear();
  for (const p of now) known.add(p);
}

const ingressClass: KubeObject = {
  apiVersion: "networking.k8s.io/v1",
  kind: "IngressClass",
  metadata: { name: "divisor", annotations: { "ingressclass.kubernetes.io/is-default-class": "true" } },
  spec: { controller: "divisor.dev/ingress-controller" },
};

function ingress(ns: string, name: string, host: string, svc: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: { name, namespace: ns },
    spec: { ingressClassName: "divisor", rules: [{ host, http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: svc, port: { number: 80 } } } }] } }], ...extra },
  };
}

interface Running {
  gateway: Gateway;
  port: number;
  close(): Promise<void>;
}

async function start(provider: Record<string, unknown> = {}, config: Partial<DivisorConfigInput> = {}): Promise<Running> {
  const gateway = createGateway({
    listeners: [{ address: "127.0.0.1:0" }],
    logging: { level: "silent" },
    providers: [{ type: "kubernetes", kubeconfig: fake.kubeconfigFile, statusAddress: "203.0.113.10", ...provider } as never],
    ...config,
  });
  const [bound] = await gateway.listen();
  return { gateway, port: bound!.port, close: () => gateway.close({ gracePeriodMs: 500 }) };
}

function request(gw: Running, host: string, path = "/", agent?: http.Agent): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return get(`http://127.0.0.1:${gw.port}${path}`, { headers: { host }, agent });
}

describe("kubernetes provider (fake Kubernetes API)", () => {
  it("serves an Ingress to the ready endpoints of its Service, and writes the load balancer address into its status", async () => {
    const a = await pod("a");
    fake.apply(ingressClass);
    fake.apply(service("shop", "web"));
    applyPods("shop", "web", [{ pod: a, ready: true, serving: true, terminating: false }], new Set());
    fake.apply(ingress("shop", "web", "web.example.com", "web"));
    const gw = await start();
    try {
      await eventually(async () => assert.equal((await request(gw, "web.example.com")).body, "a", "the Ingress routes to the pod"));
      assert.equal((await request(gw, "other.example.com")).status, 404, "other hosts are not routed");
      await eventually(() =>
        assert.deepEqual((fake.get("Ingress", "shop", "web")?.status as { loadBalancer?: unknown })?.loadBalancer, { ingress: [{ ip: "203.0.113.10" }] }, "status.loadBalancer is written back"),
      );
      const p = gw.gateway.providers().find((x) => x.name === "kubernetes");
      assert.equal(p?.state, "ok", "the provider is ok");
      assert.ok(fake.requests.some((r) => r.includes("allowWatchBookmarks=true")), "watches ask for bookmarks");
    } finally {
      await gw.close();
      fake.remove("Ingress", "shop", "web");
    }
  });

  it("drops no request while a Deployment's rolling update is replayed: new endpoints ready, old ones terminating, then removed (acceptance)", async () => {
    const old = await Promise.all(["old-0", "old-1", "old-2"].map((n) => pod(n, 3)));
    const next = await Promise.all(["new-0", "new-1", "new-2"].map((n) => pod(n, 3)));
    const known = new Set<number>();
    fake.apply(ingressClass);
    fake.apply(service("roll", "app"));
    const state = new Map<TestBackend, Endpoint>(old.map((p) => [p, { pod: p, ready: true, serving: true, terminating: false }]));
    applyPods("roll", "app", [...state.values()], known);
    fake.apply(ingress("roll", "app", "app.example.com", "app"));
    const gw = await start({ namespaces: ["roll"] }, { services: {} });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 12 });
    const load = loadLoop(() => request(gw, "app.example.com", "/", agent));
    const { servedBy, failures } = load;
    const svcName = "k8s.roll.app.80";
    const inForce = (p: TestBackend) => gw.gateway.config.services[svcName]?.backends.find((b) => b.address === p.address);
    try {
      await eventually(() => assert.equal(gw.gateway.config.services[svcName]?.backends.length, 3, "the three old pods are in force"));
      load.start(10);
      // maxSurge 1, maxUnavailable 0: one new pod starts (not ready), becomes ready; one old pod terminates (still serving), then leaves.
      for (let i = 0; i < 3; i++) {
        const n = next[i]!;
        const o = old[i]!;
        state.set(n, { pod: n, ready: false, serving: false, terminating: false });
        applyPods("roll", "app", [...state.values()], known);
        await eventually(() => assert.equal(inForce(n), undefined, `new-${i} is not in rotation before it is ready`));
        state.set(n, { pod: n, ready: true, serving: true, terminating: false });
        applyPods("roll", "app", [...state.values()], known);
        await eventually(() => assert.equal(inForce(n)?.weight, 1, `new-${i} is in rotation once ready`));
        const before = servedBy.get(`new-${i}`) ?? 0;
        await eventually(() => assert.ok((servedBy.get(`new-${i}`) ?? 0) > before, `new-${i} takes requests`));
        state.set(o, { pod: o, ready: false, serving: true, terminating: true });
        applyPods("roll", "app", [...state.values()], known);
        await eventually(() => assert.equal(inForce(o)?.weight, 0, `old-${i} is drained while terminating`));
        state.delete(o);
        applyPods("roll", "app", [...state.values()], known);
        await eventually(() => assert.equal(inForce(o), undefined, `old-${i} is removed`));
        // The pod shuts down: requests in flight finish, new connections are refused.
        await new Promise<void>((resolve) => o.server.close(() => resolve()));
      }
      await load.stop();
      const total = [...servedBy.values()].reduce((n, x) => n + x, 0);
      assert.deepEqual(failures.slice(0, 5), [], `zero failed requests out of ${total + failures.length}`);
      for (const i of [0, 1, 2]) assert.ok((servedBy.get(`new-${i}`) ?? 0) > 0, `new-${i} served requests`);
      assert.ok(total > 100, `the load loop ran (${total} requests)`);
    } finally {
      void load.stop();
      agent.destroy();
      await gw.close();
      fake.remove("Ingress", "roll", "app");
    }
  });

  it("relists after a 410 Gone (compaction) and serves what changed meanwhile", async () => {
    const a = await pod("gone-a");
    const b = await pod("gone-b");
    const known = new Set<number>();
    fake.apply(ingressClass);
    fake.apply(service("gone", "svc"));
    applyPods("gone", "svc", [{ pod: a, ready: true, serving: true, terminating: false }], known);
    fake.apply(ingress("gone", "svc", "gone.example.com", "svc"));
    const gw = await start({ namespaces: ["gone"] });
    try {
      await eventually(async () => assert.equal((await request(gw, "gone.example.com")).body, "gone-a", "served by a"));
      const listsBefore = fake.requests.filter((r) => r.startsWith("GET /apis/discovery.k8s.io/v1/namespaces/gone/endpointslices") && !r.includes("watch=")).length;
      fake.compact();
      applyPods("gone", "svc", [{ pod: b, ready: true, serving: true, terminating: false }], known);
      await eventually(async () => assert.equal((await request(gw, "gone.example.com")).body, "gone-b", "the change made around the compaction is served"));
      const listsAfter = fake.requests.filter((r) => r.startsWith("GET /apis/discovery.k8s.io/v1/namespaces/gone/endpointslices") && !r.includes("watch=")).length;
      assert.ok(listsAfter > listsBefore, `the 410 made the provider relist (${listsBefore} → ${listsAfter} lists)`);
    } finally {
      await gw.close();
      fake.remove("Ingress", "gone", "svc");
    }
  });

  it("resumes a watch the server ended from the bookmarked resourceVersion, without relisting", async () => {
    const a = await pod("bm-a");
    const b = await pod("bm-b");
    const known = new Set<number>();
    fake.apply(ingressClass);
    fake.apply(service("bm", "svc"));
    applyPods("bm", "svc", [{ pod: a, ready: true, serving: true, terminating: false }], known);
    fake.apply(ingress("bm", "svc", "bm.example.com", "svc"));
    const gw = await start({ namespaces: ["bm"] });
    try {
      await eventually(async () => assert.equal((await request(gw, "bm.example.com")).body, "bm-a", "served by a"));
      // Something changes elsewhere (another namespace): only a bookmark tells this watcher the version moved on.
      fake.apply(service("elsewhere", "x"));
      const rv = fake.resourceVersion();
      fake.bookmark();
      await new Promise((r) => setTimeout(r, 200));
      const isSliceCall = (r: string) => r.startsWith("GET /apis/discovery.k8s.io/v1/namespaces/bm/endpointslices");
      const lists = fake.requests.filter((r) => isSliceCall(r) && !r.includes("watch=")).length;
      fake.dropWatches();
      await eventually(() => assert.ok(fake.requests.some((r) => isSliceCall(r) && r.includes("watch=true") && r.includes(`resourceVersion=${rv}`)), `the watch resumed from the bookmark's version ${rv}`));
      applyPods("bm", "svc", [{ pod: b, ready: true, serving: true, terminating: false }], known);
      await eventually(async () => assert.equal((await request(gw, "bm.example.com")).body, "bm-b", "changes after the resumed watch are served"));
      assert.equal(fake.requests.filter((r) => isSliceCall(r) && !r.includes("watch=")).length, lists, "no relist was needed");
    } finally {
      await gw.close();
      fake.remove("Ingress", "bm", "svc");
    }
  });

  it("serves a Gateway API HTTPRoute split by weight with its header filter, and writes Accepted, ResolvedRefs and Programmed back", async () => {
    const v1 = await pod("v1");
    const v2 = await pod("v2");
    fake.apply({ apiVersion: "gateway.networking.k8s.io/v1", kind: "GatewayClass", metadata: { name: "divisor" }, spec: { controllerName: "divisor.dev/gateway-controller" } });
    fake.apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "gw", namespace: "gapi" },
      spec: { gatewayClassName: "divisor", listeners: [{ name: "http", protocol: "HTTP", port: 80 }, { name: "udp", protocol: "UDP", port: 53 }] },
    });
    for (const [name, p] of [["v1", v1], ["v2", v2]] as const) {
      fake.apply(service("gapi", name));
      fake.apply(slice("gapi", name, [{ pod: p, ready: true, serving: true, terminating: false }]));
    }
    fake.apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "split", namespace: "gapi" },
      spec: {
        parentRefs: [{ name: "gw" }],
        hostnames: ["split.example.com"],
        rules: [
          {
            filters: [{ type: "ResponseHeaderModifier", responseHeaderModifier: { set: [{ name: "x-route", value: "split" }] } }],
            backendRefs: [
              { name: "v1", port: 80, weight: 3 },
              { name: "v2", port: 80, weight: 1 },
            ],
          },
        ],
      },
    });
    fake.apply({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "missing", namespace: "gapi" },
      spec: { parentRefs: [{ name: "gw" }], hostnames: ["missing.example.com"], rules: [{ backendRefs: [{ name: "nope", port: 80 }] }] },
    });
    const gw = await start({ namespaces: ["gapi"], ingress: { enabled: false }, gatewayApi: { enabled: true } });
    try {
      await eventually(async () => assert.equal((await request(gw, "split.example.com")).headers["x-route"], "split", "the route and its filter serve"));
      const seen = new Map<string, number>();
      for (let i = 0; i < 40; i++) {
        const body = (await request(gw, "split.example.com")).body;
        seen.set(body, (seen.get(body) ?? 0) + 1);
      }
      assert.deepEqual([seen.get("v1"), seen.get("v2")], [30, 10], "weights 3:1 are exact over 40 requests");
      type Cond = { type: string; status: string; reason: string; observedGeneration?: number };
      await eventually(() => {
        const route = fake.get("HTTPRoute", "gapi", "split") as { status?: { parents?: { controllerName: string; conditions: Cond[] }[] } } | undefined;
        const parent = route?.status?.parents?.[0];
        assert.equal(parent?.controllerName, "divisor.dev/gateway-controller", "our parent status is written");
        assert.deepEqual(parent?.conditions.map((c) => [c.type, c.status, c.observedGeneration]), [["Accepted", "True", 1], ["ResolvedRefs", "True", 1]], "Accepted and ResolvedRefs with observedGeneration");
      });
      await eventually(() => {
        const route = fake.get("HTTPRoute", "gapi", "missing") as { status?: { parents?: { conditions: Cond[] }[] } } | undefined;
        const resolved = route?.status?.parents?.[0]?.conditions.find((c) => c.type === "ResolvedRefs");
        assert.deepEqual([resolved?.status, resolved?.reason], ["False", "BackendNotFound"], "a missing Service is reported as BackendNotFound");
      });
      await eventually(() => {
        const g = fake.get("Gateway", "gapi", "gw") as { status?: { conditions: Cond[]; addresses?: unknown; listeners: { name: string; attachedRoutes: number; conditions: Cond[] }[] } } | undefined;
        assert.deepEqual(g?.status?.conditions.map((c) => [c.type, c.status]), [["Accepted", "True"], ["Programmed", "True"]], "the Gateway is Accepted and Programmed");
        assert.deepEqual(g?.status?.addresses, [{ type: "IPAddress", value: "203.0.113.10" }], "the Gateway's address");
        const http = g?.status?.listeners.find((l) => l.name === "http");
        assert.equal(http?.attachedRoutes, 1, "one route is attached to the http listener");
        const udp = g?.status?.listeners.find((l) => l.name === "udp");
        assert.deepEqual(udp?.conditions.find((c) => c.type === "Accepted")?.reason, "UnsupportedProtocol", "the UDP listener is refused with a reason");
      });
      const gc = fake.get("GatewayClass", undefined, "divisor") as { status?: { conditions: Cond[] } } | undefined;
      assert.equal(gc?.status?.conditions[0]?.status, "True", "the GatewayClass is Accepted");
      // Our own writes come back as MODIFIED events: they must settle, not loop.
      const writes = fake.statusWrites.length;
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(fake.statusWrites.length, writes, "an unchanged status is not written again");
    } finally {
      await gw.close();
    }
  });

  it("serves an Ingress's TLS Secret on the HTTPS listener, and a rotated Secret without a restart", async () => {
    const ca = new TestCa();
    const own = ca.issue(["own.example.com"], "own");
    const first = ca.issue(["secure.example.com"], "first");
    const second = ca.issue(["secure.example.com"], "second");
    const a = await pod("tls-a");
    fake.apply(ingressClass);
    fake.apply(service("tls", "web"));
    fake.apply(slice("tls", "web", [{ pod: a, ready: true, serving: true, terminating: false }]));
    const secret = (c: { cert: string; key: string }): KubeObject => ({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "secure-tls", namespace: "tls" },
      type: "kubernetes.io/tls",
      data: { "tls.crt": fs.readFileSync(c.cert).toString("base64"), "tls.key": fs.readFileSync(c.key).toString("base64") },
    });
    fake.apply(secret(first));
    fake.apply(ingress("tls", "web", "secure.example.com", "web", { tls: [{ hosts: ["secure.example.com"], secretName: "secure-tls" }] }));
    const gw = await start({ namespaces: ["tls"] }, { listeners: [{ address: "127.0.0.1:0", tls: { certificates: [{ cert: own.cert, key: own.key }] } }] });
    const peer = (): Promise<{ serial: string; body: string }> =>
      new Promise((resolve, reject) => {
        const req = https.get({ host: "127.0.0.1", port: gw.port, servername: "secure.example.com", headers: { host: "secure.example.com" }, ca: ca.caPem, agent: false }, (res) => {
          const serial = (res.socket as import("node:tls").TLSSocket).getPeerCertificate().serialNumber;
          let body = "";
          res.on("data", (c) => {
            body += c;
          });
          res.on("end", () => resolve({ serial, body }));
        });
        req.on("error", reject);
      });
    const serialOf = (pem: string) => new X509Certificate(pem).serialNumber;
    try {
      await eventually(async () => {
        const r = await peer();
        assert.equal(r.serial, serialOf(first.pem), "the Secret's certificate is served for its host");
        assert.equal(r.body, "tls-a", "and the Ingress routes behind it");
      });
      const dir = gw.gateway.config.listeners[0]!.tls!.certificates[1]!.cert;
      assert.equal(fs.statSync(dir).mode & 0o777, 0o600, "the certificate file is private (0600)");
      fake.apply(secret(second));
      await eventually(async () => assert.equal((await peer()).serial, serialOf(second.pem), "the rotated Secret is served"));
    } finally {
      await gw.close();
      ca.close();
      fake.remove("Ingress", "tls", "web");
    }
  });

  it("runs in the built divisor command, which loads @kubernetes/client-node only for this provider", async () => {
    const a = await pod("built-a");
    fake.apply(ingressClass);
    fake.apply(service("built", "web"));
    fake.apply(slice("built", "web", [{ pod: a, ready: true, serving: true, terminating: false }]));
    fake.apply(ingress("built", "web", "built.example.com", "web"));
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "divisor-k8s-cli-"));
    const file = path.join(dir, "divisor.yaml");
    fs.writeFileSync(file, `listeners: [{ address: "127.0.0.1:${port}" }]\nproviders:\n  - { type: kubernetes, kubeconfig: ${JSON.stringify(fake.kubeconfigFile)}, namespaces: [built] }\n`);
    const { child, logs } = startBuilt(["-c", file]);
    try {
      await eventually(async () => assert.equal((await get(`http://127.0.0.1:${port}/`, { headers: { host: "built.example.com" } })).body, "built-a", `the built command serves the Ingress (${logs().slice(-500)})`), 20_000);
    } finally {
      child.kill("SIGTERM");
      await exited(child);
      fs.rmSync(dir, { recursive: true, force: true });
      fake.remove("Ingress", "built", "web");
    }
  });

  it("reports the provider failed, with how to fix it, when it runs outside a pod without a kubeconfig", async () => {
    const saved = process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_HOST;
    const gateway = createGateway({ listeners: [{ address: "127.0.0.1:0" }], logging: { level: "silent" }, providers: [{ type: "kubernetes" }] });
    try {
      await gateway.listen();
      await eventually(() => {
        const p = gateway.providers().find((x) => x.name === "kubernetes");
        assert.equal(p?.state, "failed", "the provider failed");
        assert.match(p?.lastError ?? "", /not running in a pod .*give it kubeconfig/, "and says what to do");
      });
    } finally {
      if (saved !== undefined) process.env.KUBERNETES_SERVICE_HOST = saved;
      await gateway.close({ gracePeriodMs: 100 });
    }
  });

  it("reports the provider failed when the API server refuses its token, and keeps retrying", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "divisor-k8s-token-"));
    const file = path.join(dir, "kubeconfig");
    fs.writeFileSync(file, fs.readFileSync(fake.kubeconfigFile, "utf8").replace(fake.token, "wrong-token"));
    const gw = await start({ kubeconfig: file });
    try {
      await eventually(() => {
        const p = gw.gateway.providers().find((x) => x.name === "kubernetes");
        assert.equal(p?.state, "failed", "the provider failed");
        assert.match(p?.lastError ?? "", /401 Unauthorized/, "with the server's answer");
        assert.doesNotMatch(p?.lastError ?? "", /wrong-token/, "and no token in the message");
      });
      const lists = () => fake.requests.filter((r) => r === "GET /api/v1/services").length;
      const before = lists();
      await eventually(() => assert.ok(lists() > before, "it lists again after a back-off"));
    } finally {
      await gw.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reaches the API server with apiServer, tokenFile and caFile instead of a kubeconfig", async () => {
    const a = await pod("direct-a");
    fake.apply(ingressClass);
    fake.apply(service("direct", "web"));
    fake.apply(slice("direct", "web", [{ pod: a, ready: true, serving: true, terminating: false }]));
    fake.apply(ingress("direct", "web", "direct.example.com", "web"));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "divisor-k8s-direct-"));
    fs.writeFileSync(path.join(dir, "token"), `${fake.token}\n`);
    fs.writeFileSync(path.join(dir, "ca.pem"), fake.caPem);
    const gw = await start({ kubeconfig: undefined, apiServer: fake.url, tokenFile: path.join(dir, "token"), caFile: path.join(dir, "ca.pem"), namespaces: ["direct"] });
    try {
      await eventually(async () => assert.equal((await request(gw, "direct.example.com")).body, "direct-a", `served through the direct connection (${JSON.stringify(gw.gateway.providers()[0]?.lastError)})`));
    } finally {
      await gw.close();
      fs.rmSync(dir, { recursive: true, force: true });
      fake.remove("Ingress", "direct", "web");
    }
  });

  it("serves Ingresses when the Gateway API is enabled but its CRDs are not installed (its lists answer 404)", async () => {
    const bare = await startFakeKubeApi({ notServed: ["GatewayClass", "Gateway", "HTTPRoute"] });
    const a = await pod("nocrd-a");
    bare.apply(ingressClass);
    bare.apply(service("nocrd", "web"));
    bare.apply(slice("nocrd", "web", [{ pod: a, ready: true, serving: true, terminating: false }]));
    bare.apply(ingress("nocrd", "web", "nocrd.example.com", "web"));
    const gw = await start({ kubeconfig: bare.kubeconfigFile, gatewayApi: { enabled: true } });
    try {
      await eventually(async () => assert.equal((await request(gw, "nocrd.example.com")).body, "nocrd-a", "the Ingress is served without the Gateway API"));
      assert.ok(bare.requests.some((r) => r.startsWith("GET /apis/gateway.networking.k8s.io/v1/httproutes")), "the Gateway API was looked for");
    } finally {
      await gw.close();
      await bare.close();
    }
  });

  it("refuses a request without the bearer token, as the API server does (the fake checks it)", async () => {
    const res = await new Promise<number>((resolve, reject) => {
      https.get(`${fake.url}/api/v1/services`, { ca: fake.caPem }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      }).on("error", reject);
    });
    assert.equal(res, 401, "no token, 401");
  });
});
