import type * as Jose from "jose";
import type { JSONWebKeySet, JWTVerifyGetKey, JWTVerifyOptions } from "jose";
import type { z } from "zod";
import type { builtinMiddlewareSchemas } from "../../config/schema.js";
import { findCookie } from "../../exchange/forwarding.js";
import { authDecisions } from "../auth-shared.js";
import { type DirectResponse, definePlugin, type Exchange } from "../plugin.js";

type Options = z.output<(typeof builtinMiddlewareSchemas)["jwt"]>;

/** jose error codes that mean "this token is not acceptable" (401); anything else is our failure (503). */
const INVALID_TOKEN_CODES = new Set([
  "ERR_JWT_EXPIRED",
  "ERR_JWT_CLAIM_VALIDATION_FAILED",
  "ERR_JWT_INVALID",
  "ERR_JWS_INVALID",
  "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
  "ERR_JOSE_ALG_NOT_ALLOWED",
  "ERR_JOSE_NOT_SUPPORTED",
  "ERR_JWKS_NO_MATCHING_KEY",
  "ERR_JWKS_MULTIPLE_MATCHING_KEYS",
]);

/** Characters a header value may not hold. */
const UNSAFE_IN_HEADER = /[\u0000-\u001f\u007f]/g;
/** ... and those a quoted-string may not hold either. */
const UNSAFE_IN_QUOTED = /[\u0000-\u001f\u007f"\\]/g;

function claimValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.replace(UNSAFE_IN_HEADER, "");
}

/** Find jwks_uri in the issuer's OIDC discovery document. */
async function discoverJwksUri(issuer: string, timeoutMs: number): Promise<URL> {
  const url = `${issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`;
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: "application/json" } });
  if (!res.ok) throw new Error(`OIDC discovery ${url} answered ${res.status}`);
  const doc = (await res.json()) as { issuer?: unknown; jwks_uri?: unknown };
  if (doc.issuer !== issuer) throw new Error(`OIDC discovery ${url} names issuer ${JSON.stringify(doc.issuer)}, not ${JSON.stringify(issuer)}`);
  if (typeof doc.jwks_uri !== "string" || !URL.canParse(doc.jwks_uri)) throw new Error(`OIDC discovery ${url} has no valid jwks_uri`);
  return new URL(doc.jwks_uri);
}

/**
 * `type: jwt` — accept only requests with a valid JSON Web Token (Authorization:
 * Bearer, or a cookie), signed by a key of a JWKS URL, of the issuer's OIDC discovery
 * document, or of static keys; issuer, audience, algorithms, expiry (with clock skew)
 * and required claims are checked, and chosen claims go to the backend as headers.
 *
 * @example
 * middlewares:
 *   users:
 *     type: jwt
 *     issuer: https://login.example.com/
 *     discovery: true
 *     audience: api
 *     claimsToHeaders: { sub: x-user-id }
 */
export const jwtPlugin = definePlugin<Options>({
  name: "jwt",
  create(options, { metrics }) {
    const decisions = authDecisions(metrics);
    const realm = options.realm === undefined ? "" : `realm="${options.realm}", `;
    const challenge = { "WWW-Authenticate": options.realm === undefined ? "Bearer" : `Bearer realm="${options.realm}"` };
    const verifyOptions: JWTVerifyOptions = {
      issuer: options.issuer,
      audience: options.audience,
      algorithms: options.algorithms,
      clockTolerance: options.clockSkew / 1000,
      requiredClaims: options.requiredClaims,
    };
    const remote = { cacheMaxAge: options.jwks.maxAge, cooldownDuration: options.jwks.cooldown, timeoutDuration: options.jwks.timeout };
    const claims = Object.keys(options.claimsToHeaders).map((claim) => [claim, options.claimsToHeaders[claim]!] as const);
    const cookie = options.cookie ?? null;
    const removeHeader = options.removeHeader;

    let keys: JWTVerifyGetKey | null = null;
    let discovering: Promise<JWTVerifyGetKey> | null = null;
    // jose is loaded when a jwt middleware is configured, not by every gateway at start.
    let jose: typeof Jose | null = null;
    const loading = import("jose").then((m) => {
      jose = m;
      if (options.keys !== undefined) keys = m.createLocalJWKSet({ keys: options.keys } as unknown as JSONWebKeySet);
      else if (options.jwksUri !== undefined) keys = m.createRemoteJWKSet(new URL(options.jwksUri), remote);
    });
    const discover = (): Promise<JWTVerifyGetKey> => {
      discovering ??= discoverJwksUri(options.issuer!, options.jwks.timeout).then(
        (uri) => (keys = jose!.createRemoteJWKSet(uri, remote)),
        (err: unknown) => {
          discovering = null; // the next request tries again
          throw err;
        },
      );
      return discovering;
    };

    function refuse(ex: Exchange, status: number, error: string, description: string): DirectResponse {
      return ex.respond(status, `${description}\n`, {
        "WWW-Authenticate": `Bearer ${realm}error="${error}", error_description="${description.replace(UNSAFE_IN_QUOTED, "'")}"`,
      });
    }

    async function verify(ex: Exchange, token: string): Promise<DirectResponse | undefined> {
      let payload: Record<string, unknown>;
      try {
        if (jose === null) await loading;
        const getKey = keys ?? (await discover());
        payload = (await jose!.jwtVerify(token, getKey, verifyOptions)).payload;
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (typeof code === "string" && INVALID_TOKEN_CODES.has(code)) {
          decisions.invalid.inc();
          return refuse(ex, 401, "invalid_token", (err as Error).message);
        }
        decisions.error.inc();
        return ex.respond(503, "the keys to check the token are unavailable; try again later\n", { "Retry-After": "5" });
      }
      decisions.allowed.inc();
      const headers = ex.request.headers;
      for (const [claim, header] of claims) {
        const value = claimValue(payload[claim]);
        if (value !== undefined) headers.set(header, value);
      }
      if (removeHeader) headers.delete("authorization");
      return undefined;
    }

    return {
      onRequest(ex) {
        const headers = ex.request.headers;
        for (const [, header] of claims) headers.delete(header);
        const auth = headers.get("authorization");
        let token: string | undefined;
        if (auth !== undefined) {
          if (auth.length < 8 || auth.slice(0, 7).toLowerCase() !== "bearer ") {
            decisions.invalid.inc();
            return refuse(ex, 400, "invalid_request", "expected Authorization: Bearer <token>");
          }
          token = auth.slice(7).trim();
        } else if (cookie !== null) {
          token = findCookie(headers.get("cookie"), cookie);
        }
        if (token === undefined || token === "") {
          decisions.missing.inc();
          return ex.respond(401, "a bearer token is required\n", challenge);
        }
        return verify(ex, token);
      },
    };
  },
});
