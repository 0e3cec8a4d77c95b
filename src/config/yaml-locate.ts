/**
 * Finds where a document path is written in YAML source, so an issue found on the
 * parsed value can name a line and column. Follows aliases and `<<` merge keys to
 * where the value is actually written; when the path leaves the document (a
 * missing key), answers with the nearest enclosing node.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type Pair } from "yaml";
import type { IssueTarget } from "./issues.js";
import type { PathSegment } from "./path.js";

function start(node: unknown): number | undefined {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range?.[0];
}

function resolve(doc: Document, node: unknown): unknown {
  return isAlias(node) ? node.resolve(doc) : node;
}

/** A pair's key as text; `<<` for a merge key (which yaml gives a symbol value). */
export function keyText(pair: Pair<unknown, unknown>): string | undefined {
  if (!isScalar(pair.key)) return undefined;
  return typeof pair.key.value === "symbol" ? "<<" : String(pair.key.value);
}

function findPair(doc: Document, node: unknown, key: string, depth = 0): Pair | undefined {
  const map = resolve(doc, node);
  if (!isMap(map) || depth > 10) return undefined;
  for (const pair of map.items) if (keyText(pair) === key) return pair;
  for (const pair of map.items) {
    if (keyText(pair) !== "<<") continue;
    const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
    for (const source of sources) {
      const found = findPair(doc, source, key, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * Source offset of the node an issue points at (see IssueTarget), or of its
 * nearest written ancestor.
 */
export function locate(doc: Document, path: readonly PathSegment[], target: IssueTarget): number {
  const steps = target === "value" ? path.length : path.length - 1;
  let node: unknown = doc.contents;
  let offset = start(node) ?? 0;
  for (let i = 0; i < steps; i++) {
    const seg = path[i]!;
    const container = resolve(doc, node);
    if (typeof seg === "number" && isSeq(container)) {
      node = container.items[seg];
      if (node === undefined) return offset;
    } else {
      const pair = findPair(doc, container, String(seg));
      if (pair === undefined) return offset;
      // `key:` with nothing after it has no value node: point at the key.
      node = pair.value ?? pair.key;
      offset = start(pair.key) ?? offset;
    }
    node = resolve(doc, node);
    offset = start(node) ?? offset;
  }
  if (target === "key") {
    const pair = findPair(doc, node, String(path.at(-1)));
    return start(pair?.key) ?? offset;
  }
  return offset;
}
