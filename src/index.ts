/**
 * Divisor's public API. Everything not exported here is internal.
 *
 * @example
 * import { createGateway, defineConfig, definePlugin } from "divisor";
 */
export { createGateway, type Gateway, type GatewayOptions, type BoundAddress, type ListenerSnapshot, type CertificateSnapshot, type AcmeSnapshot } from "./gateway/gateway.js";
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
// The plugin API: definePlugin and the types a plugin uses (Logger, HeaderList, PluginMetrics, UpstreamClient,
// BackendState...), also published alone as the `divisor/plugin` entry point.
export * from "./plugin.js";
export { UpstreamClientError } from "./middleware/upstream-client.js";
export { loadLuaRuntime, ScriptError, ScriptSyntaxError } from "./middleware/lua/vm.js";
export type { AdminState, BackendSnapshot, ServiceSnapshot } from "./service/service.js";
export { DivisorError, ConfigError, HttpParseError, UpstreamError, BodyFilterError, PluginError, type ConfigIssue } from "./errors.js";
export type { ProviderSnapshot, ProviderStatus } from "./providers/manager.js";
export type { ConfigFragment, BackendInput } from "./providers/types.js";
