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
    const d = distance(lower, candidate.toLowerCase());
    const limit = Math.max(1, Math.round(candidate.length / 4));
    if (d <= limit && d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** ` (did you mean "x"?)`, or "" when nothing is close. */
export function didYouMeanSuffix(word: string, candidates: Iterable<string>): string {
  const match = didYouMean(word, candidates);
  return match === undefined ? "" : ` (did you mean ${JSON.stringify(match)}?)`;
}
