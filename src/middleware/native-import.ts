/**
 * Node's own `import()`, kept apart: the CLI's bundle turns its import() calls into
 * require() (it runs from a V8 code cache, which has no ES module loader), so the
 * build replaces this file with a small CommonJS file next to the bundle that keeps
 * a real import() (scripts/build-cli.mjs), which plugins that are ES modules need.
 */
export function nativeImport(url: string): Promise<Record<string, unknown>> {
  return import(url);
}
