// The pure parts of acct status: local health, the exit code, bounded parallelism.
import { describe, it, expect } from 'vitest';
import { localHealth, mapBounded, statusExitCode, type Health, type StatusRow } from '../../src/commands/status.js';
import type { Account } from '../../src/accounts/model.js';
import { statusAfterTest } from '../../src/accounts/check.js';
import type { TestOutcome } from '../../src/api/test-request.js';

const now = new Date('2025-03-01T12:00:00.000Z');
const account = (o: Partial<Account>): Account => ({
  id: 'acc_abcdefghij',
  app: 'svc',
  nickname: 'me',
  auth: 'oauth2',
  status: 'ok',
  scopes: [],
  fields: ['oauth_access_token', 'oauth_refresh_token'],
  identity: null,
  expiresAt: null,
  createdAt: now.toISOString(),
  updatedAt: now.toISOString(),
  ...o,
});

describe('localHealth', () => {
  it('no expiry: ok, does not expire', () => {
    expect(localHealth(account({ auth: 'keys', fields: ['api_key'] }), now)).toEqual({ status: 'ok', detail: 'does not expire' });
  });
  it('a future expiry: ok, with the time', () => {
    expect(localHealth(account({ expiresAt: '2025-03-01T12:00:01.000Z' }), now)).toEqual({ status: 'ok', detail: 'expires 2025-03-01T12:00:01.000Z' });
  });
  it('expired now or before, with a refresh token: expired', () => {
    for (const expiresAt of ['2025-03-01T12:00:00.000Z', '2024-01-01T00:00:00.000Z'])
      expect(localHealth(account({ expiresAt }), now)).toEqual({ status: 'expired', detail: 'refreshed on next use' });
  });
  it('expired without a refresh token: needs-reconnect', () => {
    const h = localHealth(account({ expiresAt: '2025-02-01T00:00:00.000Z', fields: ['oauth_access_token'] }), now);
    expect(h.status).toBe('needs-reconnect');
    expect(h.detail).toContain('acct reconnect acc_abcdefghij');
  });
  it('unverified and failing are said as they are, whatever the expiry', () => {
    for (const expiresAt of [null, '2030-01-01T00:00:00.000Z', '2020-01-01T00:00:00.000Z']) {
      expect(localHealth(account({ status: 'unverified', expiresAt }), now)).toEqual({ status: 'unverified', detail: 'stored without a passing test request; check it: acct test acc_abcdefghij' });
      expect(localHealth(account({ status: 'failing', expiresAt }), now).status).toBe('failing');
    }
  });
  it('marked needs-reconnect wins over everything', () => {
    for (const expiresAt of [null, '2030-01-01T00:00:00.000Z', '2020-01-01T00:00:00.000Z'])
      expect(localHealth(account({ status: 'needs-reconnect', expiresAt }), now)).toEqual({ status: 'needs-reconnect', detail: 'run: acct reconnect acc_abcdefghij' });
  });
});

describe('statusExitCode', () => {
  const rows = (...statuses: Health[]): StatusRow[] => statuses.map((status, i) => ({ id: `a${i}`, ref: `x/${i}`, status, detail: '', identity: null, result: null }));
  it('0 when nothing is wrong (expired and untested included), and for no accounts', () => {
    expect(statusExitCode(rows())).toBe(0);
    expect(statusExitCode(rows('ok', 'expired', 'untested'))).toBe(0);
  });
  it('4 when any needs reconnecting, whatever else', () => {
    expect(statusExitCode(rows('ok', 'needs-reconnect'))).toBe(4);
    expect(statusExitCode(rows('unreachable', 'error', 'needs-reconnect', 'ok'))).toBe(4);
  });
  it('5 when the worst is unreachable or failing to refresh; unverified alone is 0', () => {
    expect(statusExitCode(rows('unreachable'))).toBe(5);
    expect(statusExitCode(rows('ok', 'failing', 'unverified'))).toBe(5);
    expect(statusExitCode(rows('ok', 'unverified'))).toBe(0);
    expect(statusExitCode(rows('ok', 'unreachable', 'error', 'expired'))).toBe(5);
  });
  it('1 for other errors', () => {
    expect(statusExitCode(rows('ok', 'error'))).toBe(1);
  });
});

describe('mapBounded', () => {
  const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('keeps the input order and never runs more than the limit at once', async () => {
    for (const limit of [1, 3, 8]) {
      let active = 0;
      let peak = 0;
      const items = Array.from({ length: 12 }, (_, i) => i);
      const out = await mapBounded(items, limit, async (i) => {
        active++;
        peak = Math.max(peak, active);
        await tick((12 - i) % 4);
        active--;
        return i * 10;
      });
      expect(out).toEqual(items.map((i) => i * 10));
      expect(peak).toBe(Math.min(limit, items.length));
    }
  });
  it('handles fewer items than the limit, and none', async () => {
    expect(await mapBounded([1, 2], 8, async (x) => x + 1)).toEqual([2, 3]);
    expect(await mapBounded([], 4, async (x) => x)).toEqual([]);
  });
  it('calls fn once per item', async () => {
    const calls: number[] = [];
    await mapBounded([5, 6, 7, 8, 9], 2, async (x) => {
      calls.push(x);
      await tick(1);
    });
    expect(calls.sort()).toEqual([5, 6, 7, 8, 9]);
  });
  it('rejects when fn throws', async () => {
    await expect(mapBounded([1, 2, 3], 2, async (x) => {
      if (x === 2) throw new Error('boom');
      return x;
    })).rejects.toThrow('boom');
  });
});

describe('statusAfterTest', () => {
  const key = (status: Account['status']) => account({ auth: 'keys', fields: ['api_key'], status });
  const ok: TestOutcome = { kind: 'ok', identity: null, status: 200 };
  const rejected: TestOutcome = { kind: 'rejected', status: 401, detail: 'answered 401' };
  const unconfirmed: TestOutcome[] = [
    { kind: 'unreachable', detail: 'answered 503' },
    { kind: 'untested', detail: 'no test request' },
  ];
  it('a pass clears unverified, and a key marked needs-reconnect', () => {
    expect(statusAfterTest(key('unverified'), ok)).toBe('ok');
    expect(statusAfterTest(key('needs-reconnect'), ok)).toBe('ok');
    expect(statusAfterTest(key('ok'), ok)).toBeUndefined();
    // An OAuth account's mark is the refresh path's: a test cannot pass without a refresh it refused.
    expect(statusAfterTest(account({ status: 'failing' }), ok)).toBeUndefined();
  });
  it('a rejected key needs reconnecting; an OAuth rejection is left to the refresh path', () => {
    for (const s of ['ok', 'unverified', 'failing'] as const) expect(statusAfterTest(key(s), rejected)).toBe('needs-reconnect');
    expect(statusAfterTest(key('needs-reconnect'), rejected)).toBeUndefined();
    expect(statusAfterTest(account({}), { ...rejected, status: 403 })).toBeUndefined();
    // An okField that is not true on a 200 (Slack's invalid_auth) is a refusal too.
    expect(statusAfterTest(key('ok'), { ...rejected, status: 200 })).toBe('needs-reconnect');
  });
  it('a 400 or 403 marks no key: a rate limit, a permission or a firewall answers so too', () => {
    for (const status of [400, 403]) expect(statusAfterTest(key('ok'), { ...rejected, status })).toBeUndefined();
  });
  it('nothing unconfirmed changes a status', () => {
    for (const outcome of unconfirmed)
      for (const s of ['ok', 'unverified', 'needs-reconnect', 'failing'] as const) {
        expect(statusAfterTest(key(s), outcome)).toBeUndefined();
        expect(statusAfterTest(account({ status: s }), outcome)).toBeUndefined();
      }
  });
});
