/**
 * The admin listener: a small node:http server (loaded only when `admin` is
 * configured) that authenticates each request and dispatches it to one of
 * ADMIN_ROUTES. It is not on the proxy's hot path, so it uses Node's own HTTP
 * stack rather than the gateway's codec.
 */
import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import type net from "node:net";
import { Readable } from "node:stream";
import type { AdminConfig } from "../config/schema-observability.js";
import type { Logger } from "../observability/logger.js";
import { errorBody } from "./respond.js";
import { ADMIN_ROUTES } from "./routes/index.js";
import type { AdminDispatch, AdminGateway, AdminPrincipal, AdminRequest, AdminResponse, AdminRoute } from "./types.js";

const MAX_BODY = 1024 * 1024;

interface CompiledRoute {
  route: AdminRoute;
  segments: readonly string[];
}

function compile(routes: readonly AdminRoute[]): CompiledRoute[] {
  return routes.map((route) => ({ route, segments: route.path.split("/").slice(1) }));
}

/** A path segment's value, or undefined when its %-encoding is broken. */
function decodeSegment(part: string): string | undefined {
  try {
    return decodeURIComponent(part);
  } catch {
    return undefined;
  }
}

function matchPath(segments: readonly string[], parts: readonly string[]): Record<string, string> | null {
  if (segments.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i]!;
    if (s.startsWith(":")) {
      const value = parts[i] === "" ? undefined : decodeSegment(parts[i]!);
      if (value === undefined) return null;
      params[s.slice(1)] = value;
    } else if (s !== parts[i]) return null;
  }
  return params;
}

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(ip: string | undefined): boolean {
  if (ip === undefined) return false;
  const v4 = ip.startsWith("::ffff:") ? ip.slice(7) : ip;
  return v4.startsWith("127.") || ip === "::1";
}

export class AdminServer {
  private readonly server: http.Server;
  private readonly routes = compile(ADMIN_ROUTES);
  private tokens: { name: string; token: Buffer; tenant: string | undefined; readOnly: boolean }[] = [];
  config: AdminConfig;

  constructor(
    config: AdminConfig,
    private readonly dispatch: AdminDispatch,
    /** Where state-changing calls are logged (the "admin" component). */
    private readonly log?: Logger,
  ) {
    this.config = config;
    this.update(config);
    this.server = http.createServer({ requestTimeout: 120_000, headersTimeout: 10_000 }, (req, res) => {
      this.serve(req, res).catch((err) => this.send(res, { status: 500, body: errorBody("ERR_ADMIN_INTERNAL", String(err)) }));
    });
    this.server.keepAliveTimeout = 5_000;
  }

  /** Take new tokens (a reload); the address is changed by replacing the server. */
  update(config: AdminConfig): void {
    this.config = config;
    this.tokens = config.tokens.map((t) => ({ name: t.name, token: Buffer.from(t.token), tenant: t.tenant, readOnly: t.readOnly }));
  }

  listen(): Promise<net.AddressInfo> {
    const i = this.config.address.lastIndexOf(":");
    let host = this.config.address.slice(0, i);
    if (host.startsWith("[")) host = host.slice(1, -1);
    const port = Number(this.config.address.slice(i + 1));
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen({ host: host === "*" ? undefined : host, port }, () => {
        this.server.off("error", reject);
        resolve(this.server.address() as net.AddressInfo);
      });
    });
  }

  address(): net.AddressInfo {
    return this.server.address() as net.AddressInfo;
  }

  /**
   * Stop accepting (the port is free at once) and close the connections: at once, or
   * idle ones now and the rest after `graceMs`, so requests in flight can answer.
   */
  close(graceMs = 0): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      if (graceMs <= 0) {
        this.server.closeAllConnections();
        return;
      }
      this.server.closeIdleConnections();
      setTimeout(() => this.server.closeAllConnections(), graceMs).unref();
    });
  }

  /** Who is calling, or the response refusing them. */
  private authenticate(req: http.IncomingMessage): AdminPrincipal | AdminResponse {
    if (this.tokens.length === 0) {
      // Config validation allows no tokens only on a loopback address; check the peer too.
      if (isLoopback(req.socket.remoteAddress)) return { name: "localhost", tenant: undefined, readOnly: false };
      return { status: 403, body: errorBody("ERR_ADMIN_FORBIDDEN", "the admin API without tokens answers only local clients; configure admin.tokens") };
    }
    const header = req.headers.authorization;
    const m = header === undefined ? null : /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m !== null) {
      const given = Buffer.from(m[1]!);
      for (const t of this.tokens) {
        if (t.token.length === given.length && timingSafeEqual(t.token, given)) return { name: t.name, tenant: t.tenant, readOnly: t.readOnly };
      }
    }
    return {
      status: 401,
      body: errorBody("ERR_ADMIN_UNAUTHORIZED", header === undefined ? 'this admin API needs "Authorization: Bearer <token>"' : "the bearer token is not valid"),
      headers: { "www-authenticate": 'Bearer realm="divisor-admin"' },
    };
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://admin");
    const parts = url.pathname.split("/").slice(1);
    let found: { route: AdminRoute; params: Record<string, string> } | undefined;
    let pathExists = false;
    for (const c of this.routes) {
      const params = matchPath(c.segments, parts);
      if (params === null) continue;
      pathExists = true;
      if (c.route.method === req.method || (req.method === "HEAD" && c.route.method === "GET")) {
        found = { route: c.route, params };
        break;
      }
    }
    if (found === undefined) {
      req.resume();
      if (pathExists) this.send(res, { status: 405, body: errorBody("ERR_ADMIN_METHOD", `${req.method} is not allowed on ${url.pathname}`) });
      else this.send(res, { status: 404, body: errorBody("ERR_ADMIN_NOT_FOUND", `no admin endpoint at ${url.pathname}; GET /api lists them`) });
      return;
    }
    const { route, params } = found;
    let principal: AdminPrincipal;
    if (route.public) principal = { name: "anonymous", tenant: undefined, readOnly: true };
    else {
      const auth = this.authenticate(req);
      if ("status" in auth) {
        req.resume();
        this.send(res, auth);
        return;
      }
      principal = auth;
      if (route.writes && principal.readOnly) {
        req.resume();
        this.send(res, { status: 403, body: errorBody("ERR_ADMIN_READ_ONLY", `token "${principal.name}" is read-only; ${route.method} ${route.path} changes state`) });
        return;
      }
      if (principal.tenant !== undefined && !route.tenantScoped) {
        req.resume();
        this.send(res, {
          status: 403,
          body: errorBody("ERR_ADMIN_TENANT_SCOPE", `token "${principal.name}" is scoped to tenant ${principal.tenant}; ${route.path} concerns the whole gateway`),
        });
        return;
      }
    }
    const body = await readBody(req);
    if (body === null) {
      this.send(res, { status: 413, body: errorBody("ERR_ADMIN_BODY_TOO_LARGE", `admin request bodies are limited to ${MAX_BODY} bytes`) });
      return;
    }
    const gone = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) gone.abort();
    });
    const request: AdminRequest = { method: req.method ?? "GET", path: url.pathname, query: url.searchParams, headers: req.headers, params, principal, body, signal: gone.signal };
    const response = await this.dispatch(route, request);
    if (route.writes) {
      // Who changed what: the token's name, never the token.
      this.log?.info({ token: principal.name, method: request.method, path: request.path, status: response.status }, "admin call");
    }
    this.send(res, response, req.method === "HEAD");
  }

  private send(res: http.ServerResponse, r: AdminResponse, headOnly = false): void {
    if (res.headersSent || res.destroyed) {
      if (r.body instanceof Readable) r.body.destroy();
      res.destroy();
      return;
    }
    if (r.body instanceof Readable) {
      const stream = r.body;
      res.writeHead(r.status, { "cache-control": "no-store", "content-type": "application/octet-stream", ...r.headers });
      if (headOnly) {
        stream.destroy();
        res.end();
        return;
      }
      // An error mid-stream can only be told by cutting the response short.
      stream.once("error", () => res.destroy());
      res.once("close", () => stream.destroy());
      stream.pipe(res);
      return;
    }
    const isRaw = typeof r.body === "string" || Buffer.isBuffer(r.body);
    const payload = isRaw ? (r.body as string | Buffer) : `${JSON.stringify(r.body, null, 2)}\n`;
    const headers: Record<string, string | number> = { "cache-control": "no-store", ...r.headers };
    if (headers["content-type"] === undefined) headers["content-type"] = isRaw ? "text/plain; charset=utf-8" : "application/json; charset=utf-8";
    headers["content-length"] = Buffer.byteLength(payload);
    res.writeHead(r.status, headers);
    res.end(headOnly ? undefined : payload);
  }
}

function readBody(req: http.IncomingMessage): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        req.removeAllListeners("data");
        req.resume();
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Start the admin listener for `gateway`. */
export async function startAdmin(config: AdminConfig, gateway: AdminGateway): Promise<AdminServer> {
  const server = new AdminServer(config, (route, req) => route.handle(req, gateway), gateway.logs.get("admin"));
  await server.listen();
  return server;
}
