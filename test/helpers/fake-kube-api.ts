// A FAKE Kubernetes API server for tests: no real API server can run on this machine.
// It speaks the published list/watch protocol (https://kubernetes.io/docs/reference/using-api/api-concepts/)
// over HTTPS with a bearer token: lists carry metadata.resourceVersion; `?watch=1` streams
// newline-delimited {type: ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, object} events after the
// given resourceVersion; a version older than the last compaction gets an ERROR event with
// a Status of code 410 (watch) or HTTP 410 (list), as etcd compaction makes the real one do;
// status subresources take PUT and merge-patch PATCH. Not modelled: field/label selectors,
// pagination (limit/continue), server-side apply, admission, discovery, RBAC beyond one token.
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { TestCa } from "./certs.js";

/** A Kubernetes object as JSON. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; generation?: number; uid?: string; [k: string]: unknown };
  [k: string]: unknown;
}

interface Resource {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  status: boolean;
}

const RESOURCES: Resource[] = [
  { group: "", version: "v1", plural: "services", kind: "Service", namespaced: true, status: false },
  { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true, status: false },
  { group: "discovery.k8s.io", version: "v1", plural: "endpointslices", kind: "EndpointSlice", namespaced: true, status: false },
  { group: "networking.k8s.io", version: "v1", plural: "ingresses", kind: "Ingress", namespaced: true, status: true },
  { group: "networking.k8s.io", version: "v1", plural: "ingressclasses", kind: "IngressClass", namespaced: false, status: false },
  { group: "gateway.networking.k8s.io", version: "v1", plural: "gatewayclasses", kind: "GatewayClass", namespaced: false, status: true },
  { group: "gateway.networking.k8s.io", version: "v1", plural: "gateways", kind: "Gateway", namespaced: true, status: true },
  { group: "gateway.networking.k8s.io", version: "v1", plural: "httproutes", kind: "HTTPRoute", namespaced: true, status: true },
];

function resourceOfKind(kind: string): Resource {
  const r = RESOURCES.find((x) => x.kind === kind);
  if (r === undefined) throw new Error(`the fake Kubernetes API does not serve kind ${kind}`);
  return r;
}

interface Event {
  rv: number;
  type: "ADDED" | "MODIFIED" | "DELETED";
  resource: Resource;
  object: KubeObject;
}

interface Watcher {
  resource: Resource;
  namespace: string | undefined;
  /** `fieldSelector=type=<type>` (the one field selector the fake knows; Secrets' type). */
  type: string | undefined;
  bookmarks: boolean;
  res: import("node:http").ServerResponse;
}

/** A status write the fake received (PUT or PATCH on `<object>/status`). */
export interface StatusWrite {
  kind: string;
  namespace: string | undefined;
  name: string;
  status: unknown;
}

export interface FakeKubeApi {
  /** https://127.0.0.1:<port> */
  readonly url: string;
  readonly token: string;
  /** A kubeconfig file pointing at the fake (CA and token inside). */
  readonly kubeconfigFile: string;
  /** The CA that signed the fake's certificate (PEM). */
  readonly caPem: string;
  /** Requests seen, as "GET /api/v1/services?watch=1...". */
  readonly requests: string[];
  readonly statusWrites: StatusWrite[];
  /** Create or replace an object (a spec change bumps metadata.generation). */
  apply(object: KubeObject): KubeObject;
  remove(kind: string, namespace: string | undefined, name: string): void;
  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  /** The current resourceVersion. */
  resourceVersion(): number;
  /** Send a BOOKMARK (the current resourceVersion) to every watcher that asked for them. */
  bookmark(): void;
  /**
   * Forget history up to now (etcd compaction): a watch or list from an older version
   * gets 410 Gone, and every open watch is ended with an ERROR event carrying a 410
   * Status, so its client must relist.
   */
  compact(): void;
  /** Close every open watch (as an API server restarting or timing out watches would). */
  dropWatches(): void;
  /** Number of open watch streams. */
  watchCount(): number;
  close(): Promise<void>;
}

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ""}/${name}`;
}

function status(code: number, reason: string, message: string): object {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
}

interface Parsed {
  resource: Resource;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

function parsePath(pathname: string): Parsed | undefined {
  const parts = pathname.split("/").filter((p) => p !== "");
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === "api") {
    group = "";
    version = parts[1] ?? "";
    rest = parts.slice(2);
  } else if (parts[0] === "apis") {
    group = parts[1] ?? "";
    version = parts[2] ?? "";
    rest = parts.slice(3);
  } else return undefined;
  let namespace: string | undefined;
  if (rest[0] === "namespaces" && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const resource = RESOURCES.find((r) => r.group === group && r.version === version && r.plural === rest[0]);
  if (resource === undefined) return undefined;
  return { resource, namespace, name: rest[1], subresource: rest[2] };
}

function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === "object" && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function readBody(req: import("node:http").IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => {
      body += c;
    });
    req.on("end", () => resolve(body));
    req.on("error", reject);
  });
}

/** Start a fake Kubernetes API server on 127.0.0.1:0 (HTTPS, bearer token); `notServed` kinds answer 404, as CRDs not installed. */
export async function startFakeKubeApi(options: { notServed?: string[] } = {}): Promise<FakeKubeApi> {
  const ca = new TestCa();
  const leaf = ca.issue(["localhost"], "apiserver", "localhost", ["127.0.0.1"]);
  const token = randomUUID();
  const objects = new Map<Resource, Map<string, KubeObject>>(RESOURCES.map((r) => [r, new Map()]));
  const events: Event[] = [];
  const watchers = new Set<Watcher>();
  const requests: string[] = [];
  const statusWrites: StatusWrite[] = [];
  let rv = 100;
  let compactedAt = 0;

  const send = (res: import("node:http").ServerResponse, code: number, body: object): void => {
    res.writeHead(code, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  const inScope = (w: { resource: Resource; namespace: string | undefined; type: string | undefined }, resource: Resource, obj: KubeObject): boolean =>
    w.resource === resource && (w.namespace === undefined || w.namespace === obj.metadata.namespace) && (w.type === undefined || obj.type === w.type);
  const emit = (type: Event["type"], resource: Resource, object: KubeObject): void => {
    const snapshot = structuredClone(object);
    events.push({ rv: Number(object.metadata.resourceVersion), type, resource, object: snapshot });
    for (const w of watchers) if (inScope(w, resource, snapshot)) w.res.write(`${JSON.stringify({ type, object: snapshot })}\n`);
  };
  const store = (resource: Resource, object: KubeObject, type: Event["type"]): KubeObject => {
    rv += 1;
    object.metadata.resourceVersion = String(rv);
    objects.get(resource)!.set(keyOf(object.metadata.namespace, object.metadata.name), object);
    emit(type, resource, object);
    return object;
  };

  const handle = async (req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "https://fake");
    requests.push(`${req.method} ${url.pathname}${url.search}`);
    if (req.headers.authorization !== `Bearer ${token}`) {
      send(res, 401, status(401, "Unauthorized", "Unauthorized"));
      return;
    }
    const parsed = parsePath(url.pathname);
    if (parsed === undefined || options.notServed?.includes(parsed.resource.kind)) {
      send(res, 404, status(404, "NotFound", `the server could not find the requested resource (${url.pathname})`));
      return;
    }
    const { resource, namespace, name, subresource } = parsed;
    const table = objects.get(resource)!;
    const selector = url.searchParams.get("fieldSelector");
    if (selector !== null && !/^type=[\w./-]+$/.test(selector)) {
      send(res, 400, status(400, "BadRequest", `the fake knows only the field selector type=<type>, not ${selector}`));
      return;
    }
    const type = selector === null ? undefined : selector.slice(5);
    if (req.method === "GET" && name === undefined) {
      const watch = url.searchParams.get("watch");
      const from = url.searchParams.get("resourceVersion") ?? "";
      if (watch === "1" || watch === "true") {
        res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
        res.flushHeaders(); // as the real server does: the client's watch starts before any event
        if (from !== "" && from !== "0" && Number(from) < compactedAt) {
          res.end(`${JSON.stringify({ type: "ERROR", object: status(410, "Expired", `too old resource version: ${from} (${compactedAt})`) })}\n`);
          return;
        }
        const w: Watcher = { resource, namespace, type, bookmarks: url.searchParams.get("allowWatchBookmarks") === "true", res };
        if (from === "" || from === "0") {
          for (const o of table.values()) if (inScope(w, resource, o)) res.write(`${JSON.stringify({ type: "ADDED", object: o })}\n`);
        } else {
          for (const e of events) if (e.rv > Number(from) && inScope(w, e.resource, e.object)) res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
        }
        watchers.add(w);
        const timeout = Number(url.searchParams.get("timeoutSeconds") ?? "0");
        const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
        res.on("close", () => {
          if (timer !== undefined) clearTimeout(timer);
          watchers.delete(w);
        });
        return;
      }
      if (from !== "" && from !== "0" && Number(from) < compactedAt) {
        send(res, 410, status(410, "Expired", `too old resource version: ${from} (${compactedAt})`));
        return;
      }
      const items = [...table.values()].filter((o) => inScope({ resource, namespace, type }, resource, o));
      send(res, 200, { kind: `${resource.kind}List`, apiVersion: resource.group === "" ? resource.version : `${resource.group}/${resource.version}`, metadata: { resourceVersion: String(rv) }, items });
      return;
    }
    if (name === undefined) {
      send(res, 405, status(405, "MethodNotAllowed", `${req.method} is not supported on a collection by the fake`));
      return;
    }
    const current = table.get(keyOf(namespace, name));
    if (current === undefined) {
      send(res, 404, status(404, "NotFound", `${resource.plural} "${name}" not found`));
      return;
    }
    if (req.method === "GET" && subresource === undefined) {
      send(res, 200, current);
      return;
    }
    if (subresource === "status" && resource.status && (req.method === "PUT" || req.method === "PATCH")) {
      let body: { status?: unknown; metadata?: { resourceVersion?: string } };
      try {
        body = JSON.parse(await readBody(req));
      } catch {
        send(res, 400, status(400, "BadRequest", "the body is not JSON"));
        return;
      }
      if (req.method === "PATCH" && req.headers["content-type"] !== "application/merge-patch+json") {
        send(res, 415, status(415, "UnsupportedMediaType", `the fake takes application/merge-patch+json, not ${req.headers["content-type"]}`));
        return;
      }
      if (req.method === "PUT" && body.metadata?.resourceVersion !== undefined && body.metadata.resourceVersion !== current.metadata.resourceVersion) {
        send(res, 409, status(409, "Conflict", `Operation cannot be fulfilled on ${resource.plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`));
        return;
      }
      const next = structuredClone(current);
      next.status = req.method === "PUT" ? body.status : mergePatch(current.status, body.status);
      statusWrites.push({ kind: resource.kind, namespace, name, status: next.status });
      send(res, 200, store(resource, next, "MODIFIED"));
      return;
    }
    send(res, 405, status(405, "MethodNotAllowed", `${req.method} ${subresource ?? ""} is not supported by the fake`));
  };

  const server = https.createServer({ cert: leaf.pem, key: readFileSync(leaf.key) }, (req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, status(500, "InternalError", String(err))));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfigFile = join(ca.dir, "kubeconfig");
  writeFileSync(
    kubeconfigFile,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "fake", cluster: { server: url, "certificate-authority-data": Buffer.from(ca.caPem).toString("base64") } }],
      users: [{ name: "fake", user: { token } }],
      contexts: [{ name: "fake", context: { cluster: "fake", user: "fake" } }],
      "current-context": "fake",
    }),
  );

  return {
    url,
    token,
    kubeconfigFile,
    caPem: ca.caPem,
    requests,
    statusWrites,
    apply(object) {
      const resource = resourceOfKind(object.kind);
      const copy = structuredClone(object);
      const before = objects.get(resource)!.get(keyOf(copy.metadata.namespace, copy.metadata.name));
      if (before === undefined) {
        copy.metadata.uid ??= randomUUID();
        copy.metadata.generation = 1;
        return store(resource, copy, "ADDED");
      }
      copy.metadata.uid = before.metadata.uid;
      const specChanged = JSON.stringify({ ...before, metadata: undefined, status: undefined }) !== JSON.stringify({ ...copy, metadata: undefined, status: undefined });
      copy.metadata.generation = (before.metadata.generation ?? 1) + (specChanged ? 1 : 0);
      if (copy.status === undefined && before.status !== undefined) copy.status = before.status;
      return store(resource, copy, "MODIFIED");
    },
    remove(kind, namespace, name) {
      const resource = resourceOfKind(kind);
      const table = objects.get(resource)!;
      const before = table.get(keyOf(namespace, name));
      if (before === undefined) throw new Error(`the fake has no ${kind} ${keyOf(namespace, name)} to remove`);
      table.delete(keyOf(namespace, name));
      rv += 1;
      const gone = structuredClone(before);
      gone.metadata.resourceVersion = String(rv);
      emit("DELETED", resource, gone);
    },
    get(kind, namespace, name) {
      return objects.get(resourceOfKind(kind))!.get(keyOf(namespace, name));
    },
    resourceVersion: () => rv,
    bookmark() {
      for (const w of watchers) {
        if (!w.bookmarks) continue;
        const r = w.resource;
        w.res.write(`${JSON.stringify({ type: "BOOKMARK", object: { kind: r.kind, apiVersion: r.group === "" ? r.version : `${r.group}/${r.version}`, metadata: { resourceVersion: String(rv) } } })}\n`);
      }
    },
    compact() {
      compactedAt = rv;
      events.length = 0;
      const gone = JSON.stringify({ type: "ERROR", object: status(410, "Expired", `too old resource version (compacted at ${compactedAt})`) });
      for (const w of watchers) w.res.end(`${gone}\n`);
      watchers.clear();
    },
    dropWatches() {
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    watchCount: () => watchers.size,
    async close() {
      for (const w of watchers) w.res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      ca.close();
    },
  };
}
