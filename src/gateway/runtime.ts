import type { DivisorConfig, PathMatch } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import { compileForwarding } from "../exchange/forwarding.js";
import type { RouteTarget, RuntimeTable } from "../exchange/types.js";
import type { Middleware, Plugin } from "../middleware/plugin.js";
import { createMiddleware } from "../middleware/registry.js";
import type { UpstreamClient } from "../middleware/upstream-client.js";
import type { MiddlewareStates } from "../middleware/state.js";
import { compileRouterTable, routeDefinitions } from "../router/compile.js";
import { compileSplit } from "./split.js";
import { AccessLog, type AccessLogSinks } from "../observability/access-log.js";
import type { Logger } from "../observability/logger.js";
import type { GatewayMetrics } from "../observability/metrics/gateway-metrics.js";
import type { ExchangeTracer } from "../observability/tracing/types.js";
import type { BackendRegistry, ServiceRuntime } from "../service/service.js";

/**
 * Compile a validated config into the immutable table requests are served with.
 * Backend state comes from `registry`, so backends the new config keeps keep their
 * pools and counters; `live` collects their ids so the caller can drop the rest
 * once the new table is in force. Without `metrics` and `logging` (the CLI's offline checks)
 * nothing is counted or logged; without `tracer` nothing is traced.
 */
export function compileRuntime(
  config: DivisorConfig,
  registry: BackendRegistry,
  plugins: ReadonlyMap<string, Plugin<unknown>>,
  live: Set<string>,
  metrics?: GatewayMetrics,
  logging?: RuntimeLogging,
  tracer: ExchangeTracer | null = null,
  states?: MiddlewareStates,
  upstream?: UpstreamClient,
): RuntimeTable {
  // Everything that can still refuse the config runs before the registry is touched,
  // so a refused reload leaves the running backends' weights, pools and checks as they were.
  const middlewares = new Map<string, Middleware>();
  for (const [name, mw] of Object.entries(config.middlewares)) middlewares.set(name, createMiddleware(name, mw, plugins, metrics?.plugins.forMiddleware(name), states?.forMiddleware(name), upstream, logging?.middlewareLog));
  compileRouterTable(routeDefinitions<null>(config, () => null), config.tenants);

  const services = new Map<string, ServiceRuntime>();
  for (const [name, service] of Object.entries(config.services)) services.set(name, registry.build(name, service, live));

  const definitions = routeDefinitions<RouteTarget>(config, (name, tenant, router) => {
    // A tenant's middlewares run first, for each of its routers.
    const names = tenant === undefined ? router.middlewares : [...config.tenants[tenant]!.middlewares, ...router.middlewares];
    const chain = names.map((m) => {
      const mw = middlewares.get(m);
      if (mw === undefined) throw unknownReference(`${name}.middlewares`, `unknown middleware "${m}"`);
      return mw;
    });
    let service: ServiceRuntime | undefined;
    if (router.service !== undefined) {
      service = services.get(router.service);
      if (service === undefined) throw unknownReference(`${name}.service`, `unknown service "${router.service}"`);
    }
    const target: RouteTarget = {
      router: name,
      tenant,
      service,
      split: null,
      route: routeTemplate(router.match?.path),
      middlewareNames: names,
      retryNonIdempotent: router.retryNonIdempotent ?? false,
      maxBodySize: router.maxBodySize ?? Number.POSITIVE_INFINITY,
      hedge: router.hedge ?? null,
      onRequest: chain.filter((m) => m.onRequest !== undefined),
      selectBackend: chain.filter((m) => m.selectBackend !== undefined),
      onUpstreamRequest: chain.filter((m) => m.onUpstreamRequest !== undefined),
      // Response phases run in reverse order, like unwinding a stack.
      onResponse: chain.filter((m) => m.onResponse !== undefined).reverse(),
      onRequestBody: chain.filter((m) => m.onRequestBody !== undefined),
      onResponseBody: chain.filter((m) => m.onResponseBody !== undefined).reverse(),
      onLog: chain.filter((m) => m.onLog !== undefined),
      // A split router counts under its services' names (its arms' stats), never under none.
      stats: router.split === undefined ? (metrics?.router(tenant, name, router.service) ?? null) : null,
      withService: (other) => steered(other),
    };
    // Targets for Exchange.useService, made on first use (a router is steered to few services).
    const variants = new Map<string, RouteTarget>();
    const steered = (other: string): RouteTarget | undefined => {
      let variant = variants.get(other);
      if (variant === undefined) {
        const service = services.get(other);
        if (service === undefined) return undefined;
        variant = { ...target, service, split: null, stats: metrics?.router(tenant, name, other, true) ?? null };
        variants.set(other, variant);
      }
      return variant;
    };
    if (router.split === undefined) return target;
    return { ...target, split: compileSplit(router.split, target, name, services, metrics) };
  });
  const routers = compileRouterTable(definitions, config.tenants);
  // Last: opening the access log's destination is the one step with an effect outside the table.
  const accessConfig = config.logging.access;
  const access = logging === undefined || accessConfig === undefined ? null : new AccessLog(accessConfig, logging.sinks);
  return {
    routers,
    services,
    forwarding: compileForwarding(config.proxy),
    unrouted: metrics?.enabled ? metrics.unrouted : null,
    tracer,
    access,
    middlewareLog: logging?.middlewareLog ?? null,
  };
}

/** What a serving table logs with: the gateway's access-log writers and the middleware logger. */
export interface RuntimeLogging {
  readonly sinks: AccessLogSinks;
  readonly middlewareLog: Logger;
}

/** The route template a span names (OTel http.route): exact and pattern paths as written, a prefix as "prefix/*". */
function routeTemplate(path: PathMatch | undefined): string | null {
  if (path === undefined) return null;
  if ("exact" in path) return path.exact;
  if ("pattern" in path) return path.pattern;
  if ("prefix" in path) return path.prefix.endsWith("/") ? `${path.prefix}*` : `${path.prefix}/*`;
  return null;
}

function unknownReference(path: string, message: string): ConfigError {
  return new ConfigError([{ file: "<config>", line: 0, column: 0, path: `routers.${path}`, message }]);
}

/** A table with no router and no service: what a gateway holds until listen() has loaded its plugins and compiled the real one. */
export function emptyRuntime(config: DivisorConfig): RuntimeTable {
  return { routers: compileRouterTable<RouteTarget>([], {}), services: new Map(), forwarding: compileForwarding(config.proxy), unrouted: null, tracer: null, access: null, middlewareLog: null };
}
