/**
 * Split weights set at run time (`gateway.setSplitWeights`, the admin API's
 * PUT /api/routers/:router/split) in place of the configuration's: a blue/green
 * flip without a reload. The compiled table stays immutable but for each split's
 * weights, which are swapped whole (TrafficSplit.setWeights), so the next request
 * sees the new weights entirely and requests in flight keep the service they got.
 *
 * The weights set are remembered here, keyed by router name, so a reload keeps
 * them while the router's split in the configuration stays as it was (same
 * services, same weights); a configuration that changes that split wins, and the
 * weights set are dropped (logged).
 */
import { didYouMeanSuffix } from "../config/suggest.js";
import { DivisorError } from "../errors.js";
import type { RouteTarget, RuntimeTable } from "../exchange/types.js";
import type { GatewayLogs } from "../observability/logging.js";
import type { TrafficSplit } from "../router/split.js";

/**
 * A refused change of split weights. `code` is stable; `status` is the HTTP status
 * the admin API answers with (404: no such router or no split; 400: not weights at
 * all; 422: weights that cannot be put in force).
 */
export class SplitWeightsError extends DivisorError {
  readonly status: number;
  constructor(code: string, message: string, status: number) {
    super(code, message);
    this.status = status;
  }
}

/** One service of a split. */
export interface SplitSide {
  service: string;
  /** The weight in force. */
  weight: number;
  /** The weight the configuration gives it (0 for a service only a match rule names). */
  configuredWeight: number;
}

/** A router's traffic split as it is in force. */
export interface SplitSnapshot {
  router: string;
  /** The router's tenant, or null. */
  tenant: string | null;
  services: SplitSide[];
  /** Whether the weights in force were set at run time rather than by the configuration. */
  overridden: boolean;
  /** When they were set (ISO 8601), or null. */
  overriddenAt: string | null;
}

interface Override {
  /** The configuration's split it was set over (configuredSignature). */
  readonly configured: string;
  readonly weights: readonly number[];
  readonly at: string;
}

/** The weights set at run time, by router, as plain data: what a worker replacing a dead one inherits (`--workers`). */
export type SavedSplitWeights = Record<string, Override>;

interface Found {
  readonly split: TrafficSplit<RouteTarget>;
  readonly tenant: string | undefined;
}

/** The services and weights the configuration gives a split, as one comparable string. */
function configuredSignature(split: TrafficSplit<RouteTarget>): string {
  return JSON.stringify(split.arms.map((a) => [a.service, a.weight]));
}

/** `{"blue": 0, "green": 100}` for these services: every one 0 but the last. */
export function splitWeightsExample(services: readonly string[]): string {
  return `{${services.map((s, i) => `"${s}": ${i === services.length - 1 ? 100 : 0}`).join(", ")}}`;
}

/** The weights, one per arm in arm order, that `given` asks for; refuses anything else with a message saying how to fix it. */
export function parseSplitWeights(router: string, split: TrafficSplit<RouteTarget>, given: unknown): number[] {
  const services = split.arms.map((a) => a.service);
  const example = splitWeightsExample(services);
  if (typeof given !== "object" || given === null || Array.isArray(given)) {
    throw new SplitWeightsError("ERR_SPLIT_WEIGHTS_SHAPE", `expected the weights as an object of service name to weight, like ${example}`, 400);
  }
  const entries = given as Record<string, unknown>;
  for (const name of Object.keys(entries)) {
    if (!services.includes(name)) {
      throw new SplitWeightsError(
        "ERR_SPLIT_UNKNOWN_SERVICE",
        `router "${router}" splits between ${services.join(", ")}; "${name}" is not one of them${didYouMeanSuffix(name, services)}`,
        422,
      );
    }
  }
  const weights = services.map((name) => {
    if (!Object.hasOwn(entries, name)) {
      throw new SplitWeightsError(
        "ERR_SPLIT_MISSING_SERVICE",
        `give a weight to every service of router "${router}"'s split (${services.join(", ")}): "${name}" has none (0 sends it nothing by weight)`,
        422,
      );
    }
    const weight = entries[name];
    if (typeof weight !== "number" || !Number.isSafeInteger(weight) || weight < 0) {
      throw new SplitWeightsError("ERR_SPLIT_BAD_WEIGHT", `the weight of "${name}" must be a whole number ≥ 0, like 0 or 100; got ${JSON.stringify(weight)}`, 422);
    }
    return weight;
  });
  if (!weights.some((w) => w > 0)) {
    throw new SplitWeightsError("ERR_SPLIT_ALL_ZERO", `at least one service of router "${router}"'s split needs a weight above 0; with all at 0 no request could be sent`, 422);
  }
  return weights;
}

/** The weights set at run time over the configuration's, by router; owned by the gateway, kept across reloads. */
export class SplitWeights {
  private readonly byRouter = new Map<string, Override>();

  constructor(private readonly logs: GatewayLogs) {}

  /** Every split router of `table`, in precedence order. */
  snapshots(table: RuntimeTable): SplitSnapshot[] {
    const out: SplitSnapshot[] = [];
    for (const r of table.routers.routes) if (r.target.split !== null) out.push(this.view(r.name, { split: r.target.split, tenant: r.tenant }));
    return out;
  }

  /** One router's split; throws SplitWeightsError (404) for an unknown router or one without a split. */
  snapshot(table: RuntimeTable, router: string): SplitSnapshot {
    return this.view(router, find(table, router));
  }

  /** Put `weights` (service name → weight, every service of the split) in force on `router`. */
  set(table: RuntimeTable, router: string, weights: unknown): SplitSnapshot {
    const found = find(table, router);
    const parsed = parseSplitWeights(router, found.split, weights);
    found.split.setWeights(parsed);
    this.byRouter.set(router, { configured: configuredSignature(found.split), weights: parsed, at: new Date().toISOString() });
    this.logs.get("gateway").info({ router, weights: weightsByService(found.split) }, "split weights set");
    return this.view(router, found);
  }

  /** Put the configuration's weights back in force on `router` (nothing to do when none were set). */
  clear(table: RuntimeTable, router: string): SplitSnapshot {
    const found = find(table, router);
    if (this.byRouter.delete(router)) {
      found.split.setWeights(found.split.arms.map((a) => a.weight));
      this.logs.get("gateway").info({ router, weights: weightsByService(found.split) }, "split weights back to the configuration's");
    }
    return this.view(router, found);
  }

  /** Every weight set at run time, as plain data (see restore). */
  save(): SavedSplitWeights {
    return Object.fromEntries(this.byRouter);
  }

  /**
   * Take the weights another process of the same gateway set at run time (a worker
   * replacing a dead one, before it serves), as a reload would carry them over.
   */
  restore(table: RuntimeTable, saved: SavedSplitWeights): void {
    for (const [router, o] of Object.entries(saved)) {
      if (typeof o?.configured === "string" && Array.isArray(o.weights) && o.weights.every((w) => Number.isSafeInteger(w) && w >= 0)) this.byRouter.set(router, o);
    }
    this.carryOver(table, "taken over from the other workers");
  }

  /**
   * `table` was just compiled from a new configuration and is about to serve: put the
   * weights set at run time back on the splits the configuration left as they were;
   * drop, and log, those whose router is gone, has no split, or has another split.
   */
  carryOver(table: RuntimeTable, kept = "kept across the reload"): void {
    const log = this.logs.get("config");
    for (const [router, override] of this.byRouter) {
      const route = table.routers.routes.find((r) => r.name === router);
      const split = route?.target.split ?? null;
      let dropped: string | null = null;
      if (route === undefined) dropped = "the router is gone";
      else if (split === null) dropped = "the router no longer has a split";
      else if (configuredSignature(split) !== override.configured) dropped = "the configuration changed the router's split";
      if (dropped !== null || split === null) {
        this.byRouter.delete(router);
        log.warn({ router, reason: dropped }, "split weights set at run time dropped: the configuration's are in force");
        continue;
      }
      split.setWeights(override.weights);
      log.info({ router, weights: weightsByService(split) }, `split weights set at run time ${kept}`);
    }
  }

  private view(router: string, found: Found): SplitSnapshot {
    const override = this.byRouter.get(router);
    const weights = found.split.weights;
    return {
      router,
      tenant: found.tenant ?? null,
      services: found.split.arms.map((a, i) => ({ service: a.service, weight: weights[i]!, configuredWeight: a.weight })),
      overridden: override !== undefined,
      overriddenAt: override?.at ?? null,
    };
  }
}

function weightsByService(split: TrafficSplit<RouteTarget>): Record<string, number> {
  const weights = split.weights;
  return Object.fromEntries(split.arms.map((a, i) => [a.service, weights[i]!]));
}

function find(table: RuntimeTable, router: string): Found {
  const routes = table.routers.routes;
  const route = routes.find((r) => r.name === router);
  if (route === undefined) {
    const names = routes.map((r) => r.name);
    throw new SplitWeightsError("ERR_SPLIT_UNKNOWN_ROUTER", `no router "${router}"${didYouMeanSuffix(router, names)}; routers: ${names.join(", ") || "none"}`, 404);
  }
  const split = route.target.split;
  if (split === null) {
    const to = route.config.service === undefined ? "" : ` sends its requests to service "${route.config.service}" and`;
    throw new SplitWeightsError("ERR_SPLIT_NONE", `router "${router}"${to} has no split; give it split: in the configuration to split its requests (docs/traffic-split.md)`, 404);
  }
  return { split, tenant: route.tenant };
}
