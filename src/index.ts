/**
 * Divisor's public API. Everything not exported here is internal.
 *
 * @example
 * import { createGateway, defineConfig, definePlugin } from "divisor";
 */
export { createGateway, type Gateway, type GatewayOptions, type BoundAddress, type ListenerSnapshot, type CertificateSnapshot } from "./gateway/gateway.js";
export { SplitWeightsError, type SplitSide, type SplitSnapshot } from "./gateway/split-weights.js";
export { defineConfig } from "./config/define.js";
export { loadConfigFile, validateConfig } from "./config/load.js";
export type {
  DivisorConfig,
  DivisorConfigInput,
  ListenerConfig,
  ServiceConfig,
  BackendConfig,
  BalancerConfig,
  RouterConfig,
  MiddlewareConfig,
  TenantConfig,
  ProviderEntryConfig,
} from "./config/schema.js";
export type { LogComponent, LogLevel, LoggingConfig, AccessLogConfig } from "./config/schema-observability.js";
export type { GatewayLoggers, LogLevels, LogLevelChange } from "./observability/logging.js";
export type { Logger } from "./observability/logger.js";
export { definePlugin } from "./middleware/plugin.js";
export type {
  Plugin,
  PluginContext,
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
export type { UpstreamClient, UpstreamClientRequest, UpstreamClientResponse } from "./middleware/upstream-client.js";
export { UpstreamClientError } from "./middleware/upstream-client.js";
export type { HeaderList } from "./http1/headers.js";
export type { PluginMetrics, MetricFamily, MetricCell } from "./observability/metrics/plugin-metrics.js";
export type { BackendState } from "./service/balancers/types.js";
export type { AdminState, BackendSnapshot, ServiceSnapshot } from "./service/service.js";
export { DivisorError, ConfigError, HttpParseError, UpstreamError, BodyFilterError, type ConfigIssue } from "./errors.js";
export type { ProviderSnapshot, ProviderStatus } from "./providers/manager.js";
export type { ConfigFragment, BackendInput } from "./providers/types.js";
