// "Did you mean …?" for mistyped commands, apps and account references: the
// candidates closest to what was typed by edit distance.

/**
 * Optimal string alignment distance: the fewest single-character insertions,
 * deletions, substitutions and swaps of two adjacent characters that turn `a`
 * into `b` (Damerau–Levenshtein, each substring edited at most once). A swap
 * counts one, so "githbu" is as close to "github" as "githb".
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  // Rows i-2, i-1 and i of the (a.length+1) × (b.length+1) table.
  let before = new Array<number>(b.length + 1).fill(0);
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
    }
    before = prev;
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * The candidates within reach of `typed`, closest first (ties in the order
 * given): one edit for words up to 4 characters, two up to 8, three beyond;
 * case is ignored.
 */
export function closest(typed: string, candidates: Iterable<string>, limit = 3): string[] {
  const word = typed.toLowerCase();
  const reach = word.length <= 4 ? 1 : word.length <= 8 ? 2 : 3;
  const scored: { c: string; d: number; i: number }[] = [];
  let i = 0;
  for (const c of new Set(candidates)) {
    const d = editDistance(word, c.toLowerCase());
    if (d <= reach && c !== typed) scored.push({ c, d, i: i++ });
  }
  return scored
    .sort((x, y) => x.d - y.d || x.i - y.i)
    .slice(0, limit)
    .map((s) => s.c);
}

/** "did you mean github?", "did you mean: a, b?", or undefined when there is nothing to suggest. */
export function didYouMean(names: string[]): string | undefined {
  if (!names.length) return undefined;
  return names.length === 1 ? `did you mean ${names[0]}?` : `did you mean: ${names.join(', ')}?`;
}
