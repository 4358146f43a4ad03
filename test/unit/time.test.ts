import { describe, it, expect } from 'vitest';
import { isoTime } from '../../src/time.js';

describe('isoTime', () => {
  it('writes what toISOString writes', () => {
    const dates = [
      0,
      Date.UTC(2026, 10, 26, 2, 29, 13, 458),
      Date.UTC(2024, 1, 29, 23, 59, 59, 999),
      Date.UTC(2000, 0, 1, 0, 0, 0, 0),
      Date.UTC(999, 5, 7, 8, 9, 10, 11),
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
      Date.UTC(10000, 0, 1),
      Date.UTC(-1, 0, 1),
      -1,
    ].map((ms) => new Date(ms));
    for (const d of dates) expect(isoTime(d)).toBe(d.toISOString());
    // And for a run of ordinary instants.
    for (let ms = Date.UTC(2026, 0, 1); ms < Date.UTC(2027, 0, 1); ms += 7_919_333) expect(isoTime(new Date(ms))).toBe(new Date(ms).toISOString());
  });

  it('refuses an invalid date as toISOString does', () => {
    expect(() => isoTime(new Date(Number.NaN))).toThrow(RangeError);
  });
});
