import type { z } from "zod";
import type { builtinMiddlewareSchemas } from "../../config/schema.js";
import { authDecisions } from "../auth-shared.js";
import { type DirectResponse, definePlugin, type Exchange } from "../plugin.js";

type Options = z.output<(typeof builtinMiddlewareSchemas)["forward-auth"]>;

/** Client headers never sent to the auth service: hop-by-hop, the body's, and Host (sent as X-Forwarded-Host). */
const NOT_FORWARDED = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "content-type",
  "expect",
]);

/** Auth service answer headers not relayed to the client (fetch already decoded the body and its framing). */
const NOT_RELAYED = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "content-encoding", "date", "server"]);

/**
 * `type: forward-auth` — ask an auth service about every request, Traefik style: a
 * GET to `address` with the client's headers and X-Forwarded-Method/-Proto/-Host/
 * -Uri/-For. A 2xx answer lets the request through (copying `responseHeaders` onto
 * it); any other answer (a 401, a 302 to a login page, ...) goes to the client as is.
 *
 * @example
 * middlewares:
 *   sso:
 *     type: forward-auth
 *     address: http://auth.internal:4181/verify
 *     responseHeaders: [x-auth-user, x-auth-groups]
 */
export const forwardAuthPlugin = definePlugin<Options>({
  name: "forward-auth",
  create(options, { metrics }) {
    const decisions = authDecisions(metrics);
    const address = options.address;
    const selected = options.requestHeaders === undefined ? null : new Set(options.requestHeaders.map((h) => h.toLowerCase()));
    const copied = options.responseHeaders;
    const timeout = options.timeout;
    const unavailableStatus = options.unavailableStatus;

    function authRequestHeaders(ex: Exchange): [string, string][] {
      const req = ex.request;
      const raw = req.headers.raw;
      const out: [string, string][] = [];
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!.toLowerCase();
        if (selected === null ? !NOT_FORWARDED.has(name) && !name.startsWith("x-forwarded-") : selected.has(name)) out.push([name, raw[i + 1]!]);
      }
      out.push(
        ["x-forwarded-method", req.method],
        ["x-forwarded-proto", req.scheme],
        ["x-forwarded-host", req.headers.get("host") ?? req.host],
        ["x-forwarded-uri", req.path + req.query],
        ["x-forwarded-for", req.clientIp],
      );
      return out;
    }

    async function ask(ex: Exchange): Promise<DirectResponse | undefined> {
      let res: Response;
      let body: Buffer;
      try {
        res = await fetch(address, { method: "GET", headers: authRequestHeaders(ex), redirect: "manual", signal: AbortSignal.timeout(timeout) });
        body = Buffer.from(await res.arrayBuffer());
      } catch (err) {
        decisions.error.inc();
        const why = (err as Error).name === "TimeoutError" ? `did not answer within ${timeout} ms` : "could not be reached";
        return ex.respond(unavailableStatus, `the authentication service ${why}\n`);
      }
      if (res.status >= 200 && res.status < 300) {
        decisions.allowed.inc();
        const headers = ex.request.headers;
        for (const name of copied) {
          const value = res.headers.get(name);
          if (value !== null) headers.set(name, value);
        }
        return undefined;
      }
      decisions.invalid.inc();
      const relayed: Record<string, string | string[]> = {};
      res.headers.forEach((value, name) => {
        if (!NOT_RELAYED.has(name) && name !== "set-cookie") relayed[name] = value;
      });
      // fetch joins repeated fields with ", ", which would break cookies: each Set-Cookie goes on its own line.
      const cookies = res.headers.getSetCookie();
      if (cookies.length > 0) relayed["set-cookie"] = cookies;
      return ex.respond(res.status, body, relayed);
    }

    return {
      onRequest(ex) {
        const headers = ex.request.headers;
        for (const name of copied) headers.delete(name);
        return ask(ex);
      },
    };
  },
});
