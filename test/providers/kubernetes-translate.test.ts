// The kubernetes provider's translators as pure functions (no API server), and the
// Ingress and Gateway API examples of the Kubernetes and Gateway API docs
// (test/fixtures/kubernetes/) through `divisor routes` and `divisor explain --kubernetes`.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { backendsOf } from "../../src/providers/kubernetes/endpoints.js";
import { snapshotFromObjects } from "../../src/providers/kubernetes/fixtures.js";
import { ingressIsOurs } from "../../src/providers/kubernetes/ingress.js";
import type { EndpointSlice, Ingress, KubeObject } from "../../src/providers/kubernetes/objects.js";
import { GATEWAY_CONTROLLER, INGRESS_CONTROLLER } from "../../src/providers/kubernetes/schema.js";
import type { TranslateOptions } from "../../src/providers/kubernetes/snapshot.js";
import { desiredStatus } from "../../src/providers/kubernetes/status.js";
import { translate } from "../../src/providers/kubernetes/translate.js";
import { validateConfig } from "../../src/config/load.js";
import { ROOT, runBuilt } from "../helpers/cli.js";

const OPTIONS: TranslateOptions = {
  provider: "kubernetes",
  endpointSlices: true,
  ingress: { enabled: true, class: "divisor", controller: INGRESS_CONTROLLER },
  gatewayApi: { enabled: true, controllerName: GATEWAY_CONTROLLER },
  now: "2026-01-01T00:00:00.000Z",
};

function endpointSlice(endpoints: { ip: string; ready?: boolean | null; serving?: boolean | null; terminating?: boolean | null }[], addressType: "IPv4" | "IPv6" = "IPv4"): EndpointSlice {
  return {
    addressType,
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
    endpoints: endpoints.map((e) => ({ addresses: [e.ip], conditions: { ready: e.ready, serving: e.serving, terminating: e.terminating } })),
  };
}

describe("kubernetes EndpointSlices → backends", () => {
  it("puts ready endpoints in rotation, drains serving terminating ones, and leaves out the ones not serving", () => {
    const got = backendsOf({ name: "http", port: 80 }, [
      endpointSlice([
        { ip: "10.0.0.1", ready: true, serving: true, terminating: false },
        { ip: "10.0.0.2", ready: false, serving: true, terminating: true },
        { ip: "10.0.0.3", ready: false, serving: false, terminating: true },
        { ip: "10.0.0.4", ready: false, serving: false, terminating: false },
        { ip: "10.0.0.5" },
      ]),
    ]);
    assert.deepEqual(
      got,
      [
        { address: "10.0.0.1:8080", weight: 1 },
        { address: "10.0.0.5:8080", weight: 1 },
        { address: "10.0.0.2:8080", weight: 0 },
      ],
      "ready (and unknown, read as ready) at weight 1, terminating-serving at weight 0, the rest out",
    );
  });

  it("lets serving terminating endpoints take traffic when no endpoint is ready, as kube-proxy does", () => {
    const got = backendsOf({ name: "http", port: 80 }, [endpointSlice([{ ip: "10.0.0.2", ready: false, serving: true, terminating: true }])]);
    assert.deepEqual(got, [{ address: "10.0.0.2:8080", weight: 1 }], "the only serving endpoint keeps serving");
  });

  it("brackets IPv6 addresses, keeps an endpoint seen in two slices once, and ignores slices of another port", () => {
    const v6 = endpointSlice([{ ip: "fd00::1", ready: true }], "IPv6");
    const other: EndpointSlice = { addressType: "IPv4", ports: [{ name: "metrics", port: 9090 }], endpoints: [{ addresses: ["10.0.0.9"] }] };
    const got = backendsOf({ name: "http", port: 80 }, [v6, v6, other]);
    assert.deepEqual(got, [{ address: "[fd00::1]:8080", weight: 1 }], "one bracketed backend");
  });
});

function ingress(name: string, spec: Ingress["spec"], annotations?: Record<string, string>): Ingress {
  return { apiVersion: "networking.k8s.io/v1", kind: "Ingress", metadata: { name, namespace: "default", annotations }, spec };
}

describe("kubernetes provider configuration", () => {
  it("refuses kubeconfig and apiServer together, and tokenFile without apiServer, naming the key", () => {
    const listeners = [{ address: "127.0.0.1:0" }];
    assert.throws(
      () => validateConfig({ listeners, providers: [{ type: "kubernetes", kubeconfig: "/k", apiServer: "https://10.0.0.1:6443" }] }),
      /providers\[0\]\.apiServer[\s\S]*give kubeconfig or apiServer, not both/,
      "both ways to reach the API server",
    );
    assert.throws(() => validateConfig({ listeners, providers: [{ type: "kubernetes", tokenFile: "/t" }] }), /tokenFile and caFile go with apiServer/, "a token file alone");
    assert.throws(() => validateConfig({ listeners, providers: [{ type: "kubernetes", namespaces: ["Not_A_Namespace"] }] }), /expected a namespace name/, "a bad namespace");
  });

  it("sends to a Service's cluster IP when endpointSlices is off", () => {
    const svc = { apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { clusterIP: "10.96.0.10", ports: [{ port: 80 }] } };
    const spec = { ingressClassName: "divisor", defaultBackend: { service: { name: "s", port: { number: 80 } } } };
    const t = translate(snapshotFromObjects([svc, ingress("a", spec)]), { ...OPTIONS, endpointSlices: false });
    assert.deepEqual(t.fragment.backends["k8s.default.s.80"], [{ address: "10.96.0.10:80", weight: 1 }], "one backend: the cluster IP at the Service port");
  });
});

describe("kubernetes Ingress → routers", () => {
  const ours = { apiVersion: "networking.k8s.io/v1", kind: "IngressClass", metadata: { name: "edge" }, spec: { controller: INGRESS_CONTROLLER } };
  const defaultOurs = { ...ours, metadata: { name: "edge", annotations: { "ingressclass.kubernetes.io/is-default-class": "true" } } };
  const opts = { class: "divisor", controller: INGRESS_CONTROLLER };

  it("claims Ingresses of its IngressClasses, of the configured class name, and without a class only when it is the default", () => {
    assert.ok(ingressIsOurs(ingress("a", { ingressClassName: "edge" }), [ours], opts), "a class whose controller is ours");
    assert.ok(ingressIsOurs(ingress("b", { ingressClassName: "divisor" }), [], opts), "the configured class name");
    assert.ok(ingressIsOurs(ingress("c", {}, { "kubernetes.io/ingress.class": "divisor" }), [], opts), "the legacy annotation");
    assert.ok(!ingressIsOurs(ingress("d", { ingressClassName: "nginx" }), [ours], opts), "another class is not ours");
    assert.ok(!ingressIsOurs(ingress("e", {}), [ours], opts), "no class, and ours is not the default");
    assert.ok(ingressIsOurs(ingress("f", {}), [defaultOurs], opts), "no class, and ours is the default");
  });

  it("keeps the oldest of two Ingresses routing the same host and path, and reports the other", () => {
    const svc = { apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { ports: [{ port: 80 }] } };
    const rule = { rules: [{ host: "a.example.com", http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: "s", port: { number: 80 } } } }] } }], ingressClassName: "divisor" };
    const older = { ...ingress("older", rule), metadata: { name: "older", namespace: "default", creationTimestamp: "2026-01-01T00:00:00Z" } };
    const newer = { ...ingress("newer", rule), metadata: { name: "newer", namespace: "default", creationTimestamp: "2026-02-01T00:00:00Z" } };
    const t = translate(snapshotFromObjects([svc, newer, older]), OPTIONS);
    assert.deepEqual(Object.keys(t.fragment.routers), ["k8s.ingress.default.older.0.0"], "the older Ingress keeps the route");
    assert.match(t.problems.map((p) => p.message).join("\n"), /already routed by k8s\.ingress\.default\.older\.0\.0/, "the newer one is reported");
  });

  it("runs the middlewares an Ingress names in its divisor.dev/middlewares annotation, and refuses a malformed one", () => {
    const svc = { apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec: { ports: [{ port: 80 }] } };
    const spec = { ingressClassName: "divisor", defaultBackend: { service: { name: "s", port: { number: 80 } } } };
    const t = translate(snapshotFromObjects([svc, ingress("a", spec, { "divisor.dev/middlewares": "auth, rate-limit" }), ingress("b", spec, { "divisor.dev/middlewares": "bad name" })]), OPTIONS);
    assert.deepEqual(t.fragment.routers["k8s.ingress.default.a.default"]?.middlewares, ["auth", "rate-limit"], "the annotation's middlewares run");
    assert.equal(t.fragment.routers["k8s.ingress.default.b.default"], undefined, "the malformed annotation's Ingress is not served");
    assert.match(t.problems[0]?.message ?? "", /"bad name" is not a middleware name/, "and the reason names the bad entry");
  });
});

function gatewayObjects(listener: Record<string, unknown>, route: Record<string, unknown>, routeNs = "default"): (KubeObject & { spec?: unknown })[] {
  return [
    { apiVersion: "gateway.networking.k8s.io/v1", kind: "GatewayClass", metadata: { name: "divisor" }, spec: { controllerName: GATEWAY_CONTROLLER } },
    { apiVersion: "gateway.networking.k8s.io/v1", kind: "Gateway", metadata: { name: "gw", namespace: "default", generation: 2 }, spec: { gatewayClassName: "divisor", listeners: [{ name: "http", protocol: "HTTP", port: 80, ...listener }] } },
    { apiVersion: "v1", kind: "Service", metadata: { name: "s", namespace: routeNs }, spec: { ports: [{ port: 80 }] } },
    { apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", metadata: { name: "r", namespace: routeNs, generation: 3 }, spec: { parentRefs: [{ name: "gw", namespace: "default" }], rules: [{ backendRefs: [{ name: "s", port: 80 }] }], ...route } },
  ];
}

type ParentStatus = { conditions: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[] };

function routeStatus(t: ReturnType<typeof translate>): ParentStatus {
  const s = t.statuses.find((x) => x.kind === "HTTPRoute");
  assert.ok(s !== undefined, "the route has a status");
  return (s.status.parents as ParentStatus[])[0]!;
}

describe("kubernetes Gateway API → routers", () => {
  it("narrows a route's hostnames to its listener's: a wildcard listener keeps the names within it", () => {
    const t = translate(snapshotFromObjects(gatewayObjects({ hostname: "*.example.com" }, { hostnames: ["a.example.com", "b.other.org", "*.example.com"] })), OPTIONS);
    assert.deepEqual(t.fragment.routers["k8s.httproute.default.r.0.0"]?.match?.hosts, ["*.example.com", "a.example.com"], "names outside *.example.com are dropped");
  });

  it("does not attach a route from another namespace to a listener that allows only its own", () => {
    const t = translate(snapshotFromObjects(gatewayObjects({}, {}, "team")), OPTIONS);
    assert.deepEqual(Object.keys(t.fragment.routers), [], "nothing is routed");
    const accepted = routeStatus(t).conditions.find((c) => c.type === "Accepted");
    assert.deepEqual([accepted?.status, accepted?.reason, accepted?.observedGeneration], ["False", "NotAllowedByListeners", 3], "Accepted False with the route's generation");
    const t2 = translate(snapshotFromObjects(gatewayObjects({ allowedRoutes: { namespaces: { from: "All" } } }, {}, "team")), OPTIONS);
    assert.ok(t2.fragment.routers["k8s.httproute.team.r.0.0"] !== undefined, "allowedRoutes from All lets it in");
  });

  it("refuses a route it cannot honour whole, with the field in an UnsupportedValue condition", () => {
    const scheme = translate(snapshotFromObjects(gatewayObjects({}, { rules: [{ filters: [{ type: "RequestRedirect", requestRedirect: { scheme: "https" } }] }] })), OPTIONS);
    const c = routeStatus(scheme).conditions[0]!;
    assert.deepEqual([c.status, c.reason], ["False", "UnsupportedValue"], "a scheme redirect is refused");
    assert.match(c.message, /redirectToHttps/, "and the message says what to use instead");
    assert.deepEqual(Object.keys(scheme.fragment.routers), [], "the route is not served half-right");
    const mirror = translate(snapshotFromObjects(gatewayObjects({}, { rules: [{ filters: [{ type: "RequestMirror" }], backendRefs: [{ name: "s", port: 80 }] }] })), OPTIONS);
    assert.match(routeStatus(mirror).conditions[0]!.message, /filter type RequestMirror is not supported/, "an unsupported filter is named");
    assert.deepEqual(Object.keys(mirror.fragment.middlewares), [], "and leaves no middleware behind");
  });

  it("refuses one route whose regular expression or header name is invalid, and still serves the others", () => {
    const objects = gatewayObjects({}, { hostnames: ["bad.example.com"], rules: [{ matches: [{ path: { type: "RegularExpression", value: "/(unclosed" } }], backendRefs: [{ name: "s", port: 80 }] }] });
    objects.push({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: { name: "hdr", namespace: "default" },
      spec: { parentRefs: [{ name: "gw" }], hostnames: ["hdr.example.com"], rules: [{ matches: [{ headers: [{ name: "bad header", value: "x" }] }], backendRefs: [{ name: "s", port: 80 }] }] },
    });
    objects.push({ apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", metadata: { name: "good", namespace: "default" }, spec: { parentRefs: [{ name: "gw" }], hostnames: ["good.example.com"], rules: [{ backendRefs: [{ name: "s", port: 80 }] }] } });
    const t = translate(snapshotFromObjects(objects), OPTIONS);
    assert.deepEqual(Object.keys(t.fragment.routers), ["k8s.httproute.default.good.0.0"], "only the good route is served");
    const messages = t.statuses.filter((s) => s.kind === "HTTPRoute").map((s) => (s.status.parents as ParentStatus[])[0]!.conditions[0]!.message);
    assert.ok(messages.some((m) => /regular expression "\/\(unclosed"/.test(m)), `the bad regex is named (${messages.join(" | ")})`);
    assert.ok(messages.some((m) => /match\.headers\.0\.name/.test(m)), `the bad header name is named (${messages.join(" | ")})`);
  });

  it("turns URLRewrite and RequestRedirect path modifiers into rewrite-path, strip-prefix and redirect middlewares", () => {
    const rules = [
      { matches: [{ path: { type: "PathPrefix", value: "/old" } }], filters: [{ type: "URLRewrite", urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/new" } } }], backendRefs: [{ name: "s", port: 80 }] },
      { matches: [{ path: { type: "PathPrefix", value: "/strip/" } }], filters: [{ type: "URLRewrite", urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/" } } }], backendRefs: [{ name: "s", port: 80 }] },
      { matches: [{ path: { type: "Exact", value: "/full" } }], filters: [{ type: "RequestRedirect", requestRedirect: { hostname: "x.example.com", port: 8443, path: { type: "ReplaceFullPath", replaceFullPath: "/$1" } } }] },
    ];
    const t = translate(snapshotFromObjects(gatewayObjects({}, { rules })), OPTIONS);
    assert.deepEqual(t.fragment.middlewares["k8s.httproute.default.r.0.0.f0"], { type: "rewrite-path", regex: "^/old", replacement: "/new" }, "a prefix replaced by another");
    assert.deepEqual(t.fragment.middlewares["k8s.httproute.default.r.1.0.f0"], { type: "strip-prefix", prefixes: ["/strip"] }, "a prefix replaced by / is stripped");
    assert.deepEqual(
      t.fragment.middlewares["k8s.httproute.default.r.2.0.f0"],
      { type: "redirect", status: 302, host: "x.example.com:8443", regex: "^[^?]*", replacement: "/$$1" },
      "a full-path redirect keeps the query, and a $ in the path is literal",
    );
    assert.equal(t.fragment.routers["k8s.httproute.default.r.2.0"]?.service, undefined, "a redirect rule needs no backend");
  });

  it("keeps the lastTransitionTime of a condition whose status did not change, and other controllers' parents", () => {
    const t = translate(snapshotFromObjects(gatewayObjects({}, {})), OPTIONS);
    const u = t.statuses.find((x) => x.kind === "HTTPRoute")!;
    const ours = u.status.parents as { parentRef: unknown; controllerName: string; conditions: { type: string; status: string; lastTransitionTime: string }[] }[];
    const current = {
      parents: [
        { parentRef: { name: "theirs" }, controllerName: "example.net/other", conditions: [] },
        { ...ours[0], conditions: ours[0]!.conditions.map((c) => ({ ...c, lastTransitionTime: "2020-01-01T00:00:00Z" })) },
      ],
    };
    const next = desiredStatus(u, current, GATEWAY_CONTROLLER) as typeof current;
    assert.equal(next.parents.length, 2, "the other controller's parent stays");
    assert.equal(next.parents[0]?.controllerName, "example.net/other", "untouched");
    assert.deepEqual(
      next.parents[1]?.conditions.map((c) => c.lastTransitionTime),
      ["2020-01-01T00:00:00Z", "2020-01-01T00:00:00Z"],
      "unchanged conditions keep their transition time",
    );
  });
});

describe("Kubernetes docs examples through divisor routes and divisor explain --kubernetes", () => {
  const config = join(ROOT, "test/fixtures/kubernetes/divisor.yaml");
  const ingressDir = join(ROOT, "test/fixtures/kubernetes/ingress");
  const gatewayDir = join(ROOT, "test/fixtures/kubernetes/gateway-api");
  const explain = async (dir: string, url: string, ...headers: string[]) => {
    const r = await runBuilt(["explain", "-c", config, "--kubernetes", dir, "GET", url, ...headers.flatMap((h) => ["-H", h])]);
    assert.equal(r.code, 0, `explain exits 0 (${r.err})`);
    return r.out;
  };

  it("routes the Ingress examples (fanout, virtual hosts, wildcard host, TLS, path types, default backend) as the Ingress docs describe", async () => {
    const cases: [string, RegExp][] = [
      ["http://any.host/testpath/x", /router: {2}k8s\.ingress\.default\.minimal-ingress\.0\.0: hosts \*; path prefix \/testpath[\s\S]*backend: 10\.1\.0\.10:9376/],
      ["http://foo.bar.com/bar", /router: {2}k8s\.ingress\.default\.ingress-wildcard-host\.0\.0[\s\S]*service: k8s\.default\.service1\.80/],
      ["http://baz.foo.com/foo", /router: {2}k8s\.ingress\.default\.ingress-wildcard-host\.1\.0: hosts \*\.foo\.com[\s\S]*service: k8s\.default\.service2\.80/],
      ["http://fanout.bar.com/foo/a", /service: k8s\.default\.service1\.4200[\s\S]*backend: 10\.1\.1\.1:4200/],
      ["http://fanout.bar.com/bar", /service: k8s\.default\.service2\.8080[\s\S]*backend: 10\.1\.2\.1:8081/],
      ["http://vhost.foo.com/", /router: {2}k8s\.ingress\.default\.name-virtual-host-ingress\.0\.0[\s\S]*backend: 10\.1\.1\.1:8080/],
      ["http://vhost.bar.com/", /service: k8s\.default\.service2\.8080/],
      ["https://https-example.foo.com/", /router: {2}k8s\.ingress\.default\.tls-example-ingress\.0\.0/],
      ["http://paths.example.com/aaa/bbb", /router: {2}k8s\.ingress\.default\.path-types\.0\.0: hosts paths\.example\.com; path exact \/aaa\/bbb/],
      ["http://paths.example.com/aaa/bbbxyz", /router: {2}k8s\.ingress\.default\.path-types\.0\.1: hosts paths\.example\.com; path prefix \/aaa;/],
      ["http://paths.example.com/aaaxyz", /router: {2}k8s\.ingress\.default\.path-types\.default: hosts \*; path any; priority -1000/],
      ["http://nginx.example.com/", /router: {2}k8s\.ingress\.default\.path-types\.default/],
    ];
    for (const [url, want] of cases) assert.match(await explain(ingressDir, url), want, `${url} is routed as the docs say`);
  });

  it("prints the Gateway API guides' routing table: header match, 90/10 split, redirect, rewrite, header modifiers; and refuses the query match", async () => {
    const r = await runBuilt(["routes", "-c", config, "--kubernetes", gatewayDir]);
    assert.equal(r.code, 0, `routes exits 0 (${r.err})`);
    const rows = r.out
      .split("\n")
      .slice(1)
      .filter((l) => l.trim() !== "")
      .map((l) => l.trim().split(/\s{2,}/));
    const row = (name: string) => rows.find((x) => x[1] === name)?.join(" | ");
    assert.match(row("k8s.httproute.default.foo-route.0.0") ?? "", /foo\.example\.com \| prefix \/login \| \* \| - \| 0 \| k8s\.default\.foo-svc\.8080/, "foo-route");
    assert.match(row("k8s.httproute.default.bar-route.0.0") ?? "", /bar\.example\.com \| \* \| \* \| env=canary \| 0 \| k8s\.default\.bar-svc-canary\.8080/, "bar-route's canary rule");
    assert.match(row("k8s.httproute.default.canary-route.0.0") ?? "", /split k8s\.default\.foo-v1\.8080:90 k8s\.default\.foo-v2\.8080:10/, "the 90/10 split");
    assert.match(row("k8s.httproute.default.http-filter-redirect-path.0.0") ?? "", /prefix \/cayenne .*\(no service\) via k8s\.httproute\.default\.http-filter-redirect-path\.0\.0\.f0/, "the path redirect");
    assert.match(row("k8s.httproute.default.http-filter-rewrite.0.0") ?? "", /rewrite\.example \| prefix \/cardamom .*f0\.host > .*f0$/, "the rewrite: host, then path");
    assert.equal(row("k8s.httproute.default.query-route.0.0"), undefined, "the queryParams route is not served");
    assert.equal(row("k8s.httproute.default.http-filter-redirect.0.0"), undefined, "the scheme redirect is not served");
    assert.match(r.err, /HTTPRoute default\/query-route: .*queryParams matches are not supported/, "and the reason is printed");
    const canary = await explain(gatewayDir, "http://bar.example.com/", "env: canary");
    assert.match(canary, /service: k8s\.default\.bar-svc-canary\.8080/, "env: canary goes to the canary");
    const plain = await explain(gatewayDir, "http://bar.example.com/");
    assert.match(plain, /service: k8s\.default\.bar-svc\.8080/, "the rest to bar-svc");
    const split = await explain(gatewayDir, "http://canary.example.com/");
    assert.match(split, /split: {3}k8s\.default\.foo-v1\.8080:90 k8s\.default\.foo-v2\.8080:10/, "explain shows the split");
    const v6 = await explain(gatewayDir, "http://rewrite.example/cardamom/x");
    assert.match(v6, /backend: \[fd00::10\]:8000/, "an IPv6 endpoint is bracketed");
  });

  it("exits non-zero with the file named when the manifests do not parse", async () => {
    const r = await runBuilt(["routes", "-c", config, "--kubernetes", join(ROOT, "test/fixtures/kubernetes/divisor.yaml")]);
    assert.notEqual(r.code, 0, "a non-Kubernetes document is refused");
    assert.match(r.err, /divisor\.yaml: every document must be a Kubernetes object with kind and metadata\.name/, "naming the file");
  });
});
