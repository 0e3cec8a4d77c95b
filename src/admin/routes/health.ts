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

/**
 * Readiness: configuration loaded, every listener bound, every provider's first state
 * delivered (or its failure known: the gateway then serves without it), not draining.
 */
export const readyz: AdminRoute = {
  method: "GET",
  path: "/readyz",
  description:
    "Readiness: 200 once the configuration is loaded, every listener is bound and every provider has delivered its first state or failed; 503 before that and while draining. The body lists each provider's state and last error.",
  public: true,
  handle: (_req, gateway) => {
    const waiting = gateway.providersWaitingFor();
    const why = gateway.draining()
      ? "draining"
      : gateway.listeningSince === 0
        ? "listeners not bound yet"
        : waiting.length > 0
          ? `waiting for the first state of provider${waiting.length === 1 ? "" : "s"} ${waiting.map((n) => JSON.stringify(n)).join(", ")}`
          : undefined;
    const ready = why === undefined;
    const providers = gateway.providers().map((p) => ({ name: p.name, type: p.type, state: p.state, lastError: p.lastError ?? undefined }));
    return { status: ready ? 200 : 503, body: { status: ready ? "ready" : "not ready", reason: why, ...status(gateway), ...(providers.length > 0 ? { providers } : {}) } };
  },
};
