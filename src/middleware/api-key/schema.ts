import { z } from "zod";
import { authHeaderName } from "../auth-shared.js";

const apiKeyEntry = z
  .strictObject({
    name: z.string().min(1).regex(/^[\x21-\x7e]+$/, { message: "a key name is printable ASCII without spaces (it is sent in a header)" }).meta({ description: "Name of the key's owner, passed to the backend in nameHeader." }),
    key: z
      .string()
      .refine((k) => k.length >= 16, { message: "an API key has at least 16 characters (use a random one, e.g. openssl rand -hex 32)", params: { secret: true } })
      .optional()
      .meta({ description: "The key itself (prefer an environment reference, or sha256)." }),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, { message: "expected the key's SHA-256 as 64 hex digits (printf %s KEY | sha256sum)" })
      .optional()
      .meta({ description: "SHA-256 of the key, 64 hex digits, instead of the key." }),
  })
  .refine((e) => (e.key === undefined) !== (e.sha256 === undefined), { message: "give exactly one of key and sha256" });

export const apiKeySchema = z
  .strictObject({
    type: z.literal("api-key"),
    keys: z.array(apiKeyEntry).min(1).meta({ description: "Accepted keys, each with a name." }),
    header: authHeaderName.optional().meta({ description: 'Request header carrying the key (default "x-api-key" unless query is set).' }),
    query: z.string().min(1).regex(/^[^&=#?\s]+$/, { message: "a query parameter name may not contain &, =, #, ? or spaces" }).optional().meta({ description: "Query parameter carrying the key." }),
    nameHeader: authHeaderName.default("x-api-key-name").meta({ description: "Request header that carries the key's name to the backend (any value the client sent is replaced)." }),
    removeKey: z.boolean().default(true).meta({ description: "Remove the key (header and query parameter) before the request goes to the backend." }),
  })
  .refine((o) => new Set(o.keys.map((k) => k.name)).size === o.keys.length, { message: "key names must be unique" })
  .meta({ description: "Require an API key in a header or query parameter; the key's name goes to the backend." });
