// Hot path: refuse request paths whose meaning depends on who normalizes them.

/**
 * Whether `path` has a "." or ".." segment, literally or percent-encoded
 * ("%2e", "%2E"). Routers match the raw path while backends usually resolve dot
 * segments, so "/public/../admin" would pass a /public router and reach /admin:
 * such requests are refused (400) instead of being guessed at. Two cheap indexOf
 * calls rule out almost every path.
 */
export function hasDotSegment(path: string): boolean {
  if (path.indexOf("/.") < 0 && path.indexOf("%2") < 0) return false;
  const decoded = path.replace(/%2e/gi, ".");
  let start = 0;
  while (start <= decoded.length) {
    let end = decoded.indexOf("/", start);
    if (end < 0) end = decoded.length;
    const len = end - start;
    if ((len === 1 && decoded.charCodeAt(start) === 46) || (len === 2 && decoded.charCodeAt(start) === 46 && decoded.charCodeAt(start + 1) === 46)) return true;
    start = end + 1;
  }
  return false;
}
