/**
 * Validating a plugin's options with the plugin's own schema. The schema comes from
 * the plugin author's dependencies, so it is recognised by shape, never by
 * `instanceof` (two copies of zod are two classes): a Standard Schema
 * (`~standard.validate`, which zod 3.24+ and 4, valibot and arktype implement), or,
 * for older zod copies, `safeParse`.
 */
import { ConfigError, type ConfigIssue } from "../errors.js";

interface IssueLike {
  readonly message: string;
  readonly path?: ReadonlyArray<PropertyKey | { readonly key: PropertyKey }> | undefined;
}

interface StandardLike {
  readonly "~standard": { readonly validate: (value: unknown) => unknown };
}

interface SafeParseLike {
  safeParse(value: unknown): { success: boolean; data?: unknown; error?: { issues?: readonly IssueLike[] } };
}

function isStandard(schema: object): schema is StandardLike {
  const std = (schema as { "~standard"?: { validate?: unknown } })["~standard"];
  return typeof std === "object" && std !== null && typeof std.validate === "function";
}

function isSafeParse(schema: object): schema is SafeParseLike {
  return typeof (schema as { safeParse?: unknown }).safeParse === "function";
}

/** Where a schema issue is: `middlewares.<name>.options.<key>.<key>`. */
function issuePath(base: string, issue: IssueLike): string {
  const keys = (issue.path ?? []).map((segment) => String(typeof segment === "object" && segment !== null && "key" in segment ? segment.key : segment));
  return [base, ...keys].join(".");
}

/**
 * The options as the plugin's schema outputs them (defaults filled in), or a
 * ConfigError naming every failing option at `<where>.options.<path>`. Without a
 * schema the options pass as written.
 *
 * @example
 * validatePluginOptions(z.object({ header: z.string() }), { header: 1 }, "middlewares.tag", "divisor.yaml")
 * // ConfigError: divisor.yaml  middlewares.tag.options.header  Invalid input: expected string, received number
 */
export function validatePluginOptions(schema: unknown, options: unknown, where: string, file: string): unknown {
  if (schema === undefined) return options;
  const base = `${where}.options`;
  const fail = (issues: readonly IssueLike[]): never => {
    const found: ConfigIssue[] = issues.map((issue) => ({ file, line: 0, column: 0, path: issuePath(base, issue), message: issue.message }));
    throw new ConfigError(found.length > 0 ? found : [{ file, line: 0, column: 0, path: base, message: "the plugin's schema refused the options (it gave no reason)" }]);
  };
  const value = options ?? {};
  if (typeof schema === "object" && schema !== null && isSafeParse(schema)) {
    const parsed = schema.safeParse(value);
    if (parsed.success) return parsed.data;
    return fail(parsed.error?.issues ?? []);
  }
  if (typeof schema === "object" && schema !== null && isStandard(schema)) {
    const result = schema["~standard"].validate(value) as { value?: unknown; issues?: readonly IssueLike[] } | Promise<unknown>;
    if (result instanceof Promise || typeof (result as { then?: unknown }).then === "function") {
      return fail([{ message: "the plugin's options schema validates asynchronously; Divisor validates options while compiling the configuration and needs a synchronous schema" }]);
    }
    const done = result as { value?: unknown; issues?: readonly IssueLike[] };
    if (done.issues !== undefined && done.issues !== null) return fail(done.issues);
    return done.value;
  }
  return fail([{ message: "the plugin's `schema` is neither a Standard Schema (`~standard.validate`) nor a zod schema (`safeParse`); give it one of those, or no schema" }]);
}
