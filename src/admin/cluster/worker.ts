/**
 * A cluster worker's side of the admin API: it binds no admin listener; it
 * answers the requests the primary forwards over IPC with the same routes a
 * single process serves.
 */
import { Readable } from "node:stream";
import { errorBody } from "../respond.js";
import { ADMIN_ROUTES } from "../routes/index.js";
import type { AdminGateway, AdminRequest, AdminResponse, AdminRoute } from "../types.js";
import { isAdminMessage, routeKey, type ToPrimary, type ToWorker, toWire, type WireRequest } from "./protocol.js";

type Send = (message: ToPrimary) => Promise<void>;

function sender(): Send {
  return (message) =>
    new Promise((resolve) => {
      // A closed channel means the primary is gone: this worker exits with it.
      if (process.connected !== true) return resolve();
      process.send?.(message, undefined, {}, () => resolve());
    });
}

async function answer(id: number, response: AdminResponse, send: Send): Promise<void> {
  if (!(response.body instanceof Readable)) {
    await send({ divisorAdmin: "response", id, status: response.status, headers: response.headers, body: toWire(response.body) });
    return;
  }
  await send({ divisorAdmin: "head", id, status: response.status, headers: response.headers });
  try {
    // One message per chunk, each sent before the next is read: the channel's own backpressure.
    for await (const chunk of response.body) await send({ divisorAdmin: "chunk", id, data: toWire(chunk) });
    await send({ divisorAdmin: "end", id });
  } catch (err) {
    await send({ divisorAdmin: "end", id, error: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * Answer forwarded admin requests for `gateway` until the returned function is
 * called. Starts the process metrics collectors, as an admin listener would.
 */
export function serveAdminOverIpc(gateway: AdminGateway): () => void {
  const routes = new Map<string, AdminRoute>(ADMIN_ROUTES.map((r) => [routeKey(r), r]));
  const running = new Map<number, AbortController>();
  const send = sender();
  if (gateway.config.metrics.process) void gateway.gatewayMetrics.collectProcessMetrics();

  const serve = async (id: number, wire: WireRequest): Promise<void> => {
    const route = routes.get(wire.route);
    if (route === undefined) {
      await send({ divisorAdmin: "response", id, status: 404, headers: undefined, body: toWire(errorBody("ERR_ADMIN_NOT_FOUND", `this worker has no route ${wire.route}`)) });
      return;
    }
    const controller = new AbortController();
    running.set(id, controller);
    const request: AdminRequest = {
      method: wire.method,
      path: wire.path,
      query: new URLSearchParams(wire.query),
      headers: wire.headers,
      params: wire.params,
      principal: wire.principal,
      body: Buffer.from(wire.body, "base64"),
      signal: controller.signal,
    };
    try {
      await answer(id, await route.handle(request, gateway), send);
    } catch (err) {
      await send({ divisorAdmin: "response", id, status: 500, headers: undefined, body: toWire(errorBody("ERR_ADMIN_INTERNAL", String(err))) });
    } finally {
      running.delete(id);
    }
  };

  const onMessage = (message: unknown) => {
    if (!isAdminMessage(message)) return;
    const m = message as ToWorker;
    if (m.divisorAdmin === "request") void serve(m.id, m.request);
    else if (m.divisorAdmin === "abort") running.get(m.id)?.abort();
    else if (m.divisorAdmin === "state") void send({ divisorAdmin: "response", id: m.id, status: 200, headers: undefined, body: toWire(gateway.savedState()) });
  };
  process.on("message", onMessage);
  void send({ divisorAdmin: "serving", id: 0 });
  return () => {
    process.off("message", onMessage);
    for (const c of running.values()) c.abort();
  };
}
