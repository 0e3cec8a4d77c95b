/**
 * A static look at a script before it is loaded: names of what the sandbox removed
 * (io, os, load, ...) are refused with their line, so a script that would only fail
 * at run time on some request fails at config load instead. Lua's own compiler checks
 * the syntax (vm.ts); this only tokenizes, skipping comments and strings.
 */

/** Names that reach outside the sandbox, and why each is gone. */
export const FORBIDDEN: Readonly<Record<string, string>> = {
  os: "no process or clock access (use time.now())",
  io: "no file access",
  debug: "no debug library",
  package: "no module loading",
  require: "no module loading",
  dofile: "no file access",
  loadfile: "no file access",
  load: "no loading of code at run time",
  loadstring: "no loading of code at run time",
  collectgarbage: "the gateway runs the garbage collector",
  coroutine: "no coroutines (each phase runs to completion within its budget)",
  print: "no standard output (use log.info())",
};

/** One refused name. */
export interface ForbiddenUse {
  readonly name: string;
  readonly line: number;
  readonly why: string;
}

/** Every global use of a forbidden name (not a field `x.os`, a method `x:load`, or a string). */
export function forbiddenUses(source: string): ForbiddenUse[] {
  const out: ForbiddenUse[] = [];
  let line = 1;
  let i = 0;
  let prev = "";
  const n = source.length;
  while (i < n) {
    const c = source[i]!;
    if (c === "\n") {
      line++;
      i++;
      continue;
    }
    if (c === "-" && source[i + 1] === "-") {
      const long = longBracket(source, i + 2);
      if (long !== null) {
        const end = source.indexOf(long, i + 2);
        const stop = end < 0 ? n : end + long.length;
        line += count(source, i, stop);
        i = stop;
      } else {
        while (i < n && source[i] !== "\n") i++;
      }
      continue;
    }
    if (c === '"' || c === "'") {
      i++;
      while (i < n && source[i] !== c && source[i] !== "\n") i += source[i] === "\\" ? 2 : 1;
      i++;
      prev = "string";
      continue;
    }
    if (c === "[") {
      const long = longBracket(source, i);
      if (long !== null) {
        const end = source.indexOf(long, i);
        const stop = end < 0 ? n : end + long.length;
        line += count(source, i, stop);
        i = stop;
        prev = "string";
        continue;
      }
    }
    if (/[A-Za-z_]/.test(c)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_]/.test(source[j]!)) j++;
      const word = source.slice(i, j);
      const why = FORBIDDEN[word];
      // A field or method name (`t.load`, `t:load`) is not the global; `..` is concatenation.
      const isField = prev === "." || prev === ":";
      // Assigning (`os = 1`, a table key `{ os = ... }`) makes a name of the script's own; only reads reach out.
      let k = j;
      while (source[k] === " " || source[k] === "\t") k++;
      const assigned = source[k] === "=" && source[k + 1] !== "=";
      if (why !== undefined && !isField && !assigned) out.push({ name: word, line, why });
      prev = word;
      i = j;
      continue;
    }
    if (c === "." && source[i + 1] === ".") {
      // Concatenation or varargs, not a field access.
      while (source[i] === ".") i++;
      prev = "..";
      continue;
    }
    if (c !== " " && c !== "\t" && c !== "\r") prev = c;
    i++;
  }
  return out;
}

/** At `[` or `[=*[`: the closing bracket of a long string/comment, else null. */
function longBracket(s: string, at: number): string | null {
  if (s[at] !== "[") return null;
  let j = at + 1;
  while (s[j] === "=") j++;
  if (s[j] !== "[") return null;
  return `]${"=".repeat(j - at - 1)}]`;
}

function count(s: string, from: number, to: number): number {
  let lines = 0;
  for (let k = from; k < to; k++) if (s.charCodeAt(k) === 10) lines++;
  return lines;
}
