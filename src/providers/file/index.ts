/**
 * The file provider: fragments (routers, services, middlewares, tenants) from one
 * YAML/JSON file or a directory of them, read again when they change. A file that
 * does not parse keeps its last good content in force, with file:line:column in the error.
 */
import fs from "node:fs";
import path from "node:path";
import { parseFragmentText } from "../../config/load.js";
import { ConfigError } from "../../errors.js";
import type { ConfigFragment, ProviderContext, ProviderType, RunningProvider } from "../types.js";
import { type FileProviderConfig, fileProviderSchema } from "./schema.js";

const EXTENSIONS = new Set([".yaml", ".yml", ".json"]);
/** Editors write a file in several steps: one read per burst of changes. */
const SETTLE_MS = 100;

export const provider: ProviderType<FileProviderConfig> = {
  type: "file",
  schema: fileProviderSchema,
  async start(config, context) {
    return new FileWatcher(config, context).start();
  },
};

type Fragment = Record<string, Record<string, unknown> | undefined>;

class FileWatcher implements RunningProvider {
  /** Each file's last good fragment. */
  private readonly good = new Map<string, Fragment>();
  private watcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly target: string;

  constructor(
    private readonly config: FileProviderConfig,
    private readonly context: ProviderContext,
  ) {
    this.target = path.resolve(config.path);
  }

  start(): this {
    const directory = isDirectory(this.target);
    if (this.config.watch) {
      // A file is watched through its directory: editors and deploy tools replace files (rename), which ends a watch on the file itself.
      const dir = directory ? this.target : path.dirname(this.target);
      const only = directory ? undefined : path.basename(this.target);
      try {
        this.watcher = fs.watch(dir, (_event, name) => {
          if (only !== undefined && name !== null && name !== only) return;
          if (this.timer !== null) clearTimeout(this.timer);
          this.timer = setTimeout(() => {
            this.timer = null;
            this.scan();
          }, SETTLE_MS);
        });
        this.watcher.on("error", (err) => this.context.failed(new Error(`watching ${dir} failed: ${err.message}`)));
      } catch (err) {
        this.context.failed(new Error(`cannot watch ${dir}: ${(err as Error).message}`));
      }
    }
    this.scan();
    return this;
  }

  /** Read every file, keep the last good content of those that fail, report the whole. */
  private scan(): void {
    if (this.context.signal.aborted) return;
    const problems: string[] = [];
    let files: string[];
    try {
      files = isDirectory(this.target)
        ? fs
            .readdirSync(this.target)
            .filter((f) => EXTENSIONS.has(path.extname(f)) && !f.startsWith("."))
            .sort()
            .map((f) => path.join(this.target, f))
        : [this.target];
    } catch (err) {
      this.context.failed(new Error(`cannot read ${this.target}: ${(err as Error).message}`));
      return;
    }
    for (const file of this.good.keys()) if (!files.includes(file)) this.good.delete(file);
    for (const file of files) {
      let text: string;
      try {
        text = fs.readFileSync(file, "utf8");
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        // Removed between the listing and the read: it is gone, not broken.
        if (code === "ENOENT" && files.length > 1) {
          this.good.delete(file);
          continue;
        }
        problems.push(`${file}: cannot read it: ${code === "ENOENT" ? "no such file" : (err as Error).message}`);
        continue;
      }
      try {
        this.good.set(file, parseFragmentText(text, file) as Fragment);
      } catch (err) {
        problems.push(err instanceof ConfigError ? err.message : `${file}: ${(err as Error).message}`);
      }
    }
    const { fragment, collisions } = combine(this.good);
    problems.push(...collisions);
    this.context.update(fragment);
    if (problems.length > 0) this.context.failed(new Error(`${problems.join("\n")}\n(the last good content of these files stays in force)`));
  }

  async close(): Promise<void> {
    this.watcher?.close();
    if (this.timer !== null) clearTimeout(this.timer);
  }
}

/** The files' fragments as one, in file-name order; a name defined by two files is taken from the first. */
function combine(files: ReadonlyMap<string, Fragment>): { fragment: ConfigFragment; collisions: string[] } {
  const out: Record<string, Record<string, unknown>> = {};
  const owner = new Map<string, string>();
  const collisions: string[] = [];
  for (const [file, fragment] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    for (const [kind, entries] of Object.entries(fragment)) {
      if (entries === undefined || entries === null) continue;
      out[kind] ??= {};
      for (const [name, value] of Object.entries(entries)) {
        const key = `${kind}.${name}`;
        const first = owner.get(key);
        if (first !== undefined) {
          collisions.push(`${file}: ${key} is already defined by ${first}; this one is left out`);
          continue;
        }
        owner.set(key, file);
        out[kind]![name] = value;
      }
    }
  }
  return { fragment: out as ConfigFragment, collisions };
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}
