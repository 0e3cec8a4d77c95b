/**
 * The client plugins send their own requests with (PluginContext.upstream): one
 * request to a configured service, through the service's balancer over its available
 * backends, off the proxy's hot path. It uses Node's http client with one keep-alive
 * agent per gateway (Node pools sockets per backend address inside it): background
 * requests (a mirror's copies, a cache's revalidations) are a small share of traffic,
 * and the proxy's own codec and pools stay reserved for client exchanges.
 */
import http from "node:http";
import https from "node:https";
import { DivisorError, UpstreamError } from "../errors.js";
import type { SelectContext } from "../service/balancers/types.js";
import { selectBackend, type ServiceBackend, type ServiceRuntime } from "../service/service.js";
import { connectFailure, servernameFor, type UpstreamTls } from "../upstream/tls.js";

/** One request a plugin sends to a service. */
export interface UpstreamClientRequest {
  method: string;
  /** Request-target: path and query, e.g. "/items?id=3". */
  target: string;
  /** Request headers; Host defaults to the chosen backend's address. Content-Length is set from `body`. */
  headers?: readonly (readonly [string, string])[] | Readonly<Record<string, string>>;
  body?: Buffer;
  /** Whole-request deadline in ms (connect to the end of the response body); default: the service's response timeout. */
  timeoutMs?: number;
  /** Abort the request (it rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Largest response body accepted, in bytes; default 8 MiB. A bigger one rejects with ERR_UPSTREAM_RESPONSE_TOO_LARGE. */
  maxResponseBytes?: number;
}

/** The backend's complete response. */
export interface UpstreamClientResponse {
  status: number;
  /** Response headers in the order received, names lowercase. */
  headers: [string, string][];
  body: Buffer;
  /** Address (`host:port`) of the backend that answered. */
  backend: string;
}

/**
 * Sends one request to a service of the configuration in force at call time (a reload
 * that changes the service's backends applies to the next call).
 *
 * @example
 * create: (options, { upstream }) => ({
 *   onLog(ex) {
 *     upstream.request("audit", { method: "POST", target: "/events", body: Buffer.from(String(ex.status)) })
 *       .catch((err) => console.error(err.code));
 *   },
 * })
 */
export interface UpstreamClient {
  /**
   * Rejects with a DivisorError: ERR_UNKNOWN_SERVICE, ERR_UPSTREAM_NO_BACKEND,
   * ERR_UPSTREAM_RESPONSE_TIMEOUT (the deadline passed), ERR_UPSTREAM_CONNECT_REFUSED,
   * ERR_UPSTREAM_RESET, ERR_UPSTREAM_CONNECT_ERROR, ERR_UPSTREAM_RESPONSE_TOO_LARGE,
   * ERR_UPSTREAM_CLIENT_CLOSED (the gateway is closing, or offline checks),
   * ERR_UPSTREAM_CLIENT_INVALID_REQUEST (a method, target or header Node refuses to send).
   */
  request(service: string, req: UpstreamClientRequest): Promise<UpstreamClientResponse>;
}

/** A failure of PluginContext.upstream that is not one of the proxy's upstream failures. */
export class UpstreamClientError extends DivisorError {}

export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** Plugin requests carry no client: balancers keyed on client address, header or cookie see none. */
const NO_CLIENT: SelectContext = { clientIp: "", header: () => undefined, cookie: () => undefined };

/** A client that refuses every request (offline checks compile middlewares without a gateway). */
export const CLOSED_UPSTREAM_CLIENT: UpstreamClient = {
  request: () => Promise.reject(new UpstreamClientError("ERR_UPSTREAM_CLIENT_CLOSED", "no gateway is running: plugin requests are sent only by a running gateway")),
};

/** The gateway's client: `services` is read at each call, so it always sees the table in force. */
export class GatewayUpstreamClient implements UpstreamClient {
  private readonly agent = new http.Agent(AGENT_OPTIONS);
  /** HTTPS services: an agent per TLS setting, so connections of one never carry another's requests. */
  private readonly tlsAgents = new Map<UpstreamTls, https.Agent>();
  private closed = false;

  constructor(private readonly services: () => ReadonlyMap<string, ServiceRuntime>) {}

  request(name: string, req: UpstreamClientRequest): Promise<UpstreamClientResponse> {
    if (this.closed) return CLOSED_UPSTREAM_CLIENT.request(name, req);
    const service = this.services().get(name);
    if (service === undefined) {
      const known = [...this.services().keys()];
      return Promise.reject(
        new UpstreamClientError("ERR_UNKNOWN_SERVICE", `no service named "${name}" in the configuration in force (services: ${known.length === 0 ? "none" : known.join(", ")})`),
      );
    }
    const backend = selectBackend(service, NO_CLIENT);
    if (backend === undefined) return Promise.reject(new UpstreamError("no-backend", `service ${name} has no available backend`));
    return this.send(service, backend, req);
  }

  /** Stop sending and close idle sockets (the gateway is closing). */
  close(): void {
    this.closed = true;
    this.agent.destroy();
    for (const a of this.tlsAgents.values()) a.destroy();
    this.tlsAgents.clear();
  }

  private tlsAgent(t: UpstreamTls): https.Agent {
    let agent = this.tlsAgents.get(t);
    if (agent === undefined) {
      // A reload builds new settings: the agents of settings no table uses any more go.
      const inUse = new Set<UpstreamTls | null>([...this.services().values()].map((s) => s.tls));
      for (const [old, a] of this.tlsAgents) {
        if (!inUse.has(old)) {
          a.destroy();
          this.tlsAgents.delete(old);
        }
      }
      agent = new https.Agent(AGENT_OPTIONS);
      this.tlsAgents.set(t, agent);
    }
    return agent;
  }

  private send(service: ServiceRuntime, backend: ServiceBackend, req: UpstreamClientRequest): Promise<UpstreamClientResponse> {
    const headers = toHeaderPairs(req.headers, backend.address, req.body);
    const timeoutMs = req.timeoutMs ?? service.responseTimeoutMs;
    const limit = req.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    const started = performance.now();
    backend.active++;
    return new Promise<UpstreamClientResponse>((resolve, reject) => {
      let settled = false;
      const finish = (err: Error | null, res?: UpstreamClientResponse): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal?.removeEventListener("abort", onAbort);
        backend.active--;
        const ok = err === null && res!.status < 500;
        service.balancer.observe?.(backend, performance.now() - started, ok);
        if (err === null) resolve(res!);
        else {
          outgoing.destroy();
          reject(err);
        }
      };
      const onAbort = (): void => finish(req.signal!.reason instanceof Error ? req.signal!.reason : new UpstreamClientError("ERR_ABORTED", "the request was aborted"));
      let outgoing: http.ClientRequest;
      try {
        const t = service.tls;
        const options: http.RequestOptions = { host: backend.host, port: backend.port, method: req.method, path: req.target, headers, setHost: false };
        outgoing =
          t === null
            ? http.request({ ...options, agent: this.agent })
            : // secureContext is passed on to tls.connect; @types/node leaves it out of https.RequestOptions.
              https.request({ ...options, agent: this.tlsAgent(t), secureContext: t.context, servername: servernameFor(t, backend.host), rejectUnauthorized: t.verify } as https.RequestOptions);
      } catch (err) {
        // Node refuses a malformed method, target or header before sending anything.
        settled = true;
        backend.active--;
        reject(new UpstreamClientError("ERR_UPSTREAM_CLIENT_INVALID_REQUEST", `invalid request for service ${service.name}: ${(err as Error).message}`, { cause: err }));
        return;
      }
      const timer = setTimeout(
        () => finish(new UpstreamError("response-timeout", `backend ${backend.address} of service ${service.name} did not answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      if (req.signal !== undefined) {
        if (req.signal.aborted) return onAbort();
        req.signal.addEventListener("abort", onAbort, { once: true });
      }
      outgoing.on("error", (err) => finish(translate(err as NodeJS.ErrnoException, backend.address)));
      outgoing.on("response", (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > limit) {
            finish(new UpstreamClientError("ERR_UPSTREAM_RESPONSE_TOO_LARGE", `backend ${backend.address} sent a response body over ${limit} bytes (raise maxResponseBytes)`));
            return;
          }
          chunks.push(chunk);
        });
        res.on("error", (err) => finish(translate(err as NodeJS.ErrnoException, backend.address)));
        res.on("end", () => {
          const pairs: [string, string][] = [];
          const raw = res.rawHeaders;
          for (let i = 0; i < raw.length; i += 2) pairs.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
          finish(null, { status: res.statusCode ?? 0, headers: pairs, body: Buffer.concat(chunks, size), backend: backend.address });
        });
      });
      outgoing.end(req.body);
    });
  }
}

/** The request's headers as Node's flat raw list (names as given, repeats kept). */
function toHeaderPairs(given: UpstreamClientRequest["headers"], hostDefault: string, body: Buffer | undefined): string[] {
  const pairs: string[] = [];
  let host = false;
  const entries: Iterable<readonly [string, string]> = given === undefined ? [] : Array.isArray(given) ? given : Object.entries(given as Record<string, string>);
  for (const [name, value] of entries) {
    const lower = name.toLowerCase();
    // Framing is the client's own: the body given decides it.
    if (lower === "content-length" || lower === "transfer-encoding" || lower === "connection" || lower === "keep-alive") continue;
    if (lower === "host") host = true;
    pairs.push(name, value);
  }
  if (!host) pairs.push("host", hostDefault);
  if (body !== undefined) pairs.push("content-length", String(body.length));
  return pairs;
}

function translate(err: NodeJS.ErrnoException, address: string): DivisorError {
  if (err instanceof DivisorError) return err;
  if (err.code === "ECONNRESET" || err.code === "EPIPE") return new UpstreamError("reset", `backend ${address} closed the connection (${err.message})`, { cause: err });
  return connectFailure(err, address);
}

const AGENT_OPTIONS: http.AgentOptions = { keepAlive: true, maxSockets: 64, maxFreeSockets: 16, scheduling: "lifo" };
