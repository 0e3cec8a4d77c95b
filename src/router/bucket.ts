// Hot path: the per-host index of routers the table searches (built once per table).
import type { RouteEntry } from "./route.js";

/** A node of the segment trie; children by literal segment, plus one for any `:param`. */
export class TrieNode<T> {
  statics: Map<string, TrieNode<T>> | null = null;
  param: TrieNode<T> | null = null;
  /** Patterns that end exactly at this depth. */
  end: RouteEntry<T>[] | null = null;
  /** Prefixes and `*` patterns that end here: they match this depth and anything below. */
  rest: RouteEntry<T>[] | null = null;
  /** Lowest rank in this subtree, to skip it once a better match is known. */
  minRank = Number.POSITIVE_INFINITY;
}

/**
 * The routers of one host pattern, by kind of path condition: a map for exact
 * paths, a segment trie for prefixes and patterns, a list of regexes tried in
 * precedence order, and a list without a path condition. Every list is sorted by
 * rank (best first).
 */
export class HostBucket<T> {
  exact: Map<string, RouteEntry<T>[]> | null = null;
  root: TrieNode<T> | null = null;
  regex: RouteEntry<T>[] | null = null;
  any: RouteEntry<T>[] | null = null;
  minRank = Number.POSITIVE_INFINITY;

  add(entry: RouteEntry<T>): void {
    const p = entry.path;
    switch (p.kind) {
      case "none":
        this.any = push(this.any, entry);
        return;
      case "regex":
        this.regex = push(this.regex, entry);
        return;
      case "exact": {
        this.exact ??= new Map();
        this.exact.set(p.value, push(this.exact.get(p.value) ?? null, entry));
        return;
      }
      default: {
        let node = (this.root ??= new TrieNode());
        for (const seg of p.segments) {
          if (seg === ":") node = node.param ??= new TrieNode();
          else {
            node.statics ??= new Map();
            let child = node.statics.get(seg);
            if (child === undefined) node.statics.set(seg, (child = new TrieNode()));
            node = child;
          }
        }
        if (p.kind === "prefix" || p.wildcard) node.rest = push(node.rest, entry);
        else node.end = push(node.end, entry);
      }
    }
  }

  /** Sorts every list and computes the lowest ranks; call once all entries are added and ranked. */
  finish(): void {
    let min = Math.min(sortList(this.any), sortList(this.regex));
    if (this.exact !== null) for (const list of this.exact.values()) min = Math.min(min, sortList(list));
    if (this.root !== null) min = Math.min(min, finishNode(this.root));
    this.minRank = min;
  }
}

function push<T>(list: RouteEntry<T>[] | null, entry: RouteEntry<T>): RouteEntry<T>[] {
  if (list === null) return [entry];
  list.push(entry);
  return list;
}

function sortList<T>(list: RouteEntry<T>[] | null): number {
  if (list === null) return Number.POSITIVE_INFINITY;
  list.sort((a, b) => a.rank - b.rank);
  return list[0]!.rank;
}

function finishNode<T>(node: TrieNode<T>): number {
  let min = Math.min(sortList(node.end), sortList(node.rest));
  if (node.param !== null) min = Math.min(min, finishNode(node.param));
  if (node.statics !== null) for (const child of node.statics.values()) min = Math.min(min, finishNode(child));
  node.minRank = min;
  return min;
}
