import { OPENMETRICS_CONTENT_TYPE, PROMETHEUS_CONTENT_TYPE, wantsOpenMetrics } from "../../observability/metrics/exposition.js";
import type { AdminRoute } from "../types.js";

/** Prometheus scrape endpoint; OpenMetrics when the scraper's Accept header asks for it. */
export const metrics: AdminRoute = {
  method: "GET",
  path: "/metrics",
  description: "Prometheus metrics (text format 0.0.4, or OpenMetrics 1.0 when Accept asks for application/openmetrics-text).",
  handle: (req, gateway) => {
    const accept = req.headers.accept;
    const open = wantsOpenMetrics(Array.isArray(accept) ? accept.join(",") : accept);
    const text = gateway.gatewayMetrics.render(gateway.metricsSources, open);
    return { status: 200, body: text, headers: { "content-type": open ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE } };
  },
};
