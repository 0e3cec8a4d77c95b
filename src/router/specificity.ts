/**
 * Precedence between routers ("most specific wins"), as one number per router and
 * host pattern so the table compares candidates with a single integer:
 *
 *   priority (higher first), then specificity (higher first), then name (A..Z).
 *
 * Specificity packs, most significant first (bits): host (8: exact 255, wildcard =
 * suffix labels, any 0), path kind (3: exact 4, pattern 3, prefix 2, regex 1, none 0),
 * path detail (17: see CompiledPath.detail), methods (6: restricted beats not, fewer
 * methods beat more), header conditions (6: more beat fewer). It stays below 2^40.
 */

const HOST = 2 ** 32;
const CATEGORY = 2 ** 29;
const DETAIL = 2 ** 12;
const METHODS = 2 ** 6;

export interface SpecificityParts {
  host: number;
  category: number;
  detail: number;
  /** Number of methods listed; 0 = any method. */
  methods: number;
  headers: number;
}

export function packSpecificity(p: SpecificityParts): number {
  const methods = p.methods === 0 ? 0 : 64 - Math.min(p.methods, 63);
  return p.host * HOST + p.category * CATEGORY + p.detail * DETAIL + methods * METHODS + Math.min(p.headers, 63);
}

function unpack(s: number): [host: number, category: number, detail: number, methods: number, headers: number] {
  return [Math.floor(s / HOST), Math.floor(s / CATEGORY) % 8, Math.floor(s / DETAIL) % 2 ** 17, Math.floor(s / METHODS) % 64, s % 64];
}

/** What a router's precedence is made of. */
export interface Ranked {
  readonly name: string;
  readonly priority: number;
  readonly specificity: number;
}

/** Sort order of the table: negative when `a` wins over `b`. */
export function comparePrecedence(a: Ranked, b: Ranked): number {
  return b.priority - a.priority || b.specificity - a.specificity || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

const PART_REASONS = ["a more specific host", "a more specific kind of path", "a more specific path", "narrower methods", "more header conditions"];

/** Why `winner` beats `loser` when both match, in words (for `divisor explain`). */
export function precedenceReason(winner: Ranked, loser: Ranked): string {
  if (winner.priority !== loser.priority) return `higher priority (${winner.priority} > ${loser.priority})`;
  const w = unpack(winner.specificity);
  const l = unpack(loser.specificity);
  for (let i = 0; i < w.length; i++) if (w[i] !== l[i]) return PART_REASONS[i]!;
  return "equal precedence, and its name sorts first";
}
