import { parseConfigText } from "../../config/load.js";
import type { DivisorConfig } from "../../config/schema.js";
import { ConfigError, DivisorError } from "../../errors.js";
import { adminError, ok } from "../respond.js";
import type { AdminGateway, AdminResponse, AdminRoute } from "../types.js";

/** Names added, removed and changed between two records of config entries. */
function diff(before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>) {
  const added = Object.keys(after).filter((k) => !Object.hasOwn(before, k));
  const removed = Object.keys(before).filter((k) => !Object.hasOwn(after, k));
  const changed = Object.keys(after).filter((k) => Object.hasOwn(before, k) && JSON.stringify(before[k]) !== JSON.stringify(after[k]));
  return { added, removed, changed };
}

/** Every router, tenant routers as "<tenant>/<router>" (their names in the table). */
function allRouters(config: DivisorConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config.routers };
  for (const [tenant, t] of Object.entries(config.tenants)) for (const [name, r] of Object.entries(t.routers)) out[`${tenant}/${name}`] = { hosts: t.hosts, router: r };
  return out;
}

function byAddress(config: DivisorConfig): Record<string, unknown> {
  return Object.fromEntries(config.listeners.map((l) => [l.address, l]));
}

/** What a reload changed, by kind of entry. */
export function summarizeReload(before: DivisorConfig, after: DivisorConfig) {
  return {
    listeners: diff(byAddress(before), byAddress(after)),
    routers: diff(allRouters(before), allRouters(after)),
    services: diff(before.services, after.services),
    middlewares: diff(before.middlewares, after.middlewares),
  };
}

function refused(err: unknown): AdminResponse {
  const stays = "the running configuration stays in force";
  if (err instanceof ConfigError) {
    return adminError(422, err.code, `reload refused: ${err.issues.length} problem${err.issues.length === 1 ? "" : "s"}; ${stays}`, { issues: err.issues });
  }
  if (err instanceof DivisorError) return adminError(422, err.code, `reload refused: ${err.message}; ${stays}`);
  const code = (err as NodeJS.ErrnoException).code;
  // A listener that cannot bind (EADDRINUSE, EACCES) is a problem of the new configuration too.
  if (typeof code === "string") return adminError(422, `ERR_RELOAD_${code}`, `reload refused: ${(err as Error).message}; ${stays}`);
  return adminError(500, "ERR_ADMIN_RELOAD_FAILED", `reload failed: ${String(err)}; ${stays}`);
}

async function reload(body: Buffer, gateway: AdminGateway): Promise<AdminResponse> {
  const before = gateway.config;
  let source: string;
  let next: DivisorConfig | undefined;
  if (gateway.loadConfig !== undefined) {
    if (body.length > 0) {
      return adminError(400, "ERR_ADMIN_BAD_BODY", "this gateway reloads from its configuration source (its file); send the request without a body");
    }
    source = "source";
  } else {
    if (body.length === 0) {
      return adminError(
        400,
        "ERR_ADMIN_BAD_BODY",
        "this gateway has no configuration source to re-read (it was created from an object); send the new configuration, YAML or JSON, as the request body",
      );
    }
    source = "request body";
    try {
      next = parseConfigText(body.toString("utf8"), "<request body>");
    } catch (err) {
      gateway.gatewayMetrics.reloaded(false);
      return refused(err);
    }
  }
  const started = performance.now();
  try {
    await gateway.reload(next);
  } catch (err) {
    return refused(err);
  }
  return ok({
    status: "reloaded",
    from: source,
    durationMs: Math.round((performance.now() - started) * 1000) / 1000,
    changes: summarizeReload(before, gateway.config),
  });
}

/** POST /api/reload: re-read the configuration and swap it in. */
export const reloadRoute: AdminRoute = {
  method: "POST",
  path: "/api/reload",
  description:
    "Re-read the configuration from its source (the file of divisor start) and swap it in; a gateway without a source takes the new configuration (YAML or JSON) as the body. 200 with what changed, or 422 with the located problems (the running configuration stays in force).",
  writes: true,
  handle: (req, gateway) => reload(req.body, gateway),
};
