import { z } from "zod";
import { LOG_COMPONENT_NAMES, logComponentLevels, logLevel } from "../../config/schema-observability.js";
import { didYouMeanSuffix } from "../../config/suggest.js";
import type { AdminResponse, AdminRoute } from "../types.js";

const changeSchema = z
  .strictObject({ level: logLevel.optional(), components: logComponentLevels.optional() })
  .refine((c) => c.level !== undefined || (c.components !== undefined && Object.keys(c.components).length > 0), {
    message: 'give "level" and/or "components", e.g. { "level": "debug" } or { "components": { "health": "debug" } }',
  });

function badRequest(message: string): AdminResponse {
  return { status: 400, body: { error: { code: "ERR_ADMIN_BAD_REQUEST", message } } };
}

/** GET /api/logging: the levels in force, the default and each component's. */
export const getLogging: AdminRoute = {
  method: "GET",
  path: "/api/logging",
  description: "Log levels in force: the default (level) and each component's.",
  handle: (_req, gateway) => ({ status: 200, body: gateway.logs.levels() }),
};

/**
 * PUT /api/logging: change levels at run time. The change holds until a reload
 * that changes logging.level or logging.components, or a restart.
 */
export const putLogging: AdminRoute = {
  method: "PUT",
  path: "/api/logging",
  description:
    'Change log levels at run time: { "level": "debug" } (every component) or { "components": { "health": "debug" } }; holds until a reload changes logging.level/components, or a restart.',
  writes: true,
  handle: (req, gateway) => {
    let body: unknown;
    try {
      body = JSON.parse(req.body.toString("utf8"));
    } catch (err) {
      return badRequest(`the body must be JSON: ${(err as Error).message}`);
    }
    const parsed = changeSchema.safeParse(body);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((i) => {
        const where = i.path.length > 0 ? `${i.path.join(".")}: ` : "";
        if (i.code !== "unrecognized_keys") return where + i.message;
        const known = i.path.length === 0 ? ["level", "components"] : LOG_COMPONENT_NAMES;
        return where + i.keys.map((k) => `unknown key "${k}"${didYouMeanSuffix(k, known)}; expected one of ${known.join(", ")}`).join("; ");
      });
      return badRequest(problems.join("; "));
    }
    return { status: 200, body: gateway.logs.set(parsed.data) };
  },
};
