// A change that writes an account's secret and its metadata (reconnect, a
// refresh, an import) does both under the metadata lock: otherwise two such
// changes at once could leave one's secret beside the other's metadata (a
// token with another grant's scopes and expiry), and the undo of one that
// failed would put back a secret older than the other's. The store is a real
// passphrase store in a temporary folder, driven in this process.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { createContext, type IO } from '../../src/context.js';
import { createAccount } from '../../src/accounts/service.js';
import { withLock } from '../../src/store/lock.js';

async function setup() {
  const io = { stderr: { write: () => true }, stdout: new PassThrough(), stdin: new PassThrough() } as unknown as IO;
  const home = mkdtempSync(join(tmpdir(), 'acct-replace-'));
  const env = { ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'replace under the lock' };
  const ctx = createContext(env, io);
  const app = ctx.catalog.get('openai');
  const account = await createAccount(ctx, ctx.store, app, { fields: { api_key: 'sk-first' }, scopes: [], expiresAt: null, identity: null }, 'work');
  // The data folder acct chose for this home (XDG layout under ACCT_HOME).
  const secretFile = join(ctx.paths.data, 'secrets', `${account.id}.json`);
  return { ctx, account, secretFile, metadataLock: join(ctx.paths.data, 'locks', 'metadata') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('a secret is replaced under the metadata lock', () => {
  it('waits for the lock before it touches the secret', async () => {
    const { ctx, account, secretFile, metadataLock } = await setup();
    const before = readFileSync(secretFile, 'utf8');
    let changed: Promise<unknown> | undefined;
    await withLock(metadataLock, async () => {
      changed = ctx.store.update(account.id, (a) => void (a.identity = 'second'), { api_key: 'sk-second' });
      // Time enough for the update to reach the lock (it has the data key already); the secret must not move meanwhile.
      for (let i = 0; i < 20; i++) {
        await sleep(50);
        expect(readFileSync(secretFile, 'utf8')).toBe(before);
      }
    });
    await changed;
    expect(readFileSync(secretFile, 'utf8')).not.toBe(before);
    expect((await ctx.store.readSecrets([account.id])).get(account.id)).toEqual({ api_key: 'sk-second' });
    expect((await ctx.store.get(account.id))?.identity).toBe('second');
  });

  it('leaves each account with the secret of the change its metadata records, however many run at once', async () => {
    const { ctx, account } = await setup();
    await Promise.all(Array.from({ length: 8 }, (_, i) => ctx.store.update(account.id, (a) => void (a.identity = `change-${i}`), { api_key: `sk-change-${i}` })));
    const last = (await ctx.store.get(account.id))!.identity!;
    expect(last).toMatch(/^change-\d$/);
    expect((await ctx.store.readSecrets([account.id])).get(account.id)).toEqual({ api_key: `sk-${last}` });
  });
});

describe('a secret or lock name that is not an id acct makes', () => {
  it('is refused as a bug before any path is made from it', async () => {
    const { ctx, account } = await setup();
    const secrets = (ctx.store as unknown as { secrets: { secretPath(id: string): string; write(id: string, f: object): Promise<void>; remove(id: string): void } }).secrets;
    expect(secrets.secretPath(account.id)).toMatch(/secrets\/acc_[a-z2-7]{10}\.json$/);
    expect(secrets.secretPath('client.github')).toMatch(/client\.github\.json$/);
    for (const id of ['../../victim', 'acc_abc/../x', 'client.../x', '', 'acc_ABCDEFGHIJ'])
      expect(() => secrets.secretPath(id), id).toThrow(expect.objectContaining({ code: 'unexpected', message: expect.stringContaining('refusing to make a file name') }));
    await expect(secrets.write('../../victim', { a: 'b' })).rejects.toMatchObject({ code: 'unexpected' });
    expect(() => ctx.store.refreshLock('../../victim')).toThrow(expect.objectContaining({ code: 'unexpected' }));
    expect(() => ctx.store.refreshLock(account.id)).not.toThrow();
  });
});
