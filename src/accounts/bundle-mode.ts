// Working from a bundle (ACCT_BUNDLE + ACCT_BUNDLE_KEY), as in CI: no keychain,
// no local store. Read-only, except that refreshed tokens are kept for the
// life of the process and, with ACCT_BUNDLE_CACHE, in an encrypted file that
// later steps share (under a lock, like the local store).
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openBundle, MAX_BUNDLE_BYTES, type OpenedBundle } from '../store/bundle.js';
import { seal, open, isSealed } from '../store/crypto.js';
import { writeJsonAtomic, readJsonIfExists, isObject } from '../store/files.js';
import { AcctError, ExitCode, usageError } from '../errors.js';
import { readInputText } from '../ui/stdin.js';
import type { Metadata, Account } from './model.js';
import type { Fields } from '../store/store.js';
import type { AccountStore, AccountView, AppAccounts, ClientStore, RefreshLock, RecordedUse, ResolveHints, UseRecord } from '../store/account-store.js';
import { fileRefreshLock, refreshLockName, appAccounts, gone } from '../store/local-store.js';
import { resolveReference } from './resolve.js';

interface CacheContents {
  bundle: string;
  accounts: Account[];
  secrets: Record<string, Fields>;
}

export class BundleState {
  private opened?: OpenedBundle;
  /** The process-private lock folder, once made (see lockDir). */
  private privateLocks?: string;
  private overrides: { accounts: Map<string, Account>; secrets: Map<string, Fields> } = { accounts: new Map(), secrets: new Map() };

  constructor(private readonly env: NodeJS.ProcessEnv) {}

  private bundle(): OpenedBundle {
    if (this.opened) return this.opened;
    const raw = this.env.ACCT_BUNDLE!;
    const key = this.env.ACCT_BUNDLE_KEY;
    if (!key) throw usageError('ACCT_BUNDLE is set but ACCT_BUNDLE_KEY is not', 'set ACCT_BUNDLE_KEY to the key acct export printed (or the passphrase)');
    const inline = raw.trimStart().startsWith('{');
    const text = inline
      ? raw
      : readInputText(raw, 'ACCT_BUNDLE is the bundle itself or a path to a bundle file', { regularFile: true, maxBytes: MAX_BUNDLE_BYTES });
    this.opened = openBundle(text, key, inline ? 'ACCT_BUNDLE' : raw);
    return this.opened;
  }

  get cachePath(): string | undefined {
    return this.env.ACCT_BUNDLE_CACHE || undefined;
  }

  /** Folder for this bundle's locks: beside the cache (shared by CI steps), or private to this process (removed when it exits: every refresh left one in /tmp). */
  lockDir(): string {
    if (this.cachePath) return `${this.cachePath}.locks`;
    const dir = join(process.getBuiltinModule('node:os').tmpdir(), `acct-bundle-${this.bundle().id}-${process.pid}`);
    if (!this.privateLocks) {
      this.privateLocks = dir;
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    }
    return dir;
  }

  private loadCache(): void {
    const path = this.cachePath;
    if (!path || !existsSync(path)) return;
    const sealed = readJsonIfExists(path, isSealed)!;
    let contents: CacheContents;
    try {
      contents = JSON.parse(open(this.bundle().key, sealed, 'acct-bundle-cache').toString('utf8')) as CacheContents;
    } catch {
      throw new AcctError('usage', `ACCT_BUNDLE_CACHE (${path}) does not open with this bundle's key`, {
        hint: 'it belongs to another bundle or was altered; delete it',
      });
    }
    if (!isObject(contents) || contents.bundle !== this.bundle().id) return; // a cache of an older bundle: ignore it
    for (const a of contents.accounts) this.overrides.accounts.set(a.id, a);
    for (const [id, f] of Object.entries(contents.secrets)) this.overrides.secrets.set(id, f);
  }

  metadata(): Metadata {
    const b = this.bundle();
    this.loadCache();
    return {
      version: 1,
      accounts: b.payload.accounts.map((a) => structuredClone(this.overrides.accounts.get(a.id) ?? a)),
      defaults: { ...b.payload.defaults },
      retiredIds: [],
    };
  }

  secrets(id: string): Fields {
    this.loadCache();
    const f = this.overrides.secrets.get(id) ?? this.bundle().payload.secrets[id];
    if (!f) throw new AcctError('not_found', `the bundle holds no secrets for ${id}`, { hint: 'export the account again' });
    return { ...f };
  }

  apps(): unknown[] {
    return this.bundle().payload.apps;
  }

  client(slug: string) {
    return this.bundle().payload.clients[slug];
  }

  /** Keeps a refreshed account for this process and, with ACCT_BUNDLE_CACHE, for later steps. */
  keep(accounts: Account[], secrets: Record<string, Fields>): void {
    for (const a of accounts) this.overrides.accounts.set(a.id, a);
    for (const [id, f] of Object.entries(secrets)) this.overrides.secrets.set(id, f);
    const path = this.cachePath;
    if (!path) return;
    const contents: CacheContents = {
      bundle: this.bundle().id,
      accounts: [...this.overrides.accounts.values()],
      secrets: Object.fromEntries(this.overrides.secrets),
    };
    writeJsonAtomic(path, seal(this.bundle().key, Buffer.from(JSON.stringify(contents)), 'acct-bundle-cache'));
  }

  originalRefreshToken(id: string): string | undefined {
    return this.bundle().payload.secrets[id]?.oauth_refresh_token;
  }
}

export const readOnlyBundle = () =>
  new AcctError('read_only', 'accounts come from ACCT_BUNDLE here, which is read-only', {
    hint: 'make the change on the machine that exported the bundle, then export it again',
  });

/**
 * The AccountStore over a bundle: read-only, except that the refresh path
 * keeps refreshed tokens and their metadata (status, expiry) in the bundle's
 * cache (BundleState.keep).
 */
export class BundleStore implements AccountStore {
  readonly name = 'bundle';
  readonly kind = 'bundle' as const;
  /** The accounts are inside the sealed bundle: listing them needs its key. */
  readonly openList = false;
  readonly clients: ClientStore;

  constructor(
    private readonly state: BundleState,
    private readonly warn: (m: string) => void,
  ) {
    this.clients = {
      peek: async (slug) => {
        const c = state.client(slug);
        return c && { clientId: c.clientId, hasSecret: c.clientSecret !== undefined };
      },
      get: async (slug) => {
        const c = state.client(slug);
        return c && { clientId: c.clientId, clientSecret: c.clientSecret };
      },
      set: async () => {
        throw readOnlyBundle();
      },
      remove: async () => {
        throw readOnlyBundle();
      },
    };
  }

  /** Commands that change accounts refuse here: make the change where the bundle was exported. */
  assertWritable(): void {
    throw readOnlyBundle();
  }
  async view(): Promise<AccountView> {
    const m = this.state.metadata();
    return { accounts: m.accounts, defaults: m.defaults };
  }
  listed(): Promise<AccountView> {
    return this.view();
  }
  async resolve(ref: string, hints: ResolveHints = {}): Promise<Account> {
    return resolveReference(this.state.metadata(), ref, hints.isApp, hints.appSlugs);
  }
  async get(id: string): Promise<Account | undefined> {
    return this.state.metadata().accounts.find((a) => a.id === id);
  }
  async create(): Promise<Account> {
    throw readOnlyBundle();
  }
  /** Only the refresh path changes a bundle's account (status, expiry, new tokens): kept in the cache, never in the bundle. */
  async update(id: string, change: (a: Account, app: AppAccounts) => void, fields?: Fields): Promise<Account> {
    const m = this.state.metadata();
    const a = m.accounts.find((x) => x.id === id);
    if (!a) throw gone(id);
    if (fields) {
      const original = this.state.originalRefreshToken(id);
      if (original && fields.oauth_refresh_token && fields.oauth_refresh_token !== original && !this.state.cachePath)
        this.warn(
          'the provider rotated the refresh token, and the bundle cannot keep the new one: later steps that read this bundle will fail to refresh. Set ACCT_BUNDLE_CACHE to a file shared by your steps, and export a fresh bundle for the next run',
        );
    }
    const before = JSON.stringify(a);
    const { app } = a;
    change(a, appAccounts(m, app));
    if (a.id !== id || a.app !== app) throw readOnlyBundle();
    this.state.keep(JSON.stringify(a) === before ? [] : [a], fields ? { [id]: fields } : {});
    return { ...a };
  }
  async remove(): Promise<void> {
    throw readOnlyBundle();
  }
  async setDefault(): Promise<Account | undefined> {
    throw readOnlyBundle();
  }
  async put(): Promise<{ id: string; action: 'added' | 'updated' }> {
    throw readOnlyBundle();
  }
  /** Commands that store new secrets refuse a bundle before they get here. */
  async ready(): Promise<void> {
    throw readOnlyBundle();
  }
  async readSecrets(ids: readonly string[]): Promise<Map<string, Fields>> {
    return new Map(ids.map((id) => [id, this.state.secrets(id)]));
  }
  /** A bundle's secrets are in memory once it is open. */
  warm(): void {}
  refreshLock(id: string): RefreshLock {
    return fileRefreshLock(join(this.state.lockDir(), refreshLockName(id)));
  }
  /** A bundle records no uses: it is read-only, and CI steps are short-lived. */
  async recordUse(_id: string, _use: UseRecord): Promise<void> {}
  async lastUsed(): Promise<Map<string, string>> {
    return new Map();
  }
  async uses(): Promise<RecordedUse[]> {
    return [];
  }
  async close(): Promise<void> {}
}
