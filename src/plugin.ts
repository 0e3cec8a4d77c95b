/**
 * `divisor/plugin`: what a plugin module needs, and nothing of the gateway. A plugin
 * that imports `definePlugin` from here adds a few kilobytes to the gateway that
 * loads it; importing it from "divisor" loads a second copy of the whole library
 * into that process (measured: ~350 ms more start-up and ~30 MB more RSS, as the
 * CLI runs from a bundle of its own).
 *
 * @example
 * import { definePlugin } from "divisor/plugin";
 * export default definePlugin({ name: "tag", create: () => ({ onResponse(ex, head) { head.headers.set("x-tag", "1") } }) });
 */
export { definePlugin } from "./middleware/plugin.js";
export type {
  Plugin,
  PluginContext,
  PluginLifecycleContext,
  PluginOptionsSchema,
  Middleware,
  Exchange,
  ExchangeRequest,
  UpstreamRequestHead,
  ResponseHeadView,
  DirectResponse,
  BodyFilter,
  BodySink,
  ClientCertificate,
} from "./middleware/plugin.js";
export type { HeaderList } from "./http1/headers.js";
export type { Logger } from "./observability/logger.js";
export type { PluginMetrics, MetricFamily, MetricCell } from "./observability/metrics/plugin-metrics.js";
export type { UpstreamClient, UpstreamClientRequest, UpstreamClientResponse } from "./middleware/upstream-client.js";
export type { BackendState } from "./service/balancers/types.js";
