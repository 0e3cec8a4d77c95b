import type { z } from "zod";
import type { builtinMiddlewareSchemas } from "../../config/schema.js";
import { authDecisions, nodeCrypto, secretsEqual, sha256 } from "../auth-shared.js";
import { type DirectResponse, definePlugin, type Exchange } from "../plugin.js";
import { SCRYPT_HASH } from "./schema.js";

type Options = z.output<(typeof builtinMiddlewareSchemas)["basic-auth"]>;

/** A parsed password hash, ready to check a password against. */
type Verifier = (password: string) => Promise<boolean>;

function scrypt(password: string, salt: Buffer, keylen: number, N: number, r: number, p: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    nodeCrypto().scrypt(password, salt, keylen, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) => (err === null ? resolve(key) : reject(err)));
  });
}

function compileHash(hash: string): Verifier {
  const s = SCRYPT_HASH.exec(hash);
  // bcryptjs is loaded by the first check, not at start.
  if (s === null) return async (password) => (await import("bcryptjs")).default.compare(password, hash);
  const N = Number(s[1]);
  const r = Number(s[2]);
  const p = Number(s[3]);
  const salt = Buffer.from(s[4]!, "base64");
  const expected = Buffer.from(s[5]!, "base64");
  return async (password) => secretsEqual(await scrypt(password, salt, expected.length, N, r, p), expected);
}

/**
 * `type: basic-auth` — require HTTP Basic credentials of a configured user. Passwords
 * are stored as bcrypt or scrypt hashes; successful checks are remembered for a short
 * while (bounded), since both hashes are slow by design.
 *
 * @example
 * middlewares:
 *   staff:
 *     type: basic-auth
 *     realm: staff
 *     users: { alice: "$2b$10$...", bob: "${BOB_HASH}" }
 *     userHeader: x-auth-user
 */
export const basicAuthPlugin = definePlugin<Options>({
  name: "basic-auth",
  create(options, { metrics }) {
    const decisions = authDecisions(metrics);
    const users = new Map<string, Verifier>();
    for (const name of Object.keys(options.users)) users.set(name, compileHash(options.users[name]!));
    // Unknown users are checked against a real hash too, so timing does not tell which names exist.
    const decoy = users.values().next().value!;
    const challenge = { "WWW-Authenticate": `Basic realm="${options.realm}", charset="UTF-8"` };
    const removeHeader = options.removeHeader;
    const userHeader = options.userHeader ?? null;
    const cacheSize = options.cache.size;
    const cacheTtl = options.cache.ttl;
    /** sha256(Authorization header) → user and expiry; insertion order is age order, so the first key is the oldest. */
    const cache = new Map<string, { readonly user: string; readonly expires: number }>();

    function deny(ex: Exchange, missing: boolean): DirectResponse {
      (missing ? decisions.missing : decisions.invalid).inc();
      return ex.respond(401, "authentication required\n", challenge);
    }

    function allow(ex: Exchange, user: string): undefined {
      decisions.allowed.inc();
      const headers = ex.request.headers;
      if (removeHeader) headers.delete("authorization");
      if (userHeader !== null) headers.set(userHeader, user);
      return undefined;
    }

    async function verify(ex: Exchange, user: string, password: string, key: string): Promise<DirectResponse | undefined> {
      const verifier = users.get(user);
      const ok = (await (verifier ?? decoy)(password)) && verifier !== undefined;
      if (!ok) return deny(ex, false);
      if (cacheSize > 0) {
        cache.delete(key);
        if (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
        cache.set(key, { user, expires: Date.now() + cacheTtl });
      }
      return allow(ex, user);
    }

    return {
      onRequest(ex) {
        const headers = ex.request.headers;
        // A client may not name itself to the backend.
        if (userHeader !== null) headers.delete(userHeader);
        const auth = headers.get("authorization");
        if (auth === undefined || auth.length < 7 || auth.slice(0, 6).toLowerCase() !== "basic ") return deny(ex, auth === undefined);
        // The cache is keyed by a digest of the header (never the password itself); a hit skips decoding.
        const key = cacheSize > 0 ? sha256(auth).toString("base64") : "";
        if (cacheSize > 0) {
          const hit = cache.get(key);
          if (hit !== undefined) {
            if (hit.expires > Date.now()) return allow(ex, hit.user);
            cache.delete(key);
          }
        }
        const decoded = Buffer.from(auth.slice(6).trim(), "base64").toString("utf8");
        const colon = decoded.indexOf(":");
        if (colon <= 0) return deny(ex, false);
        const user = decoded.slice(0, colon);
        const password = decoded.slice(colon + 1);
        return verify(ex, user, password, key);
      },
    };
  },
});
