import { z } from "zod";
import { duration } from "../../config/schema-scalars.js";
import { authHeaderName, authHttpUrl, authRealm } from "../auth-shared.js";

export const JWT_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519", "HS256", "HS384", "HS512"] as const;

export const jwtSchema = z
  .strictObject({
    type: z.literal("jwt"),
    jwksUri: authHttpUrl.optional().meta({ description: "URL of the JSON Web Key Set that signs tokens; fetched, cached and refetched when a token names an unknown key (kid)." }),
    discovery: z
      .boolean()
      .default(false)
      .meta({ description: "OIDC: find jwks_uri in <issuer>/.well-known/openid-configuration (fetched on the first request, again after a failure)." }),
    keys: z
      .array(
        z.record(z.string(), z.unknown()).refine((k) => k.d === undefined, {
          message: "this JWK holds a private key (its d member): give the public key only, a verifier needs nothing else",
          params: { secret: true },
        }),
      )
      .min(1)
      .optional()
      .meta({ description: 'Static keys instead of a JWKS URL: JWK objects (e.g. { kty: RSA, n, e, kid }; an "oct" key\'s k is a secret, use an environment reference).' }),
    issuer: z.string().min(1).optional().meta({ description: "Required iss claim (and, with discovery, the OIDC issuer URL)." }),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional().meta({ description: "Accepted aud values; a token must name one of them." }),
    algorithms: z
      .array(z.enum(JWT_ALGORITHMS))
      .min(1)
      .default(["RS256", "PS256", "ES256", "EdDSA"])
      .meta({ description: "Signature algorithms accepted (alg); anything else is refused." }),
    clockSkew: duration.default(30_000).meta({ description: "Tolerance for exp, nbf and iat against this host's clock." }),
    requiredClaims: z.array(z.string().min(1)).default([]).meta({ description: "Claims a token must carry (besides those checked by issuer and audience)." }),
    claimsToHeaders: z
      .record(z.string().min(1), authHeaderName)
      .default({})
      .meta({ description: "Claim name → request header carrying its value to the backend (objects as JSON); client-sent values are removed." }),
    cookie: z.string().min(1).optional().meta({ description: "Cookie to read the token from when there is no Authorization: Bearer header." }),
    removeHeader: z.boolean().default(false).meta({ description: "Remove the Authorization header before the request goes to the backend (a token cookie is left as is)." }),
    realm: authRealm
      .optional()
      .meta({ description: "Realm named in the WWW-Authenticate: Bearer challenge." }),
    jwks: z
      .strictObject({
        maxAge: duration.default(600_000).meta({ description: "Longest a fetched key set is used before it is fetched again." }),
        cooldown: duration.default(30_000).meta({ description: "Shortest time between two fetches (an unknown kid refetches only after it)." }),
        timeout: duration.default(5_000).meta({ description: "Time a JWKS or discovery fetch may take." }),
      })
      .default({ maxAge: 600_000, cooldown: 30_000, timeout: 5_000 })
      .meta({ description: "Fetching of the JWKS URL." }),
  })
  .refine((o) => [o.jwksUri !== undefined, o.discovery, o.keys !== undefined].filter(Boolean).length === 1, {
    message: "give exactly one key source: jwksUri, discovery: true (with issuer) or keys",
  })
  .refine((o) => !o.discovery || (o.issuer !== undefined && URL.canParse(o.issuer)), { message: "discovery needs issuer, the issuer's URL" })
  .meta({ description: "Validate a JWT (Bearer token or cookie) against a JWKS URL, OIDC discovery or static keys." });
