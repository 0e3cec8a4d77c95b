import type { RouterConfig } from "../config/schema.js";
import { ConfigError } from "../errors.js";
import type { RouteTarget } from "../exchange/types.js";
import type { Middleware } from "../middleware/plugin.js";
import type { GatewayMetrics } from "../observability/metrics/gateway-metrics.js";
import { type SplitArm, type SplitRule, TrafficSplit } from "../router/split.js";
import type { ServiceRuntime } from "../service/service.js";
import { cookieAttributes } from "../service/sticky.js";

type Split = NonNullable<RouterConfig["split"]>;

/**
 * Compile a router's `split` into one target per service (the router's target with
 * that service and that service's request counters), so the exchange swaps targets
 * once and everything after routing reads the chosen service as usual.
 */
export function compileSplit(
  split: Split,
  base: RouteTarget,
  where: string,
  services: ReadonlyMap<string, ServiceRuntime>,
  metrics: GatewayMetrics | undefined,
): TrafficSplit<RouteTarget> {
  const weights = new Map<string, number>();
  for (const s of split.services) weights.set(s.service, s.weight);
  // A service only a match rule names is an arm with weight 0.
  for (const rule of split.match ?? []) if (!weights.has(rule.service)) weights.set(rule.service, 0);
  const cookie = split.sticky?.cookie ?? null;
  const attributes = split.sticky === undefined ? "" : cookieAttributes(split.sticky);
  const arms: SplitArm<RouteTarget>[] = [];
  for (const [name, weight] of weights) {
    const service = services.get(name);
    if (service === undefined) {
      throw new ConfigError([{ file: "<config>", line: 0, column: 0, path: `routers.${where}.split`, message: `unknown service "${name}"` }]);
    }
    const target: RouteTarget = { ...base, service, split: null, stats: metrics?.router(base.tenant, base.router, name, true) ?? null };
    const assign = cookie === null ? target : { ...target, onResponse: [...target.onResponse, stickyCookie(`${cookie}=${name}${attributes}`)] };
    arms.push({ service: name, weight, target, assign });
  }
  const index = new Map(arms.map((a, i) => [a.service, i]));
  const rules: SplitRule[] = (split.match ?? []).map((rule) =>
    "header" in rule
      ? { cookie: false, name: rule.header.toLowerCase(), value: rule.value ?? null, arm: index.get(rule.service)! }
      : { cookie: true, name: rule.cookie, value: rule.value ?? null, arm: index.get(rule.service)! },
  );
  return new TrafficSplit(arms, rules, cookie);
}

/** Sets the sticky cookie on a proxied response (the value is compiled once per service). */
function stickyCookie(value: string): Middleware {
  return {
    onResponse(_ex, head) {
      head.headers.add("set-cookie", value);
    },
  };
}
