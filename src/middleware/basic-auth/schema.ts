import { z } from "zod";
import { duration } from "../../config/schema-scalars.js";
import { authHeaderName, authRealm } from "../auth-shared.js";

/** bcrypt ($2a$/$2b$/$2y$, cost 04-31, 53 characters of salt and hash). */
export const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;
/** scrypt as `$scrypt$N=<cost>,r=<block size>,p=<parallelism>$<salt, base64>$<hash, base64>`. */
export const SCRYPT_HASH = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

const passwordHash = z.string().refine((h) => BCRYPT_HASH.test(h) || SCRYPT_HASH.test(h), {
  message:
    "expected a password hash: bcrypt ($2a$/$2b$/$2y$...) or scrypt ($scrypt$N=16384,r=8,p=1$<salt>$<hash>, base64); plain-text passwords are refused (see docs/middlewares/basic-auth.md to make a hash)",
  params: { secret: true },
});

export const basicAuthSchema = z
  .strictObject({
    type: z.literal("basic-auth"),
    users: z
      .record(z.string().min(1).regex(/^[^:]+$/, { message: "a user name may not contain ':'" }), passwordHash)
      .refine((u) => Object.keys(u).length > 0, { message: "give at least one user" })
      .meta({ description: "Users by name, each with a bcrypt or scrypt password hash (never plain text; environment references are expanded)." }),
    realm: authRealm
      .default("divisor")
      .meta({ description: "Realm named in the WWW-Authenticate challenge of a 401." }),
    removeHeader: z.boolean().default(true).meta({ description: "Remove the Authorization header before the request goes to the backend." }),
    userHeader: authHeaderName.optional().meta({ description: "Request header that carries the authenticated user's name to the backend (any value the client sent is replaced)." }),
    cache: z
      .strictObject({
        size: z.number().int().nonnegative().default(1000).meta({ description: "Most successful verifications remembered (0 turns the cache off)." }),
        ttl: duration.default(60_000).meta({ description: "How long a successful verification is remembered." }),
      })
      .default({ size: 1000, ttl: 60_000 })
      .meta({ description: "Remember successful verifications briefly, since bcrypt and scrypt are slow by design." }),
  })
  .meta({ description: "Require HTTP Basic credentials of a configured user (bcrypt or scrypt hashes)." });
