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

/**
 * The longest a token is taken to live: 10 years. A provider that says more
 * (expires_in 1e300, an absolute expiry in the year 275760 or beyond what
 * a Date can hold) means "a long time"; past this cap the number would only
 * make a time no Date can write (toISOString throws RangeError), and a token
 * is refreshed long before 10 years anyway.
 */
export const MAX_TOKEN_LIFETIME_MS = 10 * 365 * 24 * 3600 * 1000;

/**
 * When a token expires, as an ISO time, from what the provider said: an
 * absolute time (ms since 1970; wins) or a lifetime in seconds; null when it
 * said neither (the token does not expire). Never throws: values are the
 * finite numbers >= 0 the token parsing let through, capped at
 * MAX_TOKEN_LIFETIME_MS from `now`; anything else (NaN, negative) reads as
 * "expired now", never as "never expires".
 */
export function tokenExpiry(now: number, said: { expiresIn?: number; expiresAtMs?: number }): string | null {
  const cap = now + MAX_TOKEN_LIFETIME_MS;
  const at =
    said.expiresAtMs !== undefined ? said.expiresAtMs
    : said.expiresIn !== undefined ? now + said.expiresIn * 1000
    : undefined;
  if (at === undefined) return null;
  const ms = Number.isFinite(at) ? Math.min(Math.max(at, 0), cap) : at === Infinity ? cap : now;
  return isoTime(new Date(ms));
}
