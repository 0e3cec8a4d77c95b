/**
 * Loading the config's `plugins:` entries: resolve `from` (a file relative to the
 * config file's directory, or an npm package resolved from there as Node would),
 * import it (TypeScript through tsx's loader, JavaScript with Node's import()), and
 * find the plugin among its exports. A file's contents are fingerprinted so a reload
 * can tell whether the module must be imported again.
 */
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, extname, isAbsolute, join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { resolve as resolveSpecifier } from "import-meta-resolve";
import type { PluginEntryConfig } from "../config/schema.js";
import { PluginError } from "../errors.js";
import { nativeImport } from "./native-import.js";
import type { Plugin } from "./plugin.js";

/** Extensions loaded through tsx (TypeScript) and natively (JavaScript). */
const TYPESCRIPT = new Set([".ts", ".mts", ".cts"]);
const JAVASCRIPT = new Set([".js", ".mjs", ".cjs"]);

/** One imported plugin module. */
export interface LoadedModule {
  /** The resolved file URL of the module's entry. */
  readonly url: string;
  readonly plugin: Plugin<unknown>;
  /** The files whose contents make the fingerprint (the entry; for TypeScript every local file it imported). */
  readonly files: readonly string[];
  readonly fingerprint: string;
  /** Lets go of the module's tsx loader namespace (TypeScript only). */
  release(): Promise<void>;
}

/** How an entry is named in errors: `plugins[0] "tag" (./tag.ts)`. */
function describeEntry(index: number, entry: PluginEntryConfig): string {
  return `plugins[${index}] "${entry.name}" (from "${entry.from}")`;
}

function isPathLike(from: string): boolean {
  return from.startsWith("./") || from.startsWith("../") || from === "." || from === ".." || from.startsWith("file:") || isAbsolute(from);
}

/**
 * The file URL an entry's `from` names: a path relative to `baseDir`, or a package
 * resolved from `baseDir` with Node's ES module rules (its `exports`, the "import"
 * condition). Throws a PluginError saying where it looked.
 */
export function resolvePluginEntry(entry: PluginEntryConfig, index: number, baseDir: string): string {
  const what = describeEntry(index, entry);
  let file: string;
  if (isPathLike(entry.from)) {
    file = entry.from.startsWith("file:") ? fileURLToPath(entry.from) : resolve(baseDir, entry.from);
    if (!existsSync(file)) {
      throw new PluginError("ERR_PLUGIN_NOT_FOUND", entry.name, `${what}: no file at ${file} (a relative path is resolved from ${baseDir}, the config file's directory); fix the path`);
    }
    if (statSync(file).isDirectory()) {
      throw new PluginError(
        "ERR_PLUGIN_NOT_FOUND",
        entry.name,
        `${what}: ${file} is a directory; name the module's file (e.g. "${join(entry.from, "src", "index.ts")}"), or install the directory as a package and use its name`,
      );
    }
  } else {
    let url: string;
    try {
      url = resolveSpecifier(entry.from, pathToFileURL(baseDir.endsWith(sep) ? baseDir : `${baseDir}${sep}`).href);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const hint =
        code === "ERR_MODULE_NOT_FOUND"
          ? `the package is not installed where Node looks from ${baseDir} (node_modules there and in its parents); run \`npm install ${entry.from}\` in the config's directory, or give a file path ("./...")`
          : `${(err as Error).message}`;
      throw new PluginError("ERR_PLUGIN_NOT_FOUND", entry.name, `${what}: cannot resolve the package: ${hint}`, { cause: err });
    }
    if (!url.startsWith("file:")) {
      throw new PluginError("ERR_PLUGIN_NOT_FOUND", entry.name, `${what}: resolves to ${url}, not a file; a plugin is a file or an installed npm package`);
    }
    file = fileURLToPath(url);
  }
  const ext = extname(file);
  if (!TYPESCRIPT.has(ext) && !JAVASCRIPT.has(ext)) {
    throw new PluginError("ERR_PLUGIN_FILE_TYPE", entry.name, `${what}: ${file} is not a module Divisor loads (${ext || "no extension"}); expected .ts, .mts, .cts, .js, .mjs or .cjs`);
  }
  return pathToFileURL(file).href;
}

/** sha256 over the files' contents (a missing file counts as changed). */
export function fingerprintFiles(files: readonly string[]): string {
  const hash = createHash("sha256");
  for (const file of files) {
    hash.update(file);
    try {
      hash.update(readFileSync(file));
    } catch {
      hash.update("\0missing");
    }
  }
  return hash.digest("hex");
}

/** Whether a loaded module's files changed since it was imported. */
export function moduleChanged(module: LoadedModule): boolean {
  return fingerprintFiles(module.files) !== module.fingerprint;
}

/**
 * Import an entry's module (resolved by resolvePluginEntry) and find its plugin.
 * An ES module's URL carries its fingerprint, so a changed file is a new module and
 * an unchanged one the module Node already has; TypeScript gets a fresh tsx
 * namespace, which imports its local files again too.
 */
export async function importPluginModule(entry: PluginEntryConfig, index: number, url: string): Promise<LoadedModule> {
  const what = describeEntry(index, entry);
  const file = fileURLToPath(url);
  let exports: Record<string, unknown>;
  let files: string[] = [file];
  let release = async (): Promise<void> => {};
  try {
    if (TYPESCRIPT.has(extname(file))) {
      const loaded = await importTypeScript(url, file);
      exports = loaded.exports;
      files = loaded.files;
      release = loaded.release;
    } else {
      exports = await nativeImport(`${url}?divisor-plugin=${fingerprintFiles(files).slice(0, 16)}`);
    }
  } catch (err) {
    if (err instanceof PluginError) throw err;
    throw new PluginError("ERR_PLUGIN_IMPORT", entry.name, `${what}: importing ${file} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  const plugin = findPlugin(exports);
  if (plugin === undefined) {
    await release();
    throw new PluginError(
      "ERR_PLUGIN_EXPORT",
      entry.name,
      `${what}: ${file} exports no plugin (found ${describeExports(exports)}); export one made with definePlugin: \`export default definePlugin({ name: "${entry.name}", create(options, context) { return { onRequest(exchange) {} } } })\`, or \`export const plugin = definePlugin(...)\``,
    );
  }
  return { url, plugin, files, fingerprint: fingerprintFiles(files), release };
}

/** tsx's loader in a namespace of its own, recording the local files the module imports. */
async function importTypeScript(url: string, file: string): Promise<{ exports: Record<string, unknown>; files: string[]; release: () => Promise<void> }> {
  // Loaded only when a TypeScript plugin is configured (tsx brings esbuild along). Its ES module
  // build: the CommonJS one registers its Node 20 loader hooks from a path that does not exist.
  const esm = (await nativeImport("tsx/esm/api")) as unknown as typeof import("tsx/esm/api");
  const cjs = (await nativeImport("tsx/cjs/api")) as unknown as typeof import("tsx/cjs/api");
  const namespace = randomUUID();
  const files = new Set<string>([file]);
  // Both hooks: a .ts file outside a "type": "module" package is CommonJS, which Node loads with require.
  const cjsApi = cjs.register({ namespace });
  const api = esm.register({
    namespace,
    tsconfig: nearestTsconfig(dirname(file)) ?? false,
    onImport: (imported) => {
      if (!imported.startsWith("file:") || imported.includes("/node_modules/")) return;
      const path = fileURLToPath(imported.replace(/[?#].*$/, ""));
      if (TYPESCRIPT.has(extname(path)) || JAVASCRIPT.has(extname(path))) files.add(path);
    },
  });
  const release = async (): Promise<void> => {
    cjsApi.unregister();
    await api.unregister();
  };
  try {
    const exports = (await api.import(url, url)) as Record<string, unknown>;
    return { exports, files: [...files].sort(), release };
  } catch (err) {
    await release();
    throw err;
  }
}

/** The plugin's own tsconfig.json (its `paths`, JSX settings), looked for from its directory up. */
function nearestTsconfig(dir: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    const candidate = join(at, "tsconfig.json");
    if (existsSync(candidate)) return candidate;
    if (dirname(at) === at) return undefined;
  }
}

function isPlugin(value: unknown): value is Plugin<unknown> {
  return typeof value === "object" && value !== null && typeof (value as Plugin).create === "function" && typeof (value as Plugin).name === "string";
}

/** `default`, then `plugin`; through one more `default` for CommonJS compiled from ESM (`exports.default = ...`). */
function findPlugin(exports: Record<string, unknown>): Plugin<unknown> | undefined {
  const inner = exports.default as Record<string, unknown> | undefined;
  const candidates = [exports.default, exports.plugin, typeof inner === "object" && inner !== null ? inner.default : undefined, typeof inner === "object" && inner !== null ? inner.plugin : undefined];
  return candidates.find(isPlugin);
}

function describeValue(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "function") return "a function";
  if (typeof value !== "object") return typeof value;
  const keys = Object.keys(value);
  const missing = [typeof (value as Plugin).name === "string" ? "" : "a string `name`", typeof (value as Plugin).create === "function" ? "" : "a `create` function"].filter((m) => m !== "");
  return `an object with ${keys.length === 0 ? "no keys" : `keys ${keys.join(", ")}`}${missing.length > 0 ? `, without ${missing.join(" and ")}` : ""}`;
}

function describeExports(exports: Record<string, unknown>): string {
  const names = Object.keys(exports);
  if (names.length === 0) return "no exports";
  return names
    .slice(0, 6)
    .map((name) => `${name}: ${describeValue(exports[name])}`)
    .join("; ");
}

/** The config's plugins as the CLI's offline checks use them: imported and checked, with stand-ins for middlewares. */
export interface OfflinePlugins {
  /** By entry name: the plugin's schema (so options are validated) and a `create` that returns no phases (so none of its code runs). */
  readonly byName: ReadonlyMap<string, Plugin<unknown>>;
  /** Let go of the modules' loader namespaces. */
  release(): Promise<void>;
}

/**
 * Import every entry (from `baseDir`) and check its export, for `divisor validate`,
 * `routes` and `explain`: neither `init` nor `create` runs.
 */
export async function loadPluginsOffline(entries: readonly PluginEntryConfig[], baseDir: string): Promise<OfflinePlugins> {
  const byName = new Map<string, Plugin<unknown>>();
  const modules: LoadedModule[] = [];
  const release = async (): Promise<void> => {
    await Promise.all(modules.map((m) => m.release()));
  };
  try {
    for (const [index, entry] of entries.entries()) {
      const module = await importPluginModule(entry, index, resolvePluginEntry(entry, index, baseDir));
      modules.push(module);
      byName.set(entry.name, { name: entry.name, schema: module.plugin.schema, create: () => ({}) });
    }
  } catch (err) {
    await release();
    throw err;
  }
  return { byName, release };
}
