/**
 * Divisor-specific settings on Kubernetes objects. One annotation, on an Ingress or an
 * HTTPRoute: `divisor.dev/middlewares: "auth, rate-limit"` runs those middlewares
 * (declared in the gateway's configuration file) on every router the object makes,
 * before the object's own filters. HTTPRoutes may also name one with an ExtensionRef
 * filter `{ group: divisor.dev, kind: Middleware, name: <middleware> }`.
 */

export const MIDDLEWARES_ANNOTATION = "divisor.dev/middlewares";
export const EXTENSION_GROUP = "divisor.dev";

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** The middleware names an object's annotation asks for, or an error message. */
export function middlewaresAnnotation(annotations: Record<string, string> | undefined): string[] | string {
  const raw = annotations?.[MIDDLEWARES_ANNOTATION];
  if (raw === undefined || raw.trim() === "") return [];
  const names = raw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  const bad = names.find((n) => !NAME_RE.test(n));
  if (bad !== undefined) return `annotation ${MIDDLEWARES_ANNOTATION}: "${bad}" is not a middleware name (letters, digits, '_', '.', '-'; names separated by commas)`;
  return names;
}
