/**
 * A renderer for the subset of Go's text/template (with Helm's functions) that
 * deploy/helm/divisor uses, for tests only: Debian has no helm and nothing else
 * can be fetched here. Keep the chart within this subset; anything else is an
 * error here (a test failure), never a silent difference.
 *
 * Syntax: text and `{{ }}` actions with `{{-`/`-}}` trimming and `{{/* comments *\/}}`;
 * pipelines `a | f b` (the value piped in is the last argument); `( )` groups;
 * `$v := ...` and `$v = ...`; fields `.A.B`, `$.A`, `$v.A`; string ("...", `...`),
 * number, true/false/nil literals; `if`/`else if`/`else`, `range` (with `$i, $v :=`),
 * `with`/`else`, `define`, `template`, `end`.
 *
 * Functions: include, tpl-free Helm/Sprig ones: toYaml, toJson, nindent, indent,
 * quote, squote, default, required, fail, printf, print, eq, ne, lt, le, gt, ge, and,
 * or, not, empty, hasKey, keys, trunc, trimSuffix, trimPrefix, replace, lower,
 * upper, toString, int, len, list, dict, index, join, contains, sha256sum, b64enc, b64dec,
 * coalesce, ternary, kindIs, randAlphaNum, lookup (empty, as under `helm template`).
 *
 * Values print as Go does for strings, numbers, booleans; nil prints as "" (Helm
 * replaces "<no value>"); printing a map or a list is refused (use toYaml).
 * A field of nil is an error, as in Go ("nil pointer evaluating").
 */
import { createHash, randomBytes } from "node:crypto";
import { stringify } from "yaml";

type Value = unknown;

type Operand =
  | { kind: "field"; base: "dot" | "root" | string; path: string[] }
  | { kind: "literal"; value: Value }
  | { kind: "ident"; name: string }
  | { kind: "pipe"; pipe: Pipeline };

interface Pipeline {
  decl?: { names: string[]; assign: boolean };
  cmds: Operand[][];
}

type Node =
  | { kind: "text"; text: string }
  | { kind: "action"; pipe: Pipeline; where: string }
  | { kind: "if"; pipe: Pipeline; body: Node[]; else: Node[]; where: string }
  | { kind: "with"; pipe: Pipeline; body: Node[]; else: Node[]; where: string }
  | { kind: "range"; pipe: Pipeline; body: Node[]; else: Node[]; where: string }
  | { kind: "template"; name: string; pipe: Pipeline | undefined; where: string };

export class TemplateError extends Error {}

// ---- lexing ---------------------------------------------------------------

interface Piece {
  text?: string;
  action?: string;
  where: string;
}

function lex(source: string, file: string): Piece[] {
  const pieces: Piece[] = [];
  let at = 0;
  const lineOf = (i: number) => source.slice(0, i).split("\n").length;
  while (at < source.length) {
    const open = source.indexOf("{{", at);
    if (open < 0) {
      pieces.push({ text: source.slice(at), where: file });
      break;
    }
    let text = source.slice(at, open);
    const trimLeft = source.startsWith("{{- ", open) || source.startsWith("{{-\n", open);
    if (trimLeft) text = text.replace(/\s+$/, "");
    if (text !== "") pieces.push({ text, where: file });
    const start = open + (trimLeft ? 3 : 2);
    const close = source.indexOf("}}", start);
    if (close < 0) throw new TemplateError(`${file}:${lineOf(open)}: unclosed action`);
    const trimRight = source[close - 1] === "-" && /\s/.test(source[close - 2] ?? "");
    const body = source.slice(start, trimRight ? close - 1 : close).trim();
    at = close + 2;
    if (trimRight) while (at < source.length && /\s/.test(source[at]!)) at++;
    if (body.startsWith("/*")) {
      if (!body.endsWith("*/")) throw new TemplateError(`${file}:${lineOf(open)}: a comment must be {{/* ... */}}`);
      continue;
    }
    pieces.push({ action: body, where: `${file}:${lineOf(open)}` });
  }
  return pieces;
}

type Token = { t: "str" | "num" | "ident" | "field" | "var" | "punct"; v: string };

function tokenize(action: string, where: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < action.length) {
    const c = action[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"') {
      let j = i + 1;
      while (j < action.length && action[j] !== '"') j += action[j] === "\\" ? 2 : 1;
      tokens.push({ t: "str", v: JSON.parse(action.slice(i, j + 1)) as string });
      i = j + 1;
    } else if (c === "`") {
      const j = action.indexOf("`", i + 1);
      tokens.push({ t: "str", v: action.slice(i + 1, j) });
      i = j + 1;
    } else if (action.startsWith(":=", i)) {
      tokens.push({ t: "punct", v: ":=" });
      i += 2;
    } else if ("()|=,".includes(c)) {
      tokens.push({ t: "punct", v: c });
      i++;
    } else {
      const m = /^(-?\d+(?:\.\d+)?|\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*|(?:\.[A-Za-z0-9_]+)+|\.|[A-Za-z_][A-Za-z0-9_]*)/.exec(action.slice(i));
      if (m === null) throw new TemplateError(`${where}: cannot read ${JSON.stringify(action.slice(i))}`);
      const v = m[1]!;
      tokens.push({ t: /^-?\d/.test(v) ? "num" : v.startsWith("$") ? "var" : v.startsWith(".") ? "field" : "ident", v });
      i += v.length;
    }
  }
  return tokens;
}

// ---- parsing --------------------------------------------------------------

function parsePipeline(tokens: Token[], where: string): Pipeline {
  let pos = 0;
  const pipeline = (): Pipeline => {
    const p: Pipeline = { cmds: [] };
    // $a := ..., $i, $v := ...
    const names: string[] = [];
    let look = pos;
    while (tokens[look]?.t === "var") {
      names.push(tokens[look]!.v);
      if (tokens[look + 1]?.v === ",") look += 2;
      else break;
    }
    const op = tokens[look + 1];
    if (names.length > 0 && op?.t === "punct" && (op.v === ":=" || op.v === "=")) {
      p.decl = { names, assign: op.v === "=" };
      pos = look + 2;
    }
    let cmd: Operand[] = [];
    while (pos < tokens.length) {
      const tok = tokens[pos]!;
      if (tok.v === ")" && tok.t === "punct") break;
      pos++;
      if (tok.t === "punct" && tok.v === "|") {
        p.cmds.push(cmd);
        cmd = [];
      } else if (tok.t === "punct" && tok.v === "(") {
        const inner = pipeline();
        if (tokens[pos]?.v !== ")") throw new TemplateError(`${where}: missing )`);
        pos++;
        cmd.push({ kind: "pipe", pipe: inner });
      } else if (tok.t === "str") cmd.push({ kind: "literal", value: tok.v });
      else if (tok.t === "num") cmd.push({ kind: "literal", value: Number(tok.v) });
      else if (tok.t === "field") cmd.push({ kind: "field", base: "dot", path: tok.v === "." ? [] : tok.v.slice(1).split(".") });
      else if (tok.t === "var") {
        const [name, ...path] = tok.v.split(".");
        cmd.push({ kind: "field", base: name === "$" ? "root" : name!, path });
      } else if (tok.t === "ident") {
        if (tok.v === "true" || tok.v === "false") cmd.push({ kind: "literal", value: tok.v === "true" });
        else if (tok.v === "nil") cmd.push({ kind: "literal", value: null });
        else cmd.push({ kind: "ident", name: tok.v });
      } else throw new TemplateError(`${where}: unexpected ${tok.v}`);
    }
    if (cmd.length === 0) throw new TemplateError(`${where}: empty command in pipeline`);
    p.cmds.push(cmd);
    return p;
  };
  const p = pipeline();
  if (pos !== tokens.length) throw new TemplateError(`${where}: unexpected ${tokens[pos]!.v}`);
  return p;
}

function parse(source: string, file: string, defines: Map<string, Node[]>): Node[] {
  const pieces = lex(source, file);
  let i = 0;
  // Returns the nodes up to an `end`/`else` (which it leaves in `stop`).
  const block = (inside: string | undefined): { nodes: Node[]; stop: string | undefined; where: string } => {
    const nodes: Node[] = [];
    while (i < pieces.length) {
      const piece = pieces[i++]!;
      if (piece.text !== undefined) {
        nodes.push({ kind: "text", text: piece.text });
        continue;
      }
      const action = piece.action!;
      const [word] = action.split(/\s+/, 1);
      const rest = action.slice(word!.length).trim();
      const where = piece.where;
      if (word === "end" || word === "else") {
        if (inside === undefined) throw new TemplateError(`${where}: {{ ${word} }} outside a block`);
        return { nodes, stop: word === "end" ? "end" : rest === "" ? "else" : `else ${rest}`, where };
      }
      if (word === "if" || word === "with" || word === "range") {
        const pipe = parsePipeline(tokenize(rest, where), where);
        const node = { kind: word, pipe, body: [] as Node[], else: [] as Node[], where };
        const body = block(word);
        node.body = body.nodes;
        let stop = body.stop;
        let target = node;
        while (stop !== "end") {
          if (stop === undefined) throw new TemplateError(`${where}: {{ ${word} }} has no {{ end }}`);
          if (stop === "else") {
            const elseBody = block(word);
            target.else = elseBody.nodes;
            stop = elseBody.stop;
            if (stop !== "end") throw new TemplateError(`${elseBody.where}: expected {{ end }} after {{ else }}`);
          } else if (stop.startsWith("else if ")) {
            const inner = { kind: "if" as const, pipe: parsePipeline(tokenize(stop.slice("else if ".length), where), where), body: [] as Node[], else: [] as Node[], where };
            target.else = [inner];
            const innerBody = block("if");
            inner.body = innerBody.nodes;
            stop = innerBody.stop;
            target = inner as typeof node;
          } else throw new TemplateError(`${where}: unexpected {{ ${stop} }}`);
        }
        nodes.push(node as Node);
      } else if (word === "define") {
        const name = JSON.parse(rest) as string;
        const body = block("define");
        if (body.stop !== "end") throw new TemplateError(`${where}: {{ define }} needs {{ end }}`);
        defines.set(name, body.nodes);
      } else if (word === "template") {
        const tokens = tokenize(rest, where);
        const name = tokens.shift();
        if (name?.t !== "str") throw new TemplateError(`${where}: {{ template "name" pipeline }}`);
        nodes.push({ kind: "template", name: name.v, pipe: tokens.length > 0 ? parsePipeline(tokens, where) : undefined, where });
      } else {
        nodes.push({ kind: "action", pipe: parsePipeline(tokenize(action, where), where), where });
      }
    }
    if (inside !== undefined) throw new TemplateError(`${file}: {{ ${inside} }} has no {{ end }}`);
    return { nodes, stop: undefined, where: file };
  };
  return block(undefined).nodes;
}

// ---- evaluation -----------------------------------------------------------

function isMap(v: Value): v is Record<string, Value> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function truthy(v: Value): boolean {
  if (v === null || v === undefined || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (isMap(v)) return Object.keys(v).length > 0;
  return true;
}

function show(v: Value, where: string): string {
  if (v === null || v === undefined) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new TemplateError(`${where}: printing a ${Array.isArray(v) ? "list" : "map"} directly; use toYaml or toJson`);
}

function toYaml(v: Value): string {
  if (v === null || v === undefined) return "null";
  // sigs.k8s.io/yaml (Helm's toYaml) sorts map keys; no trailing newline.
  return stringify(v, { sortMapEntries: true, lineWidth: 0 }).replace(/\n$/, "");
}

function indent(n: number, s: string): string {
  const pad = " ".repeat(n);
  return pad + s.replace(/\n/g, `\n${pad}`);
}

function printf(format: string, args: Value[], where: string): string {
  let k = 0;
  return format.replace(/%([sdvq%])/g, (_m, verb: string) => {
    if (verb === "%") return "%";
    const a = args[k++];
    if (verb === "q") return JSON.stringify(show(a, where));
    return show(a, where);
  });
}

class Scope {
  constructor(
    readonly vars: Map<string, Value>,
    readonly parent?: Scope,
  ) {}
  get(name: string, where: string): Value {
    if (this.vars.has(name)) return this.vars.get(name);
    if (this.parent !== undefined) return this.parent.get(name, where);
    throw new TemplateError(`${where}: undefined variable ${name}`);
  }
  set(name: string, value: Value, where: string): void {
    if (this.vars.has(name)) this.vars.set(name, value);
    else if (this.parent !== undefined) this.parent.set(name, value, where);
    else throw new TemplateError(`${where}: assigning undeclared variable ${name}`);
  }
}

export class Renderer {
  private readonly defines = new Map<string, Node[]>();
  private readonly files = new Map<string, Node[]>();

  /** Parses a template file; its `define`s become available to every file. */
  add(name: string, source: string): void {
    this.files.set(name, parse(source, name, this.defines));
  }

  render(name: string, root: Value): string {
    const nodes = this.files.get(name);
    if (nodes === undefined) throw new TemplateError(`no template file ${name}`);
    return this.run(nodes, root, root, new Scope(new Map()), name);
  }

  private run(nodes: Node[], dot: Value, root: Value, scope: Scope, _file: string): string {
    let out = "";
    for (const node of nodes) {
      if (node.kind === "text") {
        out += node.text;
        continue;
      }
      const where = node.where;
      switch (node.kind) {
        case "action": {
          const v = this.pipeline(node.pipe, dot, root, scope, where);
          if (node.pipe.decl === undefined) out += show(v, where);
          break;
        }
        case "if": {
          const inner = new Scope(new Map(), scope);
          out += truthy(this.pipeline(node.pipe, dot, root, inner, where)) ? this.run(node.body, dot, root, inner, where) : this.run(node.else, dot, root, inner, where);
          break;
        }
        case "with": {
          const inner = new Scope(new Map(), scope);
          const v = this.pipeline(node.pipe, dot, root, inner, where);
          out += truthy(v) ? this.run(node.body, v, root, inner, where) : this.run(node.else, dot, root, inner, where);
          break;
        }
        case "range": {
          const decl = node.pipe.decl;
          const v = this.pipeline({ cmds: node.pipe.cmds }, dot, root, scope, where);
          const entries: [Value, Value][] = Array.isArray(v)
            ? v.map((x, i) => [i, x])
            : isMap(v)
              ? Object.keys(v)
                  .sort()
                  .map((k) => [k, v[k]])
              : v === null || v === undefined
                ? []
                : (() => {
                    throw new TemplateError(`${where}: range over ${typeof v}`);
                  })();
          if (entries.length === 0) out += this.run(node.else, dot, root, scope, where);
          for (const [k, x] of entries) {
            const inner = new Scope(new Map(), scope);
            if (decl !== undefined) {
              if (decl.names.length === 1) inner.vars.set(decl.names[0]!, x);
              else {
                inner.vars.set(decl.names[0]!, k);
                inner.vars.set(decl.names[1]!, x);
              }
            }
            out += this.run(node.body, x, root, inner, where);
          }
          break;
        }
        case "template":
          out += this.include(node.name, node.pipe === undefined ? null : this.pipeline(node.pipe, dot, root, scope, where), where);
          break;
      }
    }
    return out;
  }

  private include(name: string, data: Value, where: string): string {
    const nodes = this.defines.get(name) ?? this.files.get(name);
    if (nodes === undefined) throw new TemplateError(`${where}: no template named ${JSON.stringify(name)}`);
    return this.run(nodes, data, data, new Scope(new Map()), name);
  }

  private pipeline(p: Pipeline, dot: Value, root: Value, scope: Scope, where: string): Value {
    let piped: Value;
    let first = true;
    for (const cmd of p.cmds) {
      piped = this.command(cmd, dot, root, scope, where, first ? undefined : { value: piped });
      first = false;
    }
    if (p.decl !== undefined) {
      const [name] = p.decl.names;
      if (p.decl.assign) scope.set(name!, piped, where);
      else scope.vars.set(name!, piped);
    }
    return piped;
  }

  private operand(op: Operand, dot: Value, root: Value, scope: Scope, where: string): Value {
    switch (op.kind) {
      case "literal":
        return op.value;
      case "pipe":
        return this.pipeline(op.pipe, dot, root, new Scope(new Map(), scope), where);
      case "ident":
        return this.call(op.name, [], where, dot);
      case "field": {
        let v = op.base === "dot" ? dot : op.base === "root" ? root : scope.get(op.base, where);
        let walked = op.base === "dot" ? "" : op.base;
        for (const key of op.path) {
          if (v === null || v === undefined) throw new TemplateError(`${where}: nil pointer evaluating ${walked}.${key}`);
          if (!isMap(v)) throw new TemplateError(`${where}: can't evaluate field ${key} in ${walked} (a ${Array.isArray(v) ? "list" : typeof v})`);
          v = v[key];
          walked += `.${key}`;
        }
        return v;
      }
    }
  }

  private command(cmd: Operand[], dot: Value, root: Value, scope: Scope, where: string, piped: { value: Value } | undefined): Value {
    const head = cmd[0]!;
    const rest = cmd.slice(1);
    if (head.kind === "ident") {
      const args = rest.map((a) => this.operand(a, dot, root, scope, where));
      if (piped !== undefined) args.push(piped.value);
      return this.call(head.name, args, where, dot);
    }
    if (rest.length > 0 || piped !== undefined) throw new TemplateError(`${where}: a value cannot take arguments`);
    return this.operand(head, dot, root, scope, where);
  }

  private call(name: string, a: Value[], where: string, _dot: Value): Value {
    const str = (v: Value) => show(v, where);
    switch (name) {
      case "include":
        return this.include(str(a[0]), a[1], where);
      case "toYaml":
        return toYaml(a[0]);
      case "toJson":
        return JSON.stringify(a[0] ?? null);
      case "nindent":
        return `\n${indent(Number(a[0]), str(a[1]))}`;
      case "indent":
        return indent(Number(a[0]), str(a[1]));
      case "quote":
        return a.map((v) => JSON.stringify(str(v))).join(" ");
      case "squote":
        return a.map((v) => `'${str(v)}'`).join(" ");
      case "default":
        return truthy(a[1]) ? a[1] : a[0];
      case "required":
        if (a[1] === null || a[1] === undefined || a[1] === "") throw new TemplateError(`${where}: ${str(a[0])}`);
        return a[1];
      case "fail":
        throw new TemplateError(`${where}: ${str(a[0])}`);
      case "printf":
        return printf(str(a[0]), a.slice(1), where);
      case "print":
        return a.map(str).join("");
      case "eq":
        return a.slice(1).some((b) => b === a[0]);
      case "ne":
        return a[0] !== a[1];
      case "lt":
        return Number(a[0]) < Number(a[1]);
      case "le":
        return Number(a[0]) <= Number(a[1]);
      case "gt":
        return Number(a[0]) > Number(a[1]);
      case "ge":
        return Number(a[0]) >= Number(a[1]);
      // Go's and/or: the first argument that decides, else the last one.
      case "and": {
        const i = a.findIndex((v) => !truthy(v));
        return i < 0 ? a[a.length - 1] : a[i];
      }
      case "or": {
        const i = a.findIndex(truthy);
        return i < 0 ? a[a.length - 1] : a[i];
      }
      case "not":
        return !truthy(a[0]);
      case "empty":
        return !truthy(a[0]);
      case "hasKey":
        return isMap(a[0]) && Object.hasOwn(a[0], str(a[1]));
      case "keys":
        return isMap(a[0]) ? Object.keys(a[0]).sort() : [];
      case "trunc":
        return str(a[1]).slice(0, Number(a[0]));
      case "trimSuffix":
        return str(a[1]).endsWith(str(a[0])) ? str(a[1]).slice(0, -str(a[0]).length || undefined) : str(a[1]);
      case "trimPrefix":
        return str(a[1]).startsWith(str(a[0])) ? str(a[1]).slice(str(a[0]).length) : str(a[1]);
      case "replace":
        return str(a[2]).split(str(a[0])).join(str(a[1]));
      case "lower":
        return str(a[0]).toLowerCase();
      case "upper":
        return str(a[0]).toUpperCase();
      case "toString":
        return str(a[0]);
      case "int":
        return Math.trunc(Number(a[0] ?? 0));
      case "len":
        return Array.isArray(a[0]) ? a[0].length : isMap(a[0]) ? Object.keys(a[0]).length : str(a[0]).length;
      case "list":
        return [...a];
      case "dict": {
        const d: Record<string, Value> = {};
        for (let i = 0; i < a.length; i += 2) d[str(a[i])] = a[i + 1];
        return d;
      }
      case "join":
        return (a[1] as Value[]).map(str).join(str(a[0]));
      case "contains":
        return str(a[1]).includes(str(a[0]));
      case "sha256sum":
        return createHash("sha256").update(str(a[0])).digest("hex");
      case "b64dec":
        return Buffer.from(str(a[0]), "base64").toString();
      case "index": {
        let v = a[0];
        for (const k of a.slice(1)) v = isMap(v) ? v[str(k)] : Array.isArray(v) ? v[Number(k)] : null;
        return v;
      }
      case "b64enc":
        return Buffer.from(str(a[0])).toString("base64");
      case "coalesce":
        return a.find(truthy) ?? null; // nothing truthy: nil
      case "ternary":
        return truthy(a[2]) ? a[0] : a[1];
      case "kindIs": {
        const v = a[1];
        const kind = v === null || v === undefined ? "invalid" : Array.isArray(v) ? "slice" : isMap(v) ? "map" : typeof v === "number" ? (Number.isInteger(v) ? "int" : "float64") : typeof v === "boolean" ? "bool" : "string";
        return kind === str(a[0]);
      }
      case "randAlphaNum": {
        const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        return [...randomBytes(Number(a[0]))].map((b) => alphabet[b % alphabet.length]).join("");
      }
      case "lookup":
        // `helm template` and `--dry-run` have no cluster: lookup answers an empty map.
        return {};
      default:
        throw new TemplateError(`${where}: function ${JSON.stringify(name)} is not in the subset test/deploy/helm/template.ts renders; keep the chart to it or teach the renderer`);
    }
  }
}
