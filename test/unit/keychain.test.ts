// The keychain's read decisions (src/store/keychain.ts) with a scripted
// backend and a fake clock: what is retried, what is confirmed on a fresh
// session, and when "missing" may be said. The real Secret Service under load
// is test/cli/keychain-load.test.ts.
import { describe, it, expect } from 'vitest';
import { Keychain, type KeychainBackend, type KeychainLookup } from '../../src/store/keychain.js';
import { AcctError } from '../../src/errors.js';

const ACCOUNT = 'data-key:st_0123456789abcdef';
const DIR = '/home/u/.local/share/acct';

type Step<T> = T | Error | 'hang';

/** A backend that answers each call from a script (the last answer repeats) and records the calls. */
function scripted(gets: Step<string | undefined>[], lookups: Step<KeychainLookup>[] = []) {
  const calls: string[] = [];
  const answer = <T,>(script: Step<T>[], n: number, signal: AbortSignal): Promise<T> => {
    const step = script[Math.min(n, script.length - 1)]!;
    if (step === 'hang') return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted'))));
    return step instanceof Error ? Promise.reject(step) : Promise.resolve(step as T);
  };
  let g = 0;
  let l = 0;
  const backend: KeychainBackend = {
    get: (_s, _a, signal) => (calls.push('get'), answer(gets, g++, signal)),
    set: async () => {},
    delete: async () => true,
    lookup: lookups.length ? (_s, _a, signal) => (calls.push('lookup'), answer(lookups, l++, signal)) : undefined,
  };
  return { backend, calls };
}

/** A keychain on a fake clock: pauses between retries move it instead of waiting. */
function keychain(backend: KeychainBackend, options: { timeoutMs?: number; platform?: NodeJS.Platform } = {}) {
  let t = 1_000_000;
  const pauses: number[] = [];
  const kc = new Keychain(backend, {
    timeoutMs: options.timeoutMs ?? 10_000,
    env: { DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nowhere' },
    platform: options.platform ?? 'linux',
    now: () => t,
    sleep: async (ms) => {
      pauses.push(ms);
      t += ms;
    },
  });
  return { kc, pauses, elapsed: () => t - 1_000_000 };
}

async function failure(p: Promise<unknown>): Promise<AcctError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AcctError);
  return err as AcctError;
}

const noReply = () => new Error('Platform secure storage failure: org.freedesktop.DBus.Error.NoReply: Did not receive a reply');

describe('reading the data key', () => {
  it('uses the key the addon reads, and asks nothing more', async () => {
    const { backend, calls } = scripted(['a2V5']);
    expect(await keychain(backend).kc.getKey(ACCOUNT, DIR)).toBe('a2V5');
    expect(calls).toEqual(['get']);
  });

  it('"no such item" from the addon is checked on a fresh session, which finds the key', async () => {
    // What a busy daemon causes: the addon could not reach it when it loaded and read the kernel keyring instead.
    const { backend, calls } = scripted([undefined], [{ state: 'found', value: 'a2V5' }]);
    expect(await keychain(backend).kc.getKey(ACCOUNT, DIR)).toBe('a2V5');
    expect(calls).toEqual(['get', 'lookup']);
  });

  it('transient failures are retried within the deadline', async () => {
    const { backend, calls } = scripted([noReply(), new Error('I/O error: Connection reset by peer'), 'a2V5']);
    const { kc, pauses } = keychain(backend);
    expect(await kc.getKey(ACCOUNT, DIR)).toBe('a2V5');
    expect(calls).toEqual(['get', 'get', 'get']);
    expect(pauses).toEqual([50, 100]);
  });

  it('a fresh session that fails transiently is retried too', async () => {
    const { backend, calls } = scripted([undefined], [noReply(), new Error('org.freedesktop.Secret.Error.NoSession: no session'), { state: 'found', value: 'a2V5' }]);
    expect(await keychain(backend).kc.getKey(ACCOUNT, DIR)).toBe('a2V5');
    expect(calls).toEqual(['get', 'lookup', 'lookup', 'lookup']);
  });

  it('an addon call that hangs is not started again (it may be showing an unlock prompt): the fresh session answers', async () => {
    const { backend, calls } = scripted(['hang'], [{ state: 'found', value: 'a2V5' }]);
    const { kc } = keychain(backend, { timeoutMs: 300 });
    expect(await kc.getKey(ACCOUNT, DIR)).toBe('a2V5');
    expect(calls).toEqual(['get', 'lookup']);
  });

  it('a locked item that is unlocked a moment later is read', async () => {
    const { backend, calls } = scripted([undefined], [{ state: 'locked' }, { state: 'locked' }, { state: 'found', value: 'a2V5' }]);
    expect(await keychain(backend).kc.getKey(ACCOUNT, DIR)).toBe('a2V5');
    expect(calls).toEqual(['get', 'lookup', 'lookup', 'lookup']);
  });

  it('"missing" once is looked at again before it is believed', async () => {
    const { backend } = scripted([undefined], [{ state: 'missing' }, { state: 'found', value: 'a2V5' }]);
    expect(await keychain(backend).kc.getKey(ACCOUNT, DIR)).toBe('a2V5');
  });

  it('a key missing on two fresh sessions is missing: exit 6, with how to check before anything destructive', async () => {
    const { backend, calls } = scripted([undefined], [{ state: 'missing' }]);
    const { kc, elapsed } = keychain(backend);
    const err = await failure(kc.getKey(ACCOUNT, DIR));
    expect(calls).toEqual(['get', 'lookup', 'lookup']);
    expect(elapsed()).toBeLessThan(1_000);
    expect(err.exitCode).toBe(6);
    expect(err.message).toContain(`the data key for the store in ${DIR} is missing from the keychain`);
    expect(err.message).toContain(`service "acct" and username "${ACCOUNT}"`);
    const hint = err.hint!;
    expect(hint.startsWith(`check first: secret-tool search service acct username ${ACCOUNT}`)).toBe(true);
    expect(hint).toMatch(/moving that folder aside and reconnecting every account starts over, losing the accounts stored there/);
  });

  it('a keyring that stays locked is reported as locked at the deadline, never as missing', async () => {
    const { backend } = scripted([undefined], [{ state: 'locked' }]);
    const { kc, elapsed } = keychain(backend);
    const err = await failure(kc.getKey(ACCOUNT, DIR));
    expect(err.exitCode).toBe(6);
    expect(err.message).toMatch(/is locked/);
    expect(err.hint).toMatch(/unlock the keyring/);
    expect(err.message + err.hint).not.toMatch(/missing|aside/);
    expect(elapsed()).toBeLessThanOrEqual(10_000);
  });

  it('a Secret Service that keeps failing is reported with its error at the deadline, never as missing', async () => {
    const { backend } = scripted([noReply()], [noReply()]);
    const { kc, elapsed } = keychain(backend);
    const err = await failure(kc.getKey(ACCOUNT, DIR));
    expect(err.exitCode).toBe(6);
    expect(err.message).toMatch(/NoReply/);
    expect(err.message + err.hint).not.toMatch(/missing|aside/);
    expect(elapsed()).toBeLessThanOrEqual(10_000);
  });

  it('no Secret Service on the bus is said at once, without retries', async () => {
    const { backend, calls } = scripted([undefined], [{ state: 'absent' }]);
    const { kc, pauses } = keychain(backend);
    const err = await failure(kc.getKey(ACCOUNT, DIR));
    expect(err.message).toMatch(/no Secret Service answered/);
    expect(calls).toEqual(['get', 'lookup']);
    expect(pauses).toEqual([]);
  });

  it('a dismissed unlock prompt is not retried (that would prompt again) and stands while the item is locked', async () => {
    const { backend, calls } = scripted([new Error('Platform secure storage failure: prompt dismissed')], [{ state: 'locked' }]);
    const { kc, pauses } = keychain(backend);
    const err = await failure(kc.getKey(ACCOUNT, DIR));
    expect(err.message).toMatch(/prompt dismissed/);
    expect(err.hint).toMatch(/unlock/);
    expect(calls).toEqual(['get', 'lookup']);
    expect(pauses).toEqual([]);
  });

  it('a refusal from a busy bus (AccessDenied) does not hide a key the fresh session reads', async () => {
    const { backend } = scripted([new Error("Couldn't access platform storage: AccessDenied")], [{ state: 'found', value: 'a2V5' }]);
    expect(await keychain(backend).kc.getKey(ACCOUNT, DIR)).toBe('a2V5');
  });

  it('several items for one key are named, not guessed between', async () => {
    const { backend } = scripted([undefined], [{ state: 'ambiguous', count: 2 }]);
    const err = await failure(keychain(backend).kc.getKey(ACCOUNT, DIR));
    expect(err.message).toMatch(/holds 2 items/);
    expect(err.hint).toContain(`secret-tool search service acct username ${ACCOUNT}`);
  });

  it('elsewhere than Linux, the keychain\'s "no such item" is believed', async () => {
    const { backend, calls } = scripted([undefined], [{ state: 'found', value: 'a2V5' }]);
    const err = await failure(keychain(backend, { platform: 'darwin' }).kc.getKey(ACCOUNT, DIR));
    expect(err.message).toMatch(/missing from the keychain/);
    expect(calls).toEqual(['get']);
  });
});

describe('storing the data key', () => {
  const writer = (lookups: KeychainLookup[]) => {
    const stored: string[] = [];
    const backend: KeychainBackend = {
      secretServicePresent: async () => true,
      get: async () => undefined,
      set: async (_s, _a, value) => void stored.push(value),
      delete: async () => true,
      lookup: async () => lookups.shift() ?? { state: 'missing' },
    };
    return { backend, stored };
  };

  it('counts only when the Secret Service holds the key afterwards', async () => {
    const { backend, stored } = writer([{ state: 'found', value: 'a2V5' }]);
    await keychain(backend).kc.set(ACCOUNT, 'a2V5');
    expect(stored).toEqual(['a2V5']);
  });

  it('a write the Secret Service did not get (the addon fell back to the kernel keyring) fails, never passes for stored', async () => {
    const { backend } = writer([{ state: 'missing' }]);
    const err = await failure(keychain(backend).kc.set(ACCOUNT, 'a2V5'));
    expect(err.exitCode).toBe(6);
    expect(err.message).toMatch(/does not hold it after the write \(missing\)/);
  });
});
