// The refresh path's decisions (src/accounts/refresh.ts) on a given clock:
// which outcome of another caller a waiter takes as its own, and whether a
// deadline leaves room for another attempt. The processes and the stalled
// provider are test/cli/refresh-deadline.test.ts.
import { describe, it, expect } from 'vitest';
import { retryPause, sharedOutcome, type RefreshOutcome } from '../../src/accounts/refresh.js';

const t = (s: number) => new Date(Date.UTC(2026, 11, 1, 9, 0, s));
const outcome = (s: number, final: boolean): RefreshOutcome => ({ at: t(s).toISOString(), problem: 'auth.example did not answer within 30s', final });

describe('sharedOutcome', () => {
  it('a waiter takes the holder\'s final failure when it came after the waiter began waiting', () => {
    expect(sharedOutcome(outcome(30, true), t(1))).toEqual(outcome(30, true));
    expect(sharedOutcome(outcome(1, true), t(1))).toEqual(outcome(1, true));
  });

  it('not one from before it began (a later caller tries again), nor one from a holder that stopped mid-way, nor none', () => {
    expect(sharedOutcome(outcome(0, true), t(1))).toBeUndefined();
    // Recorded while the holder still retried; it was killed before it gave up.
    expect(sharedOutcome(outcome(5, false), t(1))).toBeUndefined();
    expect(sharedOutcome(undefined, t(1))).toBeUndefined();
  });
});

describe('retryPause', () => {
  it('pauses only when the next attempt still starts before the deadline', () => {
    expect(retryPause(0, 30_000, 500)).toBe(500);
    expect(retryPause(29_000, 30_000, 500)).toBe(500);
    expect(retryPause(29_500, 30_000, 500)).toBeUndefined();
    expect(retryPause(31_000, 30_000, 500)).toBeUndefined();
  });
});
