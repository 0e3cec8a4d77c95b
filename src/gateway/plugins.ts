/**
 * The plugins a gateway has loaded, and their lifecycle: `init` once per load,
 * `reload` on a config reload that keeps the module, `close` when the plugin is
 * unloaded (gateway close, dropped by a reload, or replaced by a changed file). A
 * reload prepares the next set beside the current one, so a refused reload closes
 * only what it loaded and leaves the running plugins as they were.
 */
import type { PluginEntryConfig } from "../config/schema.js";
import { ConfigError, PluginError } from "../errors.js";
import type { Plugin, PluginLifecycleContext } from "../middleware/plugin.js";
import { importPluginModule, type LoadedModule, moduleChanged, resolvePluginEntry } from "../middleware/plugin-loader.js";
import type { Logger } from "../observability/logger.js";

interface FilePlugin {
  readonly module: LoadedModule;
  readonly context: PluginLifecycleContext;
}

/** A set of plugins ready for the next table: commit once it is in force, abort if it never will be. */
export interface PreparedPlugins {
  /** Every plugin by the name middlewares use (those passed in code, and the config's). */
  readonly byName: ReadonlyMap<string, Plugin<unknown>>;
  /** The set is in force: close the plugins it no longer has. */
  commit(): void;
  /** The set will not be used: close the plugins it loaded. */
  abort(): Promise<void>;
}

export class GatewayPlugins {
  /** The config's plugins in force, by entry name. */
  private files = new Map<string, FilePlugin>();
  /** Whether the plugins passed in code had their init. */
  private codeStarted = false;

  constructor(
    private readonly code: ReadonlyMap<string, Plugin<unknown>>,
    private readonly log: Logger,
    /** Told of every module imported (metrics), once its init succeeded. */
    private readonly imported: (name: string) => void = () => {},
  ) {}

  /** Whether preparing has async work (a module to import, an init to wait for), so the first table cannot be compiled synchronously. */
  needsPreparing(entries: readonly PluginEntryConfig[]): boolean {
    return entries.length > 0 || (!this.codeStarted && [...this.code.values()].some((p) => p.init !== undefined));
  }

  /** The plugins passed in code, for a first table compiled without preparing (none of them has an init). */
  startWithoutPreparing(): ReadonlyMap<string, Plugin<unknown>> {
    this.codeStarted = true;
    return this.code;
  }

  /**
   * Load the entries of the next configuration: a module already loaded from the
   * same file, unchanged, is kept (its `reload` runs); any other is imported and its
   * `init` runs. The first call also runs `init` of the plugins passed in code;
   * later ones their `reload`. Throws (having closed what it loaded) when a module
   * cannot be loaded or a hook throws.
   */
  async prepare(entries: readonly PluginEntryConfig[], baseDir: string, source: string): Promise<PreparedPlugins> {
    const next = new Map<string, FilePlugin>();
    const fresh: FilePlugin[] = [];
    const kept: FilePlugin[] = [];
    const codeInited: [string, Plugin<unknown>][] = [];
    const abort = async (): Promise<void> => {
      await Promise.all(fresh.map((p) => this.closeOne(p.context.name, p.module.plugin, p.module)));
    };
    try {
      for (const [index, entry] of entries.entries()) {
        if (this.code.has(entry.name)) {
          throw new ConfigError([
            { file: source, line: 0, column: 0, path: `plugins[${index}].name`, message: `a plugin passed in code (createGateway options) is already named "${entry.name}"; give this entry another name` },
          ]);
        }
        const url = resolvePluginEntry(entry, index, baseDir);
        const current = this.files.get(entry.name);
        if (current !== undefined && current.module.url === url && !moduleChanged(current.module)) {
          next.set(entry.name, current);
          kept.push(current);
          continue;
        }
        const module = await importPluginModule(entry, index, url);
        const loaded: FilePlugin = { module, context: { name: entry.name, from: url, log: this.log } };
        try {
          await runHook("ERR_PLUGIN_INIT", "init", loaded.context, module.plugin);
        } catch (err) {
          // Not closed: its init did not finish (close is for what init set up).
          await module.release();
          throw err;
        }
        next.set(entry.name, loaded);
        fresh.push(loaded);
        this.imported(entry.name);
      }
      for (const plugin of kept) await runHook("ERR_PLUGIN_RELOAD", "reload", plugin.context, plugin.module.plugin);
      const firstTime = !this.codeStarted;
      for (const [name, plugin] of this.code) {
        const context: PluginLifecycleContext = { name, from: undefined, log: this.log };
        if (firstTime) {
          await runHook("ERR_PLUGIN_INIT", "init", context, plugin);
          codeInited.push([name, plugin]);
        } else await runHook("ERR_PLUGIN_RELOAD", "reload", context, plugin);
      }
      this.codeStarted = true;
    } catch (err) {
      await abort();
      // Code plugins whose init ran are closed too: the next try runs every init again.
      await Promise.all(codeInited.map(([name, plugin]) => this.closeOne(name, plugin, undefined)));
      throw err;
    }
    const byName = new Map<string, Plugin<unknown>>(this.code);
    for (const [name, plugin] of next) byName.set(name, plugin.module.plugin);
    return {
      byName,
      commit: () => {
        const previous = this.files;
        this.files = next;
        for (const [name, plugin] of previous) {
          if (next.get(name) !== plugin) void this.closeOne(name, plugin.module.plugin, plugin.module);
        }
      },
      abort,
    };
  }

  /** Close every plugin (the gateway is closing). */
  async close(): Promise<void> {
    const files = [...this.files];
    this.files = new Map();
    await Promise.all(files.map(([name, p]) => this.closeOne(name, p.module.plugin, p.module)));
    if (this.codeStarted) await Promise.all([...this.code].map(([name, plugin]) => this.closeOne(name, plugin, undefined)));
    this.codeStarted = false;
  }

  private async closeOne(name: string, plugin: Plugin<unknown>, module: LoadedModule | undefined): Promise<void> {
    try {
      await plugin.close?.();
    } catch (err) {
      this.log.error({ plugin: name, err: err instanceof Error ? err.message : String(err), stack: err instanceof Error ? err.stack : undefined }, "a plugin's close() failed");
    }
    await module?.release();
  }
}

async function runHook(code: string, hook: "init" | "reload", context: PluginLifecycleContext, plugin: Plugin<unknown>): Promise<void> {
  if (plugin[hook] === undefined) return;
  try {
    await plugin[hook](context);
  } catch (err) {
    const where = context.from === undefined ? "passed in code" : context.from;
    throw new PluginError(code, context.name, `plugin "${context.name}" (${where}): ${hook}() failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
