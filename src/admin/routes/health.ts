import { VERSION } from "../../observability/version.js";
import type { AdminGateway, AdminRoute } from "../types.js";

/** This process: version, uptime, memory (also the --workers primary's /healthz). */
export function processStatus() {
  const mem = process.memoryUsage();
  return {
    version: VERSION,
    uptimeSeconds: Math.round(process.uptime() * 1000) / 1000,
    memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, heapTotalBytes: mem.heapTotal },
  };
}

function status(gateway: AdminGateway) {
  return { ...processStatus(), listeners: gateway.addresses.map((a) => ({ name: a.name, address: `${a.address}:${a.port}` })) };
}

/** Liveness: the process answers. For orchestrators' liveness probes; needs no token. */
export const healthz: AdminRoute = {
  method: "GET",
  path: "/healthz",
  description: "Liveness: 200 while the process runs, with version, uptime and memory.",
  public: true,
  handle: (_req, gateway) => ({ status: 200, body: { status: "alive", ...status(gateway) } }),
};

/** Readiness: configuration loaded and every listener bound, not draining. */
export const readyz: AdminRoute = {
  method: "GET",
  path: "/readyz",
  description: "Readiness: 200 once the configuration is loaded and every listener is bound; 503 before that and while draining.",
  public: true,
  handle: (_req, gateway) => {
    const ready = gateway.listeningSince > 0 && !gateway.draining();
    const why = gateway.draining() ? "draining" : gateway.listeningSince === 0 ? "listeners not bound yet" : undefined;
    return { status: ready ? 200 : 503, body: { status: ready ? "ready" : "not ready", reason: why, ...status(gateway) } };
  },
};
