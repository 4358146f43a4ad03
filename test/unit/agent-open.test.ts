// The keychain agent's second line: one sealed secret, or several opened with
// the same key in one conversation (acct env of several accounts).
import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { finish } from '../../src/agent/server.js';
import { seal } from '../../src/store/crypto.js';
import { MAX_SECRETS } from '../../src/agent/protocol.js';

const key = () => randomBytes(32);

describe('agent finish()', () => {
  it('opens several secrets in order with one key, and forgets the key', async () => {
    const k = key();
    const copy = Buffer.from(k);
    const secrets = ['acc_aaaaaaaaaa', 'acc_bbbbbbbbbb', 'acc_cccccccccc'].map((id, i) => ({ aad: id, sealed: seal(copy, Buffer.from(`{"api_key":"v${i}"}`), id) }));
    const a = await finish(JSON.stringify({ secrets }), Promise.resolve(k));
    expect(a).toEqual({ ok: true, plains: [0, 1, 2].map((i) => Buffer.from(`{"api_key":"v${i}"}`).toString('base64')) });
    expect(k.every((b) => b === 0)).toBe(true);
  });

  it('refuses a batch with a secret the key does not open, an empty one, or too many', async () => {
    const k = key();
    const good = { aad: 'acc_aaaaaaaaaa', sealed: seal(k, Buffer.from('{}'), 'acc_aaaaaaaaaa') };
    const wrongAad = { ...good, aad: 'acc_bbbbbbbbbb' };
    expect(await finish(JSON.stringify({ secrets: [good, wrongAad] }), Promise.resolve(Buffer.from(k)))).toEqual({ ok: false, reason: 'the data key does not open this secret' });
    expect(await finish(JSON.stringify({ secrets: [] }), Promise.resolve(Buffer.from(k)))).toEqual({ ok: false, reason: 'malformed request' });
    const many = Array.from({ length: MAX_SECRETS + 1 }, () => good);
    expect(await finish(JSON.stringify({ secrets: many }), Promise.resolve(Buffer.from(k)))).toEqual({ ok: false, reason: 'malformed request' });
    // One secret, as before.
    expect(await finish(JSON.stringify(good), Promise.resolve(Buffer.from(k)))).toEqual({ ok: true, plain: Buffer.from('{}').toString('base64') });
  });
});
