import type { DivisorConfig } from "../../config/schema.js";
import { didYouMeanSuffix } from "../../config/suggest.js";
import { ADMIN_STATES, type AdminState, type BackendSnapshot, type ServiceSnapshot } from "../../service/service.js";
import { adminError, ok } from "../respond.js";
import { mayUseService, visibleServices } from "../scope.js";
import type { AdminGateway, AdminPrincipal, AdminResponse, AdminRoute } from "../types.js";

function backendView(b: BackendSnapshot) {
  return {
    address: b.address,
    weight: b.configuredWeight,
    effectiveWeight: b.weight,
    available: b.available,
    unavailableBecause: b.unavailableBecause,
    adminState: b.adminState,
    health: b.healthy === null ? null : { healthy: b.healthy, lastError: b.lastHealthError },
    circuit: { state: b.breaker, opens: b.breakerOpens },
    ewmaLatencyMs: Math.round(b.ewmaMs * 1000) / 1000,
    inFlight: b.active,
    connections: b.connections,
  };
}

function serviceView(name: string, config: DivisorConfig, state: ServiceSnapshot | undefined, backends: readonly BackendSnapshot[]) {
  const service = config.services[name]!;
  const byAddress = new Map(backends.filter((b) => b.service === name).map((b) => [b.address, b]));
  return {
    name,
    balancer: service.balancer.algorithm,
    sticky: service.sticky === undefined ? null : { cookie: service.sticky.cookie },
    healthCheck: service.healthCheck !== undefined,
    breaker: state?.breaker ?? "closed",
    inFlight: state?.inFlight ?? 0,
    queued: state?.queued ?? 0,
    recentRetries: state?.retries ?? 0,
    backends: service.backends.flatMap((b) => {
      const snapshot = byAddress.get(b.address);
      return snapshot === undefined ? [] : [backendView(snapshot)];
    }),
  };
}

/** 404 for a service the caller cannot see, naming the ones it can (a tenant never learns of others). */
function unknownService(config: DivisorConfig, principal: AdminPrincipal, name: string): AdminResponse {
  const names = visibleServices(config, principal);
  const list = names.length === 0 ? "none" : names.join(", ");
  return adminError(404, "ERR_ADMIN_UNKNOWN_SERVICE", `no service "${name}"${didYouMeanSuffix(name, names)}; services: ${list}`);
}

function views(gateway: AdminGateway, names: readonly string[]) {
  const states = new Map(gateway.services().map((s) => [s.name, s]));
  const backends = gateway.backends();
  return names.map((name) => serviceView(name, gateway.config, states.get(name), backends));
}

/** GET /api/services: every service the caller may see, with its backends. */
export const services: AdminRoute = {
  method: "GET",
  path: "/api/services",
  description:
    "Every service with its balancer, breaker, in-flight requests, queue and recent retries, and its backends: weight, availability and why not, admin state, health, circuit, EWMA latency, in-flight, connections.",
  tenantScoped: true,
  handle: (req, gateway) => ok({ services: views(gateway, visibleServices(gateway.config, req.principal)) }),
};

/** GET /api/services/:service: one service. */
export const service: AdminRoute = {
  method: "GET",
  path: "/api/services/:service",
  description: "One service, as in /api/services.",
  tenantScoped: true,
  handle: (req, gateway) => {
    const name = req.params.service!;
    if (!mayUseService(gateway.config, req.principal, name)) return unknownService(gateway.config, req.principal, name);
    return ok(views(gateway, [name])[0]);
  },
};

function parseState(body: Buffer): AdminState | AdminResponse {
  const allowed = ADMIN_STATES.map((s) => `"${s}"`).join(", ");
  const expected = `expected a JSON body like {"state": "drain"}, with state one of ${allowed}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    return adminError(400, "ERR_ADMIN_BAD_BODY", body.length === 0 ? `the body is empty; ${expected}` : `the body is not JSON; ${expected}`);
  }
  const state = typeof parsed === "object" && parsed !== null ? (parsed as { state?: unknown }).state : undefined;
  if (typeof state === "string" && (ADMIN_STATES as readonly string[]).includes(state)) return state as AdminState;
  const got = state === undefined ? "no state" : `state ${JSON.stringify(state)}`;
  return adminError(400, "ERR_ADMIN_BAD_BODY", `${got}${typeof state === "string" ? didYouMeanSuffix(state, ADMIN_STATES) : ""}; ${expected}`);
}

/** PUT /api/services/:service/backends/:backend: drain, maintenance or active. */
export const backendState: AdminRoute = {
  method: "PUT",
  path: "/api/services/:service/backends/:backend",
  description:
    'Set a backend\'s admin state with {"state": "active" | "drain" | "maintenance"}; :backend is its address as configured, URL-encoded. drain: no new requests but from clients pinned to it (sticky cookie, consistent-hash key); maintenance: no new requests at all; in-flight requests finish. Kept across reloads that keep the backend.',
  writes: true,
  tenantScoped: true,
  handle: (req, gateway) => {
    const name = req.params.service!;
    const address = req.params.backend!;
    const config = gateway.config;
    if (!mayUseService(config, req.principal, name)) return unknownService(config, req.principal, name);
    const addresses = config.services[name]!.backends.map((b) => b.address);
    if (!addresses.includes(address)) {
      return adminError(
        404,
        "ERR_ADMIN_UNKNOWN_BACKEND",
        `service "${name}" has no backend "${address}"${didYouMeanSuffix(address, addresses)}; its backends: ${addresses.join(", ")} (URL-encode the address in the path)`,
      );
    }
    const state = parseState(req.body);
    if (typeof state !== "string") return state;
    const after = gateway.setBackendState(name, address, state);
    if (after === undefined) return adminError(409, "ERR_ADMIN_BACKEND_GONE", `backend "${address}" of service "${name}" left with a reload; try again`);
    return ok({ service: name, backend: backendView(after) });
  },
};
