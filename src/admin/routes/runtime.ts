import { performance } from "node:perf_hooks";
import { VERSION } from "../../observability/version.js";
import { ok } from "../respond.js";
import type { AdminGateway, AdminRoute } from "../types.js";

function runtime(gateway: AdminGateway) {
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  const resources = process.getActiveResourcesInfo();
  const byType: Record<string, number> = {};
  for (const r of resources) byType[r] = (byType[r] ?? 0) + 1;
  const listeners = gateway.listeners();
  const uptime = process.uptime();
  return {
    version: VERSION,
    node: process.versions.node,
    pid: process.pid,
    uptimeSeconds: Math.round(uptime * 1000) / 1000,
    startedAt: new Date(Date.now() - uptime * 1000).toISOString(),
    memory: { rssBytes: mem.rss, heapUsedBytes: mem.heapUsed, heapTotalBytes: mem.heapTotal, externalBytes: mem.external, arrayBuffersBytes: mem.arrayBuffers },
    cpu: { userSeconds: cpu.user / 1e6, systemSeconds: cpu.system / 1e6, averageCores: Math.round(((cpu.user + cpu.system) / 1e6 / Math.max(uptime, 0.001)) * 1000) / 1000 },
    // Share of time the event loop was busy since start (always available, no timer needed).
    eventLoopUtilization: Math.round(performance.eventLoopUtilization().utilization * 1000) / 1000,
    // Recorded by the process-metrics collectors; null when metrics.process is off.
    eventLoopDelay: gateway.gatewayMetrics.processMetrics?.eventLoopDelay() ?? null,
    activeResources: { total: resources.length, handles: resources.filter((r) => r !== "Timeout" && r !== "Immediate").length, byType },
    connections: listeners.reduce((n, l) => n + l.connections, 0),
    requestsInFlight: listeners.reduce((n, l) => n + l.requestsInFlight, 0),
    draining: gateway.draining(),
    reloads: gateway.gatewayMetrics.reloadStatus(),
  };
}

/** GET /api/runtime: the process and the gateway at a glance. */
export const runtimeRoute: AdminRoute = {
  method: "GET",
  path: "/api/runtime",
  description: "Version, Node.js version, pid, uptime, memory, CPU, event-loop delay and utilization, active handles, connections and requests in flight, configuration reloads.",
  handle: (_req, gateway) => ok(runtime(gateway)),
};
