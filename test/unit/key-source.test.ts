// Where the local store's data key comes from (src/store/key-source.ts):
// which source a store asks, that the agent source falls back to the
// keychain when the agent cannot help, and that warm() is only ever a head
// start. Real store files in a temporary folder, the real Keychain wrapper on
// a fake backend, a fake agent that opens secrets the way the real one does
// (it reads the key from the keychain and forgets it).
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretStore, type StoreDeps } from '../../src/store/store.js';
import { keySource, type KeySourceDeps, type StoreInfo } from '../../src/store/key-source.js';
import { Keychain, type KeychainBackend } from '../../src/store/keychain.js';
import { open, seal } from '../../src/store/crypto.js';
import { keychainAgent, type KeychainAgent } from '../../src/agent/client.js';
import { AcctError } from '../../src/errors.js';

const A = 'acc_aaaaaaaaaa';
const B = 'acc_bbbbbbbbbb';

/** A keychain backend holding items in memory, counting reads. */
function memoryBackend() {
  const items = new Map<string, string>();
  const reads: string[] = [];
  const backend: KeychainBackend = {
    get: async (_service, account) => (reads.push(account), items.get(account)),
    set: async (_service, account, value) => void items.set(account, value),
    delete: async (_service, account) => items.delete(account),
  };
  return { backend, items, reads };
}

// Not Linux: a read is the backend's get() alone (the Secret Service search is keychain.test.ts's business).
const keychainOn = (backend: KeychainBackend) => async () => new Keychain(backend, { timeoutMs: 2_000, env: {}, platform: 'darwin' });

/** An agent that opens secrets with the key it reads from the keychain, or declines every request. */
function fakeAgent(items: Map<string, string>, helps: boolean) {
  const calls: string[] = [];
  const openWith = (account: string, aad: string, sealed: Parameters<typeof open>[1]) => {
    const key = Buffer.from(items.get(account)!, 'base64');
    try {
      return open(key, sealed, aad);
    } finally {
      key.fill(0);
    }
  };
  const agent: KeychainAgent = {
    prepare: (account) => void calls.push(`prepare ${account}`),
    open: async (account, aad, sealed) => (calls.push(`open ${account}`), helps ? openWith(account, aad, sealed) : undefined),
    openMany: async (account, secrets) => (calls.push(`openMany ${account} ${secrets.length}`), helps ? secrets.map((s) => openWith(account, s.aad, s.sealed)) : undefined),
    startIfAbsent: () => void calls.push('startIfAbsent'),
  };
  return { agent, calls };
}

function folder() {
  const data = mkdtempSync(join(tmpdir(), 'acct-keysource-'));
  return { config: data, data };
}

const noPassphrase = async (): Promise<string> => {
  throw new Error('no passphrase expected');
};

/** A keychain store with two accounts' secrets, written without an agent; then a store on the same folder with `deps`. */
async function keychainStore(extra: (items: Map<string, string>) => Partial<StoreDeps> = () => ({})) {
  const paths = folder();
  const kc = memoryBackend();
  const first = new SecretStore({ paths, keychain: keychainOn(kc.backend), passphrase: noPassphrase });
  await first.write(A, { api_key: 'lk_one' });
  await first.write(B, { api_key: 'lk_two' });
  kc.reads.length = 0;
  const storeId = JSON.parse(readFileSync(join(paths.data, 'store.json'), 'utf8')).id as string;
  const store = new SecretStore({ paths, keychain: keychainOn(kc.backend), passphrase: noPassphrase, ...extra(kc.items) });
  return { paths, kc, store, account: `data-key:${storeId}` };
}

describe('key sources: which one a store asks', () => {
  it('a keychain store with an agent: the agent opens the secrets, and the keychain is never read', async () => {
    let fake!: ReturnType<typeof fakeAgent>;
    const { store, kc, account } = await keychainStore((items) => ((fake = fakeAgent(items, true)), { agent: fake.agent }));
    store.warm();
    expect(await store.read(A)).toEqual({ api_key: 'lk_one' });
    expect(await store.readMany([A, B])).toEqual(new Map([[A, { api_key: 'lk_one' }], [B, { api_key: 'lk_two' }]]));
    expect(fake.calls).toEqual([`prepare ${account}`, `open ${account}`, `openMany ${account} 2`]);
    expect(kc.reads).toEqual([]);
  });

  it('falls back to the keychain when the agent cannot help, reads it once, and starts the agent for the next run', async () => {
    let fake!: ReturnType<typeof fakeAgent>;
    const { store, kc, account } = await keychainStore((items) => ((fake = fakeAgent(items, false)), { agent: fake.agent }));
    expect(await store.readMany([A, B])).toEqual(new Map([[A, { api_key: 'lk_one' }], [B, { api_key: 'lk_two' }]]));
    expect(await store.read(B)).toEqual({ api_key: 'lk_two' });
    // The key in hand: no second conversation, no second keychain read.
    expect(fake.calls).toEqual([`openMany ${account} 2`, 'startIfAbsent']);
    expect(kc.reads).toEqual([account]);
  });

  it('a tampered secret is reported as such whether the agent declines it or not', async () => {
    let fake!: ReturnType<typeof fakeAgent>;
    const { store, paths } = await keychainStore((items) => ((fake = fakeAgent(items, false)), { agent: fake.agent }));
    const file = join(paths.data, 'secrets', `${A}.json`);
    const sealed = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...sealed, ct: Buffer.from(Buffer.from(sealed.ct, 'base64').map((b: number) => b ^ 1)).toString('base64') }));
    await expect(store.read(A)).rejects.toThrow(/fails authentication/);
    expect(fake.calls[0]).toMatch(/^open /);
  });

  it('no agent: the keychain gives the key', async () => {
    const { store, kc, account } = await keychainStore();
    store.warm();
    expect(await store.readMany([A, B])).toEqual(new Map([[A, { api_key: 'lk_one' }], [B, { api_key: 'lk_two' }]]));
    expect(kc.reads).toEqual([account]);
  });

  it('a file store asks the passphrase, never the agent nor the keychain, and says when the passphrase is wrong', async () => {
    const paths = folder();
    const kc = memoryBackend();
    const fake = fakeAgent(kc.items, true);
    const asked: boolean[] = [];
    const passphrase = (given: string) => async (confirm: boolean) => (asked.push(confirm), given);
    const deps = (given: string): StoreDeps => ({ paths, requestedKind: 'file', keychain: keychainOn(kc.backend), passphrase: passphrase(given), agent: fake.agent });
    await new SecretStore(deps('correct horse')).write(A, { api_key: 'lk_one' });
    expect(asked).toEqual([true]); // created: asked with confirmation

    const store = new SecretStore({ ...deps('correct horse'), requestedKind: undefined });
    store.warm();
    expect(await store.read(A)).toEqual({ api_key: 'lk_one' });
    expect(asked).toEqual([true, false]);
    expect(fake.calls).toEqual([]);
    expect(kc.reads).toEqual([]);
    expect(kc.items.size).toBe(0);

    const wrong = new SecretStore(deps('battery staple'));
    const err = await wrong.read(A).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AcctError);
    expect(err).toMatchObject({ exitCode: 6, code: 'wrong_passphrase', message: 'wrong passphrase for the acct store' });
    expect(String((err as AcctError).hint)).toMatch(/ACCT_PASSPHRASE/);
  });

  it('the keychain source proves the key against the store: a replaced or malformed item is said as such', async () => {
    const kc = memoryBackend();
    const key = Buffer.alloc(32, 7);
    const check = seal(key, Buffer.from('acct'), 'check');
    const store: StoreInfo = {
      dir: '/home/u/.local/share/acct',
      file: '/home/u/.local/share/acct/store.json',
      opens: (k) => {
        try {
          open(k, check, 'check');
          return true;
        } catch {
          return false;
        }
      },
    };
    const deps: KeySourceDeps = { keychain: keychainOn(kc.backend), passphrase: noPassphrase };
    const source = keySource({ kind: 'keychain', id: 'st_0123456789abcdef' }, store, deps);
    expect(await source.open([{ aad: A, sealed: seal(key, Buffer.from('{}'), A) }])).toBeUndefined(); // it gives keys, it opens nothing
    kc.items.set('data-key:st_0123456789abcdef', key.toString('base64'));
    expect(await source.key()).toEqual(key);
    kc.items.set('data-key:st_0123456789abcdef', Buffer.alloc(32, 8).toString('base64'));
    await expect(source.key()).rejects.toThrow('the data key in the keychain does not open the store in /home/u/.local/share/acct');
    kc.items.set('data-key:st_0123456789abcdef', Buffer.alloc(31, 8).toString('base64'));
    await expect(source.key()).rejects.toThrow('the data key in the keychain is malformed');
  });
});

describe('warm()', () => {
  it('never throws: not on a corrupt store file, a store of the other kind, or no store at all; the read then says what is wrong', async () => {
    const { paths, kc } = await keychainStore();
    const fake = fakeAgent(kc.items, true);
    const deps: StoreDeps = { paths, keychain: keychainOn(kc.backend), passphrase: noPassphrase, agent: fake.agent };

    const mismatch = new SecretStore({ ...deps, requestedKind: 'file' });
    expect(() => mismatch.warm()).not.toThrow();
    await expect(mismatch.read(A)).rejects.toThrow(/ACCT_STORE=file but the store in/);

    writeFileSync(join(paths.data, 'store.json'), '{"version": 1, "id": ');
    const corrupt = new SecretStore(deps);
    expect(() => corrupt.warm()).not.toThrow();
    await expect(corrupt.read(A)).rejects.toThrow(/store\.json is corrupt: it is not valid JSON/);

    const empty = new SecretStore({ ...deps, paths: folder() });
    expect(() => empty.warm()).not.toThrow();
    expect(fake.calls).toEqual([]);
  });

  it('does nothing once the key is in hand', async () => {
    let fake!: ReturnType<typeof fakeAgent>;
    const { store } = await keychainStore((items) => ((fake = fakeAgent(items, true)), { agent: fake.agent }));
    await store.write(A, { api_key: 'lk_new' }); // takes the key from the keychain
    fake.calls.length = 0;
    store.warm();
    expect(await store.read(A)).toEqual({ api_key: 'lk_new' });
    expect(fake.calls).toEqual([]);
  });

  it("the real agent client's prepare() returns at once and never fails, and open() then declines, when the agent's folder cannot be looked at", async () => {
    const runtime = join(mkdtempSync(join(tmpdir(), 'acct-keysource-')), 'not-a-folder');
    writeFileSync(runtime, ''); // $XDG_RUNTIME_DIR/acct is then ENOTDIR
    const agent = keychainAgent({ XDG_RUNTIME_DIR: runtime, DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nonexistent' }, { entry: '/nonexistent/agent.cjs', version: '0', platform: 'linux' })!;
    expect(agent).toBeDefined();
    expect(() => agent.prepare('data-key:st_0123456789abcdef')).not.toThrow();
    const sealed = seal(Buffer.alloc(32), Buffer.from('{}'), A);
    expect(await agent.open('data-key:st_0123456789abcdef', A, sealed)).toBeUndefined();
    expect(await agent.openMany('data-key:st_0123456789abcdef', [{ aad: A, sealed }])).toBeUndefined();
  });
});
