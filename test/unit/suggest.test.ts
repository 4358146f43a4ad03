// The one edit distance behind every "did you mean".
import { describe, it, expect } from 'vitest';
import { editDistance, closest, didYouMean } from '../../src/suggest.js';

describe('editDistance (optimal string alignment)', () => {
  it('counts insertions, deletions, substitutions and adjacent swaps as one each', () => {
    expect(editDistance('github', 'github')).toBe(0);
    expect(editDistance('gihub', 'github')).toBe(1); // deletion
    expect(editDistance('githubb', 'github')).toBe(1); // insertion
    expect(editDistance('gitxub', 'github')).toBe(1); // substitution
    expect(editDistance('githbu', 'github')).toBe(1); // swap
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('abc', '')).toBe(3);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    // Each substring edited once: "ca" → "abc" is 3 here (2 in unrestricted Damerau–Levenshtein).
    expect(editDistance('ca', 'abc')).toBe(3);
  });

  it('is symmetric', () => {
    for (const [a, b] of [['connect', 'conect'], ['slack', 'stripe'], ['ab', 'ba'], ['x', '']])
      expect(editDistance(a!, b!)).toBe(editDistance(b!, a!));
  });
});

describe('closest', () => {
  const slugs = ['github', 'gitlab', 'gitea', 'openai', 'slack', 'stripe'];
  it('keeps candidates within reach, closest first, and never the word itself', () => {
    expect(closest('gihub', slugs)).toEqual(['github']);
    expect(closest('gitlub', slugs)).toEqual(['github', 'gitlab']);
    expect(closest('opnai', slugs)).toEqual(['openai']);
    expect(closest('slakc', slugs)).toEqual(['slack']);
    expect(closest('github', ['github'])).toEqual([]);
    expect(closest('zzz', slugs)).toEqual([]);
  });

  it('allows one edit for short words, more for long ones', () => {
    expect(closest('slx', ['slack'])).toEqual([]); // 3 letters: one edit at most
    expect(closest('stirpe', ['stripe'])).toEqual(['stripe']);
    expect(closest('completoin', ['completion'])).toEqual(['completion']);
  });

  it('ignores case', () => {
    expect(closest('GitHub', ['github'])).toEqual(['github']);
  });
});

describe('didYouMean', () => {
  it('one name, several, or none', () => {
    expect(didYouMean(['github'])).toBe('did you mean github?');
    expect(didYouMean(['github', 'gitlab'])).toBe('did you mean: github, gitlab?');
    expect(didYouMean([])).toBeUndefined();
  });
});
