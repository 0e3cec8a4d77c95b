// Active HTTP health checks of HTTP/2 services: one request on a connection of its own
// (as the HTTP/1.1 check opens one with Connection: close), so a check measures a fresh
// connect + request rather than the state of the session exchanges share.
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import type { UpstreamTls } from "../upstream/tls.js";
import { servernameFor } from "../upstream/tls.js";

/** Most response body bytes a check reads. */
const MAX_CHECK_BODY = 64 * 1024;

export interface Http2CheckRequest {
  readonly host: string;
  readonly port: number;
  readonly address: string;
  readonly method: string;
  readonly path: string;
  readonly authority: string | undefined;
  readonly headers: Readonly<Record<string, string>> | undefined;
  readonly timeoutMs: number;
}

/** Resolves with the status and the start of the body, or with an error message. */
export function http2Check(req: Http2CheckRequest, t: UpstreamTls | null): Promise<{ status: number; body: string } | string> {
  return new Promise((resolve) => {
    let settled = false;
    const session = http2.connect(`${t === null ? "http" : "https"}://${req.address}`, {
      createConnection: () =>
        t === null
          ? net.connect({ host: req.host, port: req.port })
          : tls.connect({ host: req.host, port: req.port, servername: servernameFor(t, req.host), secureContext: t.context, rejectUnauthorized: t.verify, ALPNProtocols: ["h2"] }),
    });
    const done = (result: { status: number; body: string } | string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => done(`no answer within ${req.timeoutMs} ms`), req.timeoutMs);
    session.on("error", (err: NodeJS.ErrnoException) => done(`${err.code ?? err.message}`));
    const headers: http2.OutgoingHttpHeaders = { ":method": req.method, ":path": req.path, "user-agent": "divisor-health-check" };
    for (const name in req.headers) headers[name.toLowerCase()] = req.headers[name];
    if (req.authority !== undefined) headers[":authority"] = req.authority;
    const stream = session.request(headers, { endStream: true });
    let status = 0;
    let body = "";
    stream.on("response", (h) => {
      status = Number(h[":status"]);
    });
    stream.on("data", (chunk: Buffer) => {
      if (body.length < MAX_CHECK_BODY) body += chunk.toString("latin1");
    });
    stream.on("end", () => done({ status, body }));
    stream.on("error", (err: NodeJS.ErrnoException) => done(`${err.code ?? err.message}`));
  });
}
