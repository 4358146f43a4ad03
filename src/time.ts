// Timestamps as acct stores them: ISO 8601 in UTC, to the millisecond.

/**
 * The same text as date.toISOString(). Written out because V8 loads the
 * machine's time zone data on the first toISOString() of a process (about
 * 0.7 ms), which `acct token` would spend on every run to log the use; the
 * UTC getters need none of it.
 */
export function isoTime(date: Date): string {
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return date.toISOString(); // expanded years, and the RangeError of an invalid date
  const two = (n: number) => String(n).padStart(2, '0');
  return `${String(year).padStart(4, '0')}-${two(date.getUTCMonth() + 1)}-${two(date.getUTCDate())}T${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())}.${String(date.getUTCMilliseconds()).padStart(3, '0')}Z`;
}
