/** A step in a configuration document: a mapping key or a list index. */
export type PathSegment = string | number;

const PLAIN_KEY_RE = /^[A-Za-z_$][\w$-]*$/;

/**
 * Renders a document path the way users read it in errors and docs.
 *
 * @example
 * formatPath(["services", "api", "backends", 0, "address"]) // "services.api.backends[0].address"
 * formatPath(["tenants", "acme.com", "hosts"])              // 'tenants["acme.com"].hosts'
 */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (PLAIN_KEY_RE.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
