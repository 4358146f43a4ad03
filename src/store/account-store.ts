// The one interface every account store implements: the local store
// (metadata files, secrets sealed under a key from the keychain or a
// passphrase), a bundle in CI (read-only, refreshed tokens kept in a cache),
// and a team store on PostgreSQL. Commands and the account service talk to
// this interface only; which store holds an account is decided once, when a
// reference is resolved (accounts/stores.ts), and the account carries it.
//
// Every operation is asynchronous and about accounts, not documents: a store
// may answer `resolve` from an index without reading every account, and a
// remote store answers over its connection.
import type { Account } from '../accounts/model.js';
import type { Fields } from './store.js';
import type { RefreshOutcome } from '../accounts/refresh.js';

/** What a store shows of all its accounts at once: for list, status, completion and suggestions. */
export interface AccountView {
  accounts: readonly Account[];
  /** app slug → default account id */
  defaults: Readonly<Record<string, string>>;
}

/** What `acct list` shows of every account: a store may answer it without reading every account whole. */
export interface ListedView {
  accounts: readonly ListedAccount[];
  /** app slug → default account id */
  defaults: Readonly<Record<string, string>>;
}
export type ListedAccount = Pick<Account, 'id' | 'team' | 'app' | 'nickname' | 'auth' | 'status' | 'expiresAt'>;

/**
 * The accounts of one app, as a change under the store's write lock sees them:
 * every rule a change checks (a nickname free within the app, the app's first
 * account becoming its default) is about one app's accounts.
 */
export interface AppAccounts {
  app: string;
  accounts: readonly Account[];
  /** The app's default account id, if any. */
  defaultId: string | undefined;
}

/** What an account store records of a use (SPEC "where used"). */
export interface UseRecord {
  at: Date;
  /** The acct command that used it: "token", "env", "exec"… */
  command: string;
}

/** A recorded use, as `show` lists them. Stores that keep only the last use return one. */
export interface RecordedUse {
  at: string;
  command?: string;
  /** Team stores: who used it, from which machine. */
  member?: string;
  machine?: string;
}

/** An access token kept on this machine for while a team's database is unreachable. */
export interface OfflineCopy {
  /** The account as it was when the copy was kept. */
  account: Account;
  token: string;
  expiresAt: string;
  /** The team database's host:port, for the warning. */
  host: string;
}

/** What reference resolution needs from the catalog, for its hints. */
export interface ResolveHints {
  isApp?: (slug: string) => boolean;
  appSlugs?: () => string[];
}

/** One account's refresh lock (see accounts/refresh.ts for how it is used). */
export interface RefreshLock {
  /**
   * Runs `fn` holding the lock, waiting at most `waitMs` for it (then throws
   * LockBusyError). While another process holds it, `meanwhile` is asked now
   * and then: a value (or a throw) ends the wait without taking the lock.
   * A holder that dies releases the lock (a dead pid, a closed session).
   */
  hold<T>(fn: () => Promise<T>, opts: { waitMs: number; meanwhile?: () => Promise<T | undefined> }): Promise<T>;
  /**
   * Inside `hold`: whether the lock went away while held (a team store's
   * session ended with a restart). A holder asks before it spends a refresh
   * token: another process may hold the lock now. Absent: it cannot be lost.
   */
  lost?(): boolean;
  /** The holder's note of its last failed attempt, for the callers waiting behind it. Never fails. */
  readOutcome(): Promise<RefreshOutcome | undefined>;
  recordOutcome(outcome: RefreshOutcome): Promise<void>;
  clearOutcome(): Promise<void>;
}

/** An OAuth client as a store keeps it: the id in the clear, the secret sealed like an account's. */
export interface StoredClient {
  clientId: string;
  clientSecret?: string;
}

export interface ClientStore {
  /** The client set for an app, without its secret (no unlock needed). */
  peek(slug: string): Promise<{ clientId: string; hasSecret: boolean } | undefined>;
  /** The client with its secret (unlocks the store when there is one). */
  get(slug: string): Promise<StoredClient | undefined>;
  set(slug: string, client: StoredClient): Promise<void>;
  /** False when none was set. */
  remove(slug: string): Promise<boolean>;
}

export interface AccountStore {
  /** 'local' (or 'bundle') for the machine's own store; a team store's name (`acme`), which qualifies its references (`acme:stripe/live`). */
  readonly name: string;
  readonly kind: 'local' | 'bundle' | 'team';
  /** Whether accounts can be listed without opening anything secret (the shell completer asks). */
  readonly openList: boolean;
  /** Throws (exit 2, read_only) when the store takes no changes: a bundle. */
  assertWritable(): void;

  // Reading metadata.
  view(): Promise<AccountView>;
  /** What `acct list` shows of them (view() will do for a store that reads every account anyway). */
  listed(): Promise<ListedView>;
  /** The account a reference names (id, nickname, app/nickname, app slug), or the spec's not-found/ambiguous errors. */
  resolve(ref: string, hints?: ResolveHints): Promise<Account>;
  /** The account as it is now; undefined when it is gone. */
  get(id: string): Promise<Account | undefined>;

  // Changing metadata. Each change runs under the store's write lock, on a
  // fresh read, and may throw to abort without writing anything.
  /**
   * Adds an account: its secrets are stored first, then `build` makes the
   * account from the app's accounts as they are under the lock (the id is
   * the store's, new). Returns the account as stored. A failure after the
   * secrets were written removes them.
   */
  create(app: string, fields: Fields, build: (id: string, app: AppAccounts) => { account: Account; makeDefault: boolean }): Promise<Account>;
  /**
   * Changes one account: `change` gets a copy to edit and the app's accounts
   * (for nickname checks). With `fields`, the secrets are replaced first.
   * Throws account_not_found when it is gone.
   */
  update(id: string, change: (a: Account, app: AppAccounts) => void, fields?: Fields): Promise<Account>;
  /** Removes the account (metadata first, then its secrets); its id is never handed out again. */
  remove(id: string): Promise<void>;
  /** Makes `id` the app's default, or clears the app's default with undefined. Returns the account that was the default before. */
  setDefault(app: string, id: string | undefined): Promise<Account | undefined>;
  /** An account as another store exported it (acct import): the id kept unless it is retired here. */
  put(account: Account, fields: Fields, makeDefault: boolean): Promise<{ id: string; action: 'added' | 'updated' }>;

  // Secrets.
  /** Opens the store for a new secret (creating it, asking for a passphrase) before the user types one or approves a grant. */
  ready(): Promise<void>;
  /** Several accounts' secrets in one unlock (one agent conversation, one keychain read, one query). */
  readSecrets(ids: readonly string[]): Promise<Map<string, Fields>>;
  /**
   * A hint that secrets will be read soon (acct token): the store may start
   * unlocking while the caller resolves the reference. Never fails.
   */
  warm(): void;

  // Refresh and bookkeeping.
  refreshLock(id: string): RefreshLock;
  /** Records a use. Bookkeeping: callers run it through ctx.housekeeping; it never blocks a read for long. */
  recordUse(id: string, use: UseRecord): Promise<void>;
  /** The last use of each account (list). */
  lastUsed(): Promise<Map<string, string>>;
  /** Recent uses of one account, newest first (show). */
  uses(id: string, limit: number): Promise<RecordedUse[]>;

  clients: ClientStore;

  // Team stores, while their database is unreachable (team/offline.ts).
  /** Keeps a copy of an access token a read just got, when the team allows it (bookkeeping: through ctx.housekeeping). */
  keepOffline?(account: Account, fields: Fields, expiresAt: string | null): Promise<void>;
  /** The copy keepOffline kept of the account a reference names, valid for minTtlSeconds more; or why there is none. */
  offlineCopy?(ref: string, minTtlSeconds: number, now: Date): Promise<OfflineCopy | { problem: string }>;

  /** Releases connections (a team store's pool). */
  close(): Promise<void>;
}
