/**
 * Secret redaction for what the admin API shows of a configuration. One walk over
 * plain data, driven by two documented lists:
 *
 * - SECRET_KEY_PATTERNS: a key whose name says it holds a secret (token, password,
 *   secret, apiKey, authorization, privateKey, ...) has its string and number values
 *   replaced (in a list, each of them), at any depth: in plugin options as much as in
 *   the gateway's own keys. An object under such a key is walked by its own keys
 *   (`tokens: [{ name, token }]` keeps the names; a hash `key: { source, name }` is no secret);
 * - SECRET_PATHS: keys whose every value is a secret whatever its name
 *   (`tracing.headers.*`: exporter headers usually carry an API key; the password
 *   hashes of basic-auth users; jwt's symmetric keys and api-key digests).
 *
 * And two shapes: `{ name, value }` where the name says secret (a header match or a
 * header list entry) has its value redacted, and a URL with a password
 * (`scheme://user:password@host`) keeps everything but the password.
 */

/** What a redacted value becomes. */
export const REDACTED = "<redacted>";

/**
 * Key names (compared in lower case, without "-" and "_") that hold secrets.
 * Matches token, accessToken, api_tokens, password, db-passwd, passphrase, pass,
 * secret, clientSecret, secretKey, apiKey, x-api-key, authorization,
 * proxy-authorization, privateKey, private_key, credentials, key (a TLS key),
 * bearer, signingKey. "cookie" is not listed: a cookie *name* (sticky.cookie) is no secret.
 */
export const SECRET_KEY_PATTERNS: readonly RegExp[] = [
  /tokens?$/,
  /passw(or)?d/,
  /passphrase/,
  /^pass$/,
  /secret/,
  /apikeys?$/,
  /authorization$/,
  /privatekey/,
  /credentials?$/,
  /^key$/,
  /bearer/,
  /signingkey/,
];

/** Paths (dot-separated, "*" = any key) under which every value is secret. */
export const SECRET_PATHS: readonly (readonly string[])[] = [
  ["tracing", "headers", "*"],
  // basic-auth password hashes, by user name
  ["middlewares", "*", "users", "*"],
  // jwt static keys: an "oct" key's k; api-key digests
  ["middlewares", "*", "keys", "*", "k"],
  ["middlewares", "*", "keys", "*", "sha256"],
];

/** Whether a key's name says it holds a secret. */
export function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, "");
  return SECRET_KEY_PATTERNS.some((p) => p.test(k));
}

const URL_PASSWORD_RE = /^([a-z][a-z0-9+.-]*:\/\/[^/@:\s]*:)[^/@\s]*@/i;

function redactString(s: string): string {
  return URL_PASSWORD_RE.test(s) ? s.replace(URL_PASSWORD_RE, `$1${REDACTED}@`) : s;
}

function onSecretPath(path: readonly string[]): boolean {
  return SECRET_PATHS.some((p) => p.length === path.length && p.every((seg, i) => seg === "*" || seg === path[i]));
}

/**
 * A copy of `value` with secrets replaced by "<redacted>" (see the module comment);
 * `value` itself is not changed.
 *
 * @example
 * redactSecrets({ admin: { tokens: [{ name: "ops", token: "s3cr3t..." }] } })
 * // { admin: { tokens: [{ name: "ops", token: "<redacted>" }] } }
 */
export function redactSecrets<T>(value: T): T {
  return walk(value, [], false) as T;
}

function walk(value: unknown, path: string[], secret: boolean): unknown {
  if (typeof value === "string") return secret ? REDACTED : redactString(value);
  if (typeof value === "number" || typeof value === "bigint") return secret ? REDACTED : value;
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v, i) => walk(v, [...path, String(i)], secret));
  const record = value as Record<string, unknown>;
  const namedSecret = typeof record.name === "string" && isSecretKey(record.name);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record)) {
    const at = [...path, key];
    const isSecret = isSecretKey(key) || onSecretPath(at) || (namedSecret && key === "value");
    out[key] = walk(record[key], at, isSecret);
  }
  return out;
}
