// Team sealing (src/team/seal.ts): an account key wrapped for one member, item
// and team opens for that member alone; sealed fields open only with their
// key, item and binding.
import { describe, it, expect } from 'vitest';
import { newMemberKeys, wrapKey, unwrapKey, wrapInfo, newItemKey, sealFields, openFields, accountBinding, publicOf, scramVerifier } from '../../src/team/seal.js';

describe('team sealing', () => {
  const ana = newMemberKeys();
  const bob = newMemberKeys();
  const key = newItemKey();

  it('a wrapped key opens for its member, and only for the team, item and member it was wrapped for', () => {
    const w = wrapKey(key, ana.publicKey, wrapInfo('t1', 'acc_1', 'mb_ana'));
    expect(unwrapKey(w, ana, wrapInfo('t1', 'acc_1', 'mb_ana')).equals(key)).toBe(true);
    expect(() => unwrapKey(w, bob, wrapInfo('t1', 'acc_1', 'mb_ana'))).toThrow();
    expect(() => unwrapKey(w, ana, wrapInfo('t1', 'acc_2', 'mb_ana'))).toThrow();
    expect(() => unwrapKey(w, ana, wrapInfo('t2', 'acc_1', 'mb_ana'))).toThrow();
    expect(() => unwrapKey(w, ana, wrapInfo('t1', 'acc_1', 'mb_bob'))).toThrow();
    // Each wrap is fresh (an ephemeral key): two wraps of one key differ.
    expect(wrapKey(key, ana.publicKey, 'x').ct).not.toBe(wrapKey(key, ana.publicKey, 'x').ct);
    expect(publicOf(ana.privateKey)).toBe(ana.publicKey);
  });

  it('sealed fields open with their key, item and binding only', () => {
    const binding = accountBinding({ app: 'zendesk', settings: { subdomain: 'acme' } });
    const sealed = sealFields(key, { api_key: 'k' }, 't1', 'acc_1', binding);
    expect(JSON.stringify(sealed)).not.toContain('"k"');
    expect(openFields(key, sealed, 't1', 'acc_1', binding)).toEqual({ api_key: 'k' });
    expect(() => openFields(newItemKey(), sealed, 't1', 'acc_1', binding)).toThrow();
    expect(() => openFields(key, sealed, 't1', 'acc_2', binding)).toThrow();
    expect(() => openFields(key, sealed, 't1', 'acc_1', accountBinding({ app: 'zendesk', settings: { subdomain: 'evil' } }))).toThrow();
    // Settings in another order are the same binding.
    expect(accountBinding({ app: 'a', settings: { x: '1', y: '2' } })).toBe(accountBinding({ app: 'a', settings: { y: '2', x: '1' } }));
  });

  it('a SCRAM verifier never holds the password', () => {
    const v = scramVerifier('correct horse');
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
    expect(v).not.toContain('correct');
    expect(scramVerifier('correct horse')).not.toBe(v);
  });
});
