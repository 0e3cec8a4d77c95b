/**
 * Installs examples/plugin-header-rewrite as an npm package in `dir`/node_modules,
 * the way a user's project has it: compiled to JavaScript (esbuild, as `npm run
 * build` there would with tsc), its dependencies beside it, and `divisor` (its peer
 * dependency) linked to this repository's build. The bench's divisor-plugin row and
 * the plugin-loading tests load it by package name through the config's `plugins:`.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { transformSync } from "esbuild";

export const EXAMPLE_PLUGIN_PACKAGE = "divisor-plugin-header-rewrite";

export function installExamplePlugin(dir: string, root: string): string {
  const modules = join(dir, "node_modules");
  const pkg = join(modules, EXAMPLE_PLUGIN_PACKAGE);
  mkdirSync(join(pkg, "dist"), { recursive: true });
  const source = join(root, "examples/plugin-header-rewrite");
  copyFileSync(join(source, "package.json"), join(pkg, "package.json"));
  const { code } = transformSync(readFileSync(join(source, "src/index.ts"), "utf8"), { loader: "ts", format: "esm", target: "node20" });
  writeFileSync(join(pkg, "dist/index.js"), code);
  if (!existsSync(join(root, "dist/index.js"))) throw new Error("dist/index.js is missing: run npm run build first (the plugin package imports divisor's build)");
  for (const [name, target] of [
    ["divisor", root],
    ["zod", join(root, "node_modules/zod")],
  ] as const) {
    if (!existsSync(join(modules, name))) symlinkSync(target, join(modules, name), "dir");
  }
  return pkg;
}
