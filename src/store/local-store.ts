// The local store behind the AccountStore interface: account metadata in the
// data folder (accounts/repository.ts), secrets sealed under a key from the
// keychain or a passphrase (store/store.ts), OAuth clients in clients.json
// with their secrets sealed like an account's, locks as folders.
import { join } from 'node:path';
import type { AccountStore, AccountView, AppAccounts, ListedView, ClientStore, RefreshLock, RecordedUse, ResolveHints, UseRecord } from './account-store.js';
import type { AccountRepository } from '../accounts/repository.js';
import { checkSecretId, type SecretStore, type SecretReplaced, type Fields } from './store.js';
import { ACCOUNT_ID_RE, type Account, type Metadata } from '../accounts/model.js';
import type { Paths } from '../paths.js';
import { withLock } from './lock.js';
import { outcomeFile } from './outcome-file.js';
import { readJsonIfExists, writeJsonAtomic, isObject, ensurePrivateDir } from './files.js';
import { AcctError, usageError } from '../errors.js';

export interface LocalStoreDeps {
  paths: Paths;
  repository: AccountRepository;
  secrets: SecretStore;
  now: () => Date;
  /** Cleanup that must not fail the command (see Context.housekeeping). */
  housekeeping: (what: string, fn: () => void) => void;
}

export class LocalStore implements AccountStore {
  readonly name = 'local';
  readonly kind = 'local' as const;
  readonly openList = true;
  readonly clients: ClientStore;
  private readonly repo: AccountRepository;
  private readonly secrets: SecretStore;

  constructor(private readonly deps: LocalStoreDeps) {
    this.repo = deps.repository;
    this.secrets = deps.secrets;
    this.clients = new LocalClients(deps.paths, deps.secrets, deps.now, deps.housekeeping);
  }

  assertWritable(): void {}

  async view(): Promise<AccountView> {
    return this.repo.view();
  }

  /** accounts.tsv's listing: no account parsed whole (store/account-file.ts). */
  async listed(): Promise<ListedView> {
    return this.repo.listed();
  }

  /** One reference, without parsing every account (accounts/repository.ts). */
  async resolve(ref: string, hints: ResolveHints = {}): Promise<Account> {
    return this.repo.resolve(ref, hints);
  }

  async get(id: string): Promise<Account | undefined> {
    return this.repo.get(id);
  }

  async create(app: string, fields: Fields, build: (id: string, app: AppAccounts) => { account: Account; makeDefault: boolean }): Promise<Account> {
    const id = this.repo.newId();
    // Secrets first; the id is checked again under the lock below.
    await this.secrets.write(id, fields);
    try {
      return await this.repo.mutate((m) => {
        if (m.accounts.some((a) => a.id === id) || m.retiredIds.includes(id)) throw new AcctError('unexpected', 'account id collision; retry');
        const { account, makeDefault } = build(id, appAccounts(m, app));
        m.accounts.push(account);
        if (makeDefault) m.defaults[app] = id;
        return { ...account };
      });
    } catch (err) {
      // Whatever stopped the metadata write, the secret must not outlive it; if even that fails, the next write's sweep removes it.
      this.deps.housekeeping('remove the secret of the account that was not created', () => this.secrets.remove(id));
      throw err;
    }
  }

  async update(id: string, change: (a: Account, app: AppAccounts) => void, fields?: Fields): Promise<Account> {
    // The data key first (a keychain or the agent may take a while), so that the lock below is held for file work only.
    if (fields) await this.secrets.ready();
    let written: SecretReplaced | undefined;
    try {
      const updated = await this.repo.mutate(async (m) => {
        const at = m.accounts.findIndex((a) => a.id === id);
        if (at < 0) throw gone(id);
        const copy = structuredClone(m.accounts[at]!);
        change(copy, appAccounts(m, copy.app));
        // Under the metadata lock, as the metadata it goes with: two changes at once (two reconnects, a reconnect and a
        // refresh) each leave their secret beside their own metadata, and an undo puts back the secret this change replaced.
        if (fields) written = await this.secrets.replace(id, fields);
        m.accounts[at] = copy;
        return { ...copy };
      });
      written?.done();
      return updated;
    } catch (err) {
      // The metadata was not changed (a full disk, say): nor is the secret, or a reconnect that said it failed would have replaced the key.
      if (written) this.deps.housekeeping('put back the secret of the change that failed', () => written!.undo());
      throw err;
    }
  }

  async remove(id: string): Promise<void> {
    await this.repo.mutate((m) => {
      if (!m.accounts.some((a) => a.id === id)) throw gone(id);
      m.accounts = m.accounts.filter((a) => a.id !== id);
      m.retiredIds.push(id);
      for (const [app, def] of Object.entries(m.defaults)) if (def === id) delete m.defaults[app];
    });
    // The account is gone once the metadata says so; a secret that cannot be removed now (secrets/ not writable) is said, and its retired id has the next write's sweep remove it.
    this.deps.housekeeping('remove the secret of the deleted account', () => this.secrets.remove(id));
  }

  async setDefault(app: string, id: string | undefined): Promise<Account | undefined> {
    return this.repo.mutate((m) => {
      const was = m.accounts.find((x) => x.id === m.defaults[app]);
      if (id === undefined) delete m.defaults[app];
      else {
        if (!m.accounts.some((a) => a.id === id && a.app === app)) throw gone(id);
        m.defaults[app] = id;
      }
      return was && { ...was };
    });
  }

  async put(incoming: Account, fields: Fields, makeDefault: boolean): Promise<{ id: string; action: 'added' | 'updated' }> {
    await this.secrets.ready();
    let written: SecretReplaced | undefined;
    let existed = false;
    try {
      const result = await this.repo.mutate(async (m) => {
        const id = m.retiredIds.includes(incoming.id) ? this.repo.newId(m) : incoming.id;
        if (m.accounts.some((o) => o.app === incoming.app && o.nickname === incoming.nickname && o.id !== id))
          throw usageError(`${incoming.app}/${incoming.nickname} was created locally meanwhile`, 'rename it, then import again');
        const at = m.accounts.findIndex((a) => a.id === id);
        existed = at >= 0;
        // The same account imported again is updated; another account with this id is never replaced (commands/bundle.ts says what to do).
        if (existed && (m.accounts[at]!.app !== incoming.app || m.accounts[at]!.nickname !== incoming.nickname))
          throw usageError(`${incoming.app}/${incoming.nickname} has the id of another account here, ${m.accounts[at]!.app}/${m.accounts[at]!.nickname}`, 'nothing was imported for it; rename or delete that account, then import again');
        // Under the metadata lock, as in update().
        written = await this.secrets.replace(id, fields);
        const account: Account = { ...incoming, id, fields: Object.keys(fields).sort(), updatedAt: this.deps.now().toISOString() };
        if (existed) m.accounts[at] = account;
        else m.accounts.push(account);
        if (makeDefault && !m.defaults[incoming.app]) m.defaults[incoming.app] = id;
        return { id, action: existed ? ('updated' as const) : ('added' as const) };
      });
      written!.done();
      return result;
    } catch (err) {
      // An account that was there keeps its secret; a new one's goes (if even that fails, the next write's sweep removes it).
      if (written) this.deps.housekeeping(existed ? 'put back the secret of the account that was not imported' : 'remove the secret of the account that was not imported', () => written!.undo());
      throw err;
    }
  }

  ready(): Promise<void> {
    return this.secrets.ready();
  }

  readSecrets(ids: readonly string[]): Promise<Map<string, Fields>> {
    return this.secrets.readMany([...ids]);
  }

  warm(): void {
    this.secrets.warm();
  }

  refreshLock(id: string): RefreshLock {
    return fileRefreshLock(this.repo.lockPath(refreshLockName(id)));
  }

  async recordUse(id: string, use: UseRecord): Promise<void> {
    this.repo.markUsed(id, use.at);
  }

  async lastUsed(): Promise<Map<string, string>> {
    return this.repo.lastUsed();
  }

  async uses(id: string): Promise<RecordedUse[]> {
    const at = this.repo.lastUsed().get(id);
    return at ? [{ at }] : [];
  }

  async close(): Promise<void> {}
}

/** The name of an account's refresh lock, a folder: only for an id acct makes (checkSecretId says why). */
export function refreshLockName(id: string): string {
  return `refresh-${checkSecretId(id, ACCOUNT_ID_RE)}`;
}

/** A refresh lock as a folder (store/lock.ts), its outcome note beside it. */
export function fileRefreshLock(lockPath: string): RefreshLock {
  return {
    hold: (fn, opts) => withLock(lockPath, fn, opts),
    ...outcomeFile(lockPath),
  };
}

export function appAccounts(m: Metadata, app: string): AppAccounts {
  return { app, accounts: m.accounts.filter((a) => a.app === app), defaultId: m.defaults[app] };
}

export const gone = (id: string) =>
  new AcctError('account_not_found', `account ${id} no longer exists`, { hint: 'another acct process deleted it; see acct list' });

interface ClientRecord {
  clientId: string;
  hasSecret: boolean;
  updatedAt: string;
}
interface ClientsFile {
  version: 1;
  clients: Record<string, ClientRecord>;
}
const isClientsFile = (v: unknown): v is ClientsFile => isObject(v) && v.version === 1 && isObject(v.clients);

/** OAuth clients: ids in clients.json (config folder), secrets sealed in the secret store as `client.<app>`. */
class LocalClients implements ClientStore {
  constructor(
    private readonly paths: Paths,
    private readonly secrets: SecretStore,
    private readonly now: () => Date,
    private readonly housekeeping: (what: string, fn: () => void) => void,
  ) {}
  private get file() {
    return join(this.paths.config, 'clients.json');
  }
  private get lock() {
    return join(this.paths.config, 'clients');
  }

  async peek(slug: string) {
    const rec = readJsonIfExists(this.file, isClientsFile)?.clients[slug];
    return rec && { clientId: rec.clientId, hasSecret: rec.hasSecret };
  }

  async get(slug: string) {
    const rec = await this.peek(slug);
    if (!rec) return undefined;
    return { clientId: rec.clientId, clientSecret: rec.hasSecret ? (await this.secrets.read(clientSecretId(slug))).client_secret : undefined };
  }

  async set(slug: string, client: { clientId: string; clientSecret?: string }) {
    if (client.clientSecret !== undefined) await this.secrets.ready();
    let written: SecretReplaced | undefined;
    try {
      await withLock(this.lock, async () => {
        const f = readJsonIfExists(this.file, isClientsFile) ?? { version: 1 as const, clients: {} };
        // Under the clients lock, as the record it goes with (see LocalStore.update).
        if (client.clientSecret !== undefined) written = await this.secrets.replace(clientSecretId(slug), { client_secret: client.clientSecret });
        f.clients[slug] = { clientId: client.clientId, hasSecret: client.clientSecret !== undefined, updatedAt: this.now().toISOString() };
        ensurePrivateDir(this.paths.config);
        writeJsonAtomic(this.file, f);
      });
    } catch (err) {
      // clients.json still names the old client: its secret stays with it.
      if (written) this.housekeeping('put back the client secret of the change that failed', () => written!.undo());
      throw err;
    }
    written?.done();
    // clients.json no longer names a secret: one left behind is said, not a failure of the change made.
    if (client.clientSecret === undefined) this.housekeeping('remove the secret of the client replaced', () => this.secrets.remove(clientSecretId(slug)));
  }

  async remove(slug: string) {
    const removed = await withLock(this.lock, () => {
      const f = readJsonIfExists(this.file, isClientsFile);
      if (!f?.clients[slug]) return false;
      delete f.clients[slug];
      writeJsonAtomic(this.file, f);
      return true;
    });
    this.housekeeping('remove the secret of the client removed', () => this.secrets.remove(clientSecretId(slug)));
    return removed;
  }
}

const clientSecretId = (slug: string) => `client.${slug}`;
