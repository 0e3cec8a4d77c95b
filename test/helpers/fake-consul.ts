/**
 * A fake Consul: no Consul server can run here, so this is a small node:http server
 * implementing exactly the endpoint the consul provider uses, from Consul's published
 * HTTP API — GET /v1/health/service/<name> with ?passing, ?tag, ?dc, X-Consul-Token,
 * and blocking queries (?index=<n>&wait=<d>: the answer waits until the service's
 * index passes n or wait elapses, and carries X-Consul-Index).
 */
import http from "node:http";
import type net from "node:net";

export interface FakeInstance {
  id: string;
  address: string;
  port: number;
  tags?: string[];
  /** Health of the instance's checks; all must be "passing" for ?passing. */
  checks?: ("passing" | "warning" | "critical")[];
  node?: string;
  nodeAddress?: string;
}

/** One request the fake answered, for tests asserting on the blocking-query protocol. */
export interface FakeRequest {
  service: string;
  index: string | null;
  wait: string | null;
  passing: boolean;
  token: string | undefined;
  dc: string | null;
}

export interface FakeConsul {
  address: string;
  requests: FakeRequest[];
  /** Add or replace an instance (by id). */
  register(service: string, instance: FakeInstance): void;
  deregister(service: string, id: string): void;
  setChecks(service: string, id: string, checks: FakeInstance["checks"]): void;
  /** Make the index go backwards (as after a Consul server is restored from a snapshot) and wake blocked queries. */
  resetIndex(to: number): void;
  close(): Promise<void>;
}

const WAIT_RE = /^(\d+)(ms|s|m)?$/;

export async function startFakeConsul(options: { token?: string; datacenter?: string; port?: number } = {}): Promise<FakeConsul> {
  const datacenter = options.datacenter ?? "dc1";
  const services = new Map<string, Map<string, FakeInstance>>();
  const modifyIndex = new Map<string, number>();
  let raftIndex = 10;
  const waiting = new Set<(force: boolean) => void>();
  const requests: FakeRequest[] = [];

  const changed = (service: string) => {
    raftIndex++;
    modifyIndex.set(service, raftIndex);
    for (const wake of [...waiting]) wake(false);
  };
  // Consul answers an unknown service with the index of the catalog as a whole.
  const indexOf = (service: string) => modifyIndex.get(service) ?? raftIndex;

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://consul");
    const match = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname);
    if (req.method !== "GET" || match === null) {
      res.writeHead(404, { "content-type": "text/plain" }).end(`fake Consul: ${req.method} ${url.pathname} is not implemented`);
      return;
    }
    const service = decodeURIComponent(match[1]!);
    const token = req.headers["x-consul-token"] as string | undefined;
    requests.push({ service, index: url.searchParams.get("index"), wait: url.searchParams.get("wait"), passing: url.searchParams.has("passing") && url.searchParams.get("passing") !== "false", token, dc: url.searchParams.get("dc") });
    if (options.token !== undefined && token !== options.token) {
      res.writeHead(403, { "content-type": "text/plain" }).end("ACL not found");
      return;
    }
    const dc = url.searchParams.get("dc");
    if (dc !== null && dc !== datacenter) {
      res.writeHead(500, { "content-type": "text/plain" }).end(`No path to datacenter`);
      return;
    }
    const wanted = Number(url.searchParams.get("index") ?? "0");
    const waitMatch = WAIT_RE.exec(url.searchParams.get("wait") ?? "");
    const unit = waitMatch?.[2] ?? "s";
    // Consul's default wait is 5 minutes, at most 10.
    const waitMs = Math.min(600_000, waitMatch === null ? 300_000 : Number(waitMatch[1]) * (unit === "ms" ? 1 : unit === "s" ? 1000 : 60_000));
    const answer = () => {
      const passing = url.searchParams.has("passing") && url.searchParams.get("passing") !== "false";
      const tag = url.searchParams.get("tag");
      const list = [...(services.get(service)?.values() ?? [])]
        .filter((i) => !passing || (i.checks ?? ["passing"]).every((c) => c === "passing"))
        .filter((i) => tag === null || (i.tags ?? []).includes(tag))
        .map((i) => ({
          Node: { Node: i.node ?? "node1", Address: i.nodeAddress ?? "127.0.0.1", Datacenter: datacenter },
          Service: { ID: i.id, Service: service, Address: i.address, Port: i.port, Tags: i.tags ?? [], Meta: {} },
          Checks: (i.checks ?? ["passing"]).map((Status, n) => ({ CheckID: `check-${n}`, ServiceID: i.id, Status })),
        }));
      res.writeHead(200, { "content-type": "application/json", "x-consul-index": String(indexOf(service)), "x-consul-knownleader": "true" }).end(JSON.stringify(list));
    };
    // A blocking query: wait while the index is not past the one the client has seen.
    if (wanted > 0 && indexOf(service) <= wanted) {
      let timer: NodeJS.Timeout;
      const wake = (force: boolean) => {
        if (!force && indexOf(service) <= wanted) return;
        done();
      };
      const done = () => {
        clearTimeout(timer);
        waiting.delete(wake);
        answer();
      };
      timer = setTimeout(done, waitMs);
      waiting.add(wake);
      req.on("close", () => {
        clearTimeout(timer);
        waiting.delete(wake);
      });
      return;
    }
    answer();
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, "127.0.0.1", () => resolve()));
  const port = (server.address() as net.AddressInfo).port;

  return {
    address: `http://127.0.0.1:${port}`,
    requests,
    register(service, instance) {
      let instances = services.get(service);
      if (instances === undefined) services.set(service, (instances = new Map()));
      instances.set(instance.id, instance);
      changed(service);
    },
    deregister(service, id) {
      services.get(service)?.delete(id);
      changed(service);
    },
    setChecks(service, id, checks) {
      const i = services.get(service)?.get(id);
      if (i !== undefined) i.checks = checks;
      changed(service);
    },
    resetIndex(to) {
      raftIndex = to;
      for (const s of modifyIndex.keys()) modifyIndex.set(s, to);
      // Blocked queries end (as at a leader change) and carry the lower index.
      for (const wake of [...waiting]) wake(true);
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
