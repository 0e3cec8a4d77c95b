import { distance } from "fastest-levenshtein";

/**
 * The candidate closest to `word` when it is close enough to be a likely typo
 * (case-insensitive; about one edit per four characters), else undefined.
 *
 * @example
 * didYouMean("servics", ["listeners", "services"]) // "services"
 */
export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  const lower = word.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (candidate === word) continue;
    const other = candidate.toLowerCase();
    const d = isSwap(lower, other) ? 1 : distance(lower, other);
    const limit = Math.max(1, Math.round(candidate.length / 4));
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Whether b is a with two neighbouring letters swapped ("wbe" / "web"), a typo Levenshtein counts as 2. */
function isSwap(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i < a.length - 1 && a[i] === b[i + 1] && a[i + 1] === b[i] && a.slice(i + 2) === b.slice(i + 2);
}

/** ` (did you mean "x"?)`, or "" when nothing is close. */
export function didYouMeanSuffix(word: string, candidates: Iterable<string>): string {
  const match = didYouMean(word, candidates);
  return match === undefined ? "" : ` (did you mean ${JSON.stringify(match)}?)`;
}
