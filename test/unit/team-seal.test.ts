// Team sealing (src/team/seal.ts): an account key wrapped for one member, item
// and team opens for that member alone; sealed fields open only with their
// key, item and binding; openItems (run in acct, or in the agent) says which
// part of an item failed.
import { describe, it, expect } from 'vitest';
import { newMemberKeys, wrapKey, unwrapKey, wrapInfo, newItemKey, sealFields, openFields, accountBinding, publicOf, scramVerifier, openItems, fieldsOf, sealedFieldsAad, type TeamItem } from '../../src/team/seal.js';
import { begin, teamOpen } from '../../src/agent/server.js';
import { AGENT_PROTOCOL, MAX_SECRETS } from '../../src/agent/protocol.js';

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
    // And for its key version: a key wrapped as version 2 opens as no other (0 is the text from before versions).
    const v2 = wrapKey(key, ana.publicKey, wrapInfo('t1', 'acc_1', 'mb_ana', 2));
    expect(unwrapKey(v2, ana, wrapInfo('t1', 'acc_1', 'mb_ana', 2)).equals(key)).toBe(true);
    for (const other of [0, 1, 3]) expect(() => unwrapKey(v2, ana, wrapInfo('t1', 'acc_1', 'mb_ana', other))).toThrow();
    expect(() => unwrapKey(w, ana, wrapInfo('t1', 'acc_1', 'mb_ana', 1))).toThrow();
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

describe('opening team items (openItems), in acct or in the agent', () => {
  const ana = newMemberKeys();
  const bob = newMemberKeys();
  const key = newItemKey();
  const binding = accountBinding({ app: 'stripe' });
  const item = (over: Partial<TeamItem> = {}): TeamItem => ({
    wrapped: wrapKey(key, ana.publicKey, wrapInfo('t1', 'acc_1', 'mb_ana')),
    wrapInfo: wrapInfo('t1', 'acc_1', 'mb_ana'),
    sealed: sealFields(key, { api_key: 'sk_item' }, 't1', 'acc_1', binding),
    aad: sealedFieldsAad('t1', 'acc_1', binding),
    ...over,
  });

  it('opens each item, and says per item which part failed', () => {
    const altered = { ...(item().sealed as object), ct: Buffer.from('x').toString('base64') };
    const opened = openItems([item(), item({ wrapped: { nope: 1 } }), item({ sealed: altered }), item({ aad: sealedFieldsAad('t1', 'acc_1', accountBinding({ app: 'other' })) })], ana);
    expect('plain' in opened[0]! && fieldsOf(opened[0].plain)).toEqual({ api_key: 'sk_item' });
    expect(opened.slice(1)).toEqual([{ failed: 'key' }, { failed: 'secret' }, { failed: 'secret' }]);
    // Another member's key does not unwrap it.
    expect(openItems([item()], bob)).toEqual([{ failed: 'key' }]);
  });

  it('the agent gives the same answers to a team-open line of its own session, and refuses others', () => {
    const BUS = 'unix:path=/tmp/bus';
    const line = (over: Record<string, unknown> = {}) => JSON.stringify({ v: AGENT_PROTOCOL, op: 'team-open', bus: BUS, keys: ana, items: [item(), item({ wrapped: null })], ...over });
    const begun = begin(line(), BUS);
    if (!begun.ok || begun.kind !== 'team-open') throw new Error(`not taken: ${JSON.stringify(begun)}`);
    // Through JSON, as the socket carries it.
    const answer = teamOpen(JSON.parse(JSON.stringify(begun.teamOpen)));
    expect(answer).toEqual({ ok: true, opened: [{ plain: Buffer.from(JSON.stringify({ api_key: 'sk_item' })).toString('base64') }, { failed: 'key' }] });
    expect(begin(line(), 'unix:path=/other')).toEqual({ ok: false, reason: 'this agent serves another D-Bus session' });
    expect(begin(line({ items: [] }), BUS)).toEqual({ ok: false, reason: 'unsupported request' });
    expect(begin(line({ items: Array.from({ length: MAX_SECRETS + 1 }, () => item()) }), BUS)).toEqual({ ok: false, reason: 'unsupported request' });
    expect(begin(line({ keys: { publicKey: ana.publicKey } }), BUS)).toEqual({ ok: false, reason: 'unsupported request' });
  });
});
