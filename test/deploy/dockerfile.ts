/**
 * Runs a Dockerfile's steps without a Docker engine (none runs here), so a test fails
 * when a step of the image's build breaks: each stage gets a root directory in a temp
 * dir standing for its filesystem; WORKDIR, COPY (from the build context or
 * `--from=<stage>`), ENV and RUN (`sh -c` in the stage's WORKDIR, with the host's
 * Node and npm standing for the base image's) act on it; USER, EXPOSE, HEALTHCHECK,
 * ENTRYPOINT, CMD are recorded, and {@link imagePath} maps the image's absolute paths
 * (in ENTRYPOINT, CMD, HEALTHCHECK) into the final stage's root.
 *
 * What it cannot stand for: the base image itself (the test checks its Node major
 * against the host's), file ownership (`--chown`), and RUN steps that use absolute
 * paths (the Dockerfile keeps them relative to WORKDIR, and says so).
 */
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, posix } from "node:path";

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string | undefined;
  base: string;
  instructions: Instruction[];
}

export interface Dockerfile {
  stages: Stage[];
  /** Global ARG defaults (before the first FROM). */
  args: Record<string, string>;
}

/** Splits a Dockerfile into stages of instructions (continuation lines joined, comments dropped). */
export function parseDockerfile(text: string): Dockerfile {
  const lines = text.split("\n");
  const instructions: Instruction[] = [];
  let current: Instruction | undefined;
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (current === undefined && (line === "" || line.startsWith("#"))) return;
    if (current !== undefined && line.startsWith("#")) return;
    const continued = line.endsWith("\\");
    const body = continued ? line.slice(0, -1).trim() : line;
    if (current === undefined) {
      const m = /^(\S+)\s*(.*)$/.exec(body);
      if (m === null) throw new Error(`Dockerfile line ${i + 1}: cannot read ${JSON.stringify(raw)}`);
      current = { keyword: m[1]!.toUpperCase(), args: m[2]!, line: i + 1 };
    } else {
      current.args = `${current.args} ${body}`.trim();
    }
    if (!continued) {
      instructions.push(current);
      current = undefined;
    }
  });
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const ins of instructions) {
    if (ins.keyword === "FROM") {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args);
      if (m === null) throw new Error(`Dockerfile line ${ins.line}: FROM ${ins.args} is not "image [AS name]"`);
      stages.push({ base: substitute(m[1]!, args), name: m[2], instructions: [] });
    } else if (stages.length === 0) {
      if (ins.keyword !== "ARG") throw new Error(`Dockerfile line ${ins.line}: only ARG may come before the first FROM`);
      const [name, value = ""] = ins.args.split("=", 2);
      args[name!] = value;
    } else {
      stages[stages.length - 1]!.instructions.push(ins);
    }
  }
  return { stages, args };
}

function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a: string | undefined, b: string | undefined) => vars[(a ?? b)!] ?? "");
}

/** The JSON (exec) form of ENTRYPOINT, CMD, HEALTHCHECK CMD; the shell form is refused (it needs a shell as PID 1, which swallows SIGTERM). */
export function execForm(args: string, where: string): string[] {
  try {
    const parsed: unknown = JSON.parse(args);
    if (Array.isArray(parsed) && parsed.every((a) => typeof a === "string")) return parsed;
  } catch {
    // falls through to the error
  }
  throw new Error(`${where}: ${args} is not the exec form ["cmd", "arg", ...]`);
}

export interface BuiltImage {
  /** The final stage's root directory. */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  exposed: string[];
  entrypoint: string[];
  cmd: string[];
  healthcheck: { options: Record<string, string>; command: string[] } | undefined;
  /** Each RUN step run, with its output (for failure messages). */
  log: string[];
}

/** Patterns of a .dockerignore (comments and blank lines dropped). */
export function dockerignore(context: string): string[] {
  const file = join(context, ".dockerignore");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
}

function run(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn("sh", ["-c", command], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    child.on("close", (code) => resolve({ code, output }));
  });
}

/**
 * Builds every stage in order under `dir` (a temp dir), from the build context
 * `context`; throws naming the Dockerfile line of the first step that fails.
 */
export async function buildDockerfile(file: Dockerfile, context: string, dir: string): Promise<BuiltImage> {
  const roots = new Map<string, string>();
  const ignored = dockerignore(context);
  let image: BuiltImage | undefined;
  for (const [index, stage] of file.stages.entries()) {
    const root = join(dir, `stage-${index}`);
    mkdirSync(root, { recursive: true });
    if (stage.name !== undefined) roots.set(stage.name, root);
    roots.set(String(index), root);
    const built: BuiltImage = { root, workdir: "/", env: {}, user: undefined, exposed: [], entrypoint: [], cmd: [], healthcheck: undefined, log: [] };
    const at = (p: string) => join(root, posix.resolve(built.workdir, p));
    for (const ins of stage.instructions) {
      const where = `Dockerfile line ${ins.line} (${ins.keyword} ${ins.args})`;
      switch (ins.keyword) {
        case "WORKDIR":
          built.workdir = posix.resolve(built.workdir, ins.args);
          mkdirSync(join(root, built.workdir), { recursive: true });
          break;
        case "ENV": {
          const m = /^(\w+)=(.*)$/.exec(ins.args) ?? /^(\w+)\s+(.*)$/.exec(ins.args);
          if (m === null) throw new Error(`${where}: expected NAME=value`);
          built.env[m[1]!] = m[2]!;
          break;
        }
        case "COPY": {
          const words = ins.args.split(/\s+/);
          const flags = words.filter((w) => w.startsWith("--"));
          const paths = words.filter((w) => !w.startsWith("--"));
          if (paths.length < 2) throw new Error(`${where}: expected sources and a destination`);
          const from = flags.find((f) => f.startsWith("--from="))?.slice("--from=".length);
          const dest = paths.pop()!;
          if (paths.length > 1 && !dest.endsWith("/")) throw new Error(`${where}: several sources need a destination ending in /`);
          const sourceRoot = from === undefined ? context : roots.get(from);
          if (sourceRoot === undefined) throw new Error(`${where}: no earlier stage named ${from}`);
          for (const source of paths) {
            if (from === undefined && ignored.includes(source.replace(/\/$/, ""))) throw new Error(`${where}: ${source} is excluded by .dockerignore`);
            const src = join(sourceRoot, from === undefined ? source : posix.resolve("/", source));
            if (!existsSync(src)) throw new Error(`${where}: ${source} does not exist in ${from === undefined ? "the build context" : `stage ${from}`}`);
            const target = dest.endsWith("/") && !statSync(src).isDirectory() ? join(at(dest), basename(src)) : at(dest);
            cpSync(src, target, { recursive: true });
          }
          break;
        }
        case "RUN": {
          const { code, output } = await run(ins.args, join(root, built.workdir), { ...process.env, ...built.env });
          built.log.push(`$ ${ins.args}\n${output}`);
          if (code !== 0) throw new Error(`${where} exited with ${code}:\n${output}`);
          break;
        }
        case "USER":
          built.user = ins.args;
          break;
        case "EXPOSE":
          built.exposed.push(...ins.args.split(/\s+/));
          break;
        case "ENTRYPOINT":
          built.entrypoint = execForm(ins.args, where);
          break;
        case "CMD":
          built.cmd = execForm(ins.args, where);
          break;
        case "HEALTHCHECK": {
          const m = /^((?:--\S+\s+)*)CMD\s+(.*)$/.exec(ins.args);
          if (m === null) throw new Error(`${where}: expected [--option=value ...] CMD ["cmd", ...]`);
          const options = Object.fromEntries(
            m[1]!
              .trim()
              .split(/\s+/)
              .filter((o) => o !== "")
              .map((o) => o.slice(2).split("=", 2) as [string, string]),
          );
          built.healthcheck = { options, command: execForm(m[2]!, where) };
          break;
        }
        case "ARG":
        case "LABEL":
        case "STOPSIGNAL":
          break;
        default:
          throw new Error(`${where}: this test does not know how to run ${ins.keyword}; teach test/deploy/dockerfile.ts`);
      }
    }
    image = built;
  }
  if (image === undefined) throw new Error("the Dockerfile has no FROM");
  return image;
}

/** An absolute path of the image, inside the final stage's root when it exists there (a command like `node` stays as it is). */
export function imagePath(image: BuiltImage, arg: string): string {
  if (!arg.startsWith("/")) return arg;
  const inside = join(image.root, arg);
  return existsSync(inside) ? inside : arg;
}
