// A team store: the AccountStore interface on a team's PostgreSQL database.
//
// The database holds account metadata, sealed secrets and per-member wrapped
// keys (team/seal.ts); every query runs as the member's own role, so
// row-level security (team/schema.ts) decides what it sees. Secrets are
// sealed and opened here, on the member's machine.
import { newAccountId, type Account } from '../accounts/model.js';
import { resolveReference, label } from '../accounts/resolve.js';
import type { AccountStore, AccountView, AppAccounts, ClientStore, OfflineCopy, RecordedUse, RefreshLock, ResolveHints, StoredClient, UseRecord } from '../store/account-store.js';
import type { Fields } from '../store/store.js';
import type { RefreshOutcome } from '../accounts/refresh.js';
import { LockBusyError } from '../store/lock.js';
import { AcctError, visibleDeep } from '../errors.js';
import type { Sealed } from '../store/crypto.js';
import { isSealed } from '../store/crypto.js';
import { agentDatabase, poolDatabase, teamError, alive, type Database, type PoolClient } from './pg.js';
import type { TeamAgent } from '../agent/client.js';
import type { MemberCredentials, RosterPin, TeamConfig } from './config.js';
import { recipients } from './roster.js';
import { writeGrant } from './grants.js';
import { hostOf, versionSeen, type Versioned } from './config.js';
import type { OfflineTokens } from './offline.js';
import { newItemKey, openFields, sealFields, unwrapKey, wrapInfo, wrapKey, isWrapped, accountBinding, openItems, fieldsOf, sealedFieldsAad, type Wrapped, type MemberKeys, type TeamItem } from './seal.js';

/** Who this machine is in the team, as the database says. */
export interface Member {
  id: string;
  name: string;
  isAdmin: boolean;
}

/** The member this machine is, as its credentials say (no query needed). */
export interface Me {
  id: string;
}

export interface TeamStoreDeps {
  env: NodeJS.ProcessEnv;
  warn: (message: string) => void;
  /** This machine's name, for the uses it records. */
  machine?: () => string;
  /** Where it runs, the agent's connections, open between commands (team/pg.ts, agentDatabase). */
  agent?: TeamAgent;
  /** The access tokens kept on this machine for while the database is unreachable (a joined machine's; none in CI). */
  tokens?: OfflineTokens;
  /** Keeps a roster version accepted for good (teams.json); none in CI, where the pin lives in memory. */
  acceptRoster?: (pin: RosterPin) => void;
  /** Keeps the highest version seen of an account's key or grant (teams.json); none in CI. */
  acceptVersion?: (kind: Versioned, accountId: string, version: number) => void;
  /** Writes the member's credentials back to the machine's store (a signing key made for credentials from before them); none in CI. */
  saveCredentials?: (creds: MemberCredentials) => Promise<void>;
}

/** The access an account has in a team (for show and share). */
export interface AccountAccess {
  owner: { id: string; name: string };
  visibility: 'private' | 'shared' | 'team';
  readers: { id: string; name: string }[];
}

/** acct.whoami's row (removed_at a Date, or ISO text inside JSON). */
interface WhoamiRow {
  id: string;
  name: string;
  is_admin: boolean;
  public_key: string | null;
  removed_at: Date | string | null;
}

interface Row {
  id: string;
  app: string;
  nickname: string;
  meta: Account;
}

/** An account as the rest of acct sees it: it carries its team, so every later operation comes back to this store (accounts/stores.ts). */
const toAccount = (r: Row, team: string): Account => ({ ...r.meta, id: r.id, app: r.app, nickname: r.nickname, team });
/**
 * What the store hands out to be shown (list, show, members, remove):
 * another member writes these rows, so a control character in them (an escape
 * sequence for the terminal) is made visible, here, once. Updates read their
 * rows themselves and write back what they read.
 */
const shown = visibleDeep;
/** An account as the database keeps it: the team is the row's, not the metadata's. */
const stored = ({ team: _team, ...a }: Account): Omit<Account, 'team'> => a;
/**
 * An account's key version (schema version 6; seal.ts, wrapInfo), from its
 * acct.account_secrets row aliased `s`: through to_jsonb, so a schema from
 * before versions reads as 0 (every key there is) rather than failing.
 */
export const KEY_VERSION = "COALESCE((to_jsonb(s) ->> 'key_version')::int, 0) AS key_version";


export class TeamStore implements AccountStore {
  readonly kind = 'team' as const;
  /** Listing needs the member's credentials and the database. */
  readonly openList = false;
  private session?: Promise<{ pool: Database; member: Me; creds: MemberCredentials }>;

  constructor(
    readonly team: TeamConfig,
    private readonly credentials: () => Promise<MemberCredentials>,
    private readonly deps: TeamStoreDeps,
  ) {}

  get name(): string {
    return this.team.name;
  }
  get teamId(): string {
    return this.team.teamId;
  }

  assertWritable(): void {}

  /**
   * The pool, as the member (connections are made on first use). No query:
   * who the member is comes from its credentials, and a removed member's
   * role can no longer log in (exit 4 at the first query). member() asks the
   * database, for what only it knows (admin, name).
   */
  async connect(): Promise<{ pool: Database; member: Me; creds: MemberCredentials }> {
    // After warm(): its connection, once made, serves the first query (asked for while it is being made, the pool would open a second one).
    if (this.warming) await this.warming;
    // The warm-up's connection failed: that is this use's failure too, said at once (not a second connection timeout).
    if (this.warmFailure) {
      const failure = this.warmFailure;
      // Said once: a later use (acct serve runs on) connects anew.
      this.warmFailure = undefined;
      this.warming = undefined;
      throw teamError(failure, this.team.url, this.name);
    }
    return this.openSession();
  }

  private openSession(): Promise<{ pool: Database; member: Me; creds: MemberCredentials }> {
    return (this.session ??= alive(async () => {
      const creds = await this.credentials();
      const c = { url: this.team.url, user: creds.role, password: creds.password, env: this.deps.env };
      const pool = this.deps.agent ? agentDatabase(this.deps.agent, c) : await poolDatabase(c);
      return { pool, member: { id: creds.memberId }, creds };
    }).catch((err: unknown) => {
      this.session = undefined;
      throw err;
    }));
  }

  private whoami?: Promise<Member>;

  /** The member as the database knows it; checks it is still in the team, with this machine's key. */
  member(): Promise<Member> {
    return (this.whoami ??= (async () => {
      const { creds } = await this.connect();
      const rows = await this.query<WhoamiRow>('SELECT * FROM acct.whoami($1)', [this.teamId]);
      return this.checkMember(rows[0], creds);
    })().catch((err: unknown) => {
      this.whoami = undefined;
      throw err;
    }));
  }

  /** A removed member's login fails; a session made before the removal (the agent's) logs in still, and sees nothing: this says why. */
  private checkMember(row: WhoamiRow | undefined, creds: MemberCredentials): Member {
    if (!row) throw new AcctError('access_removed', `this machine is no member of team ${this.name} at ${hostOf(this.team.url)}`, { hint: `ask an admin of ${this.name} for an invitation` });
    if (row.removed_at)
      throw new AcctError('access_removed', `this machine's member (${row.name}) was removed from team ${this.name} on ${new Date(row.removed_at).toISOString()}`, {
        hint: `ask an admin of ${this.name} to invite you again`,
      });
    if (row.public_key !== creds.publicKey)
      throw new AcctError('access_denied', `the key of member ${row.name} in team ${this.name} is not the one this machine holds`, { hint: 'join the team again with a new invitation' });
    return { id: row.id, name: row.name, isAdmin: row.is_admin };
  }

  private async keys(): Promise<MemberKeys> {
    const { creds } = await this.connect();
    return { publicKey: creds.publicKey, privateKey: creds.privateKey };
  }

  /** One query as the member. */
  async query<T extends object>(sql: string, params: unknown[] = []): Promise<T[]> {
    const { pool } = await this.connect();
    return alive(async () => {
      try {
        return await pool.query<T>(sql, params);
      } catch (err) {
        throw teamError(err, this.team.url, this.name);
      }
    });
  }

  /**
   * A transaction that is tried again while the database is unreachable (a
   * restart), for `retryMs` at most: for writes that must not be lost, like
   * a rotated refresh token. Only for idempotent transactions (a commit whose
   * answer was lost may have happened).
   */
  async txRetrying<T>(retryMs: number, fn: (q: TxQuery, member: Me) => Promise<T>): Promise<T> {
    const until = Date.now() + retryMs;
    let pause = 250;
    for (let warned = false; ; ) {
      try {
        return await this.tx(fn);
      } catch (err) {
        if (!(err instanceof AcctError) || err.code !== 'team_unreachable' || Date.now() + pause > until) throw err;
        if (!warned) this.deps.warn(`${err.message}; trying again for up to ${Math.round(retryMs / 1000)}s`);
        warned = true;
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(pause * 2, 2000);
      }
    }
  }

  /** What to do once a transaction commits, by its query function (afterCommit). */
  private readonly commitHooks = new WeakMap<TxQuery, (() => void)[]>();

  /**
   * Runs `fn` once the transaction whose query function is `q` has
   * committed, never when it rolls back: a version this machine writes (a
   * re-key, a grant) counts as seen only once the database holds it, or a
   * failed commit would leave the machine refusing the version still there.
   */
  afterCommit(q: TxQuery, fn: () => void): void {
    const hooks = this.commitHooks.get(q);
    if (!hooks) throw new AcctError('unexpected', 'afterCommit outside a transaction of this store');
    hooks.push(fn);
  }

  /** A transaction as the member: committed when `fn` returns, rolled back when it throws. */
  async tx<T>(fn: (q: <R extends object>(sql: string, params?: unknown[]) => Promise<R[]>, member: Me) => Promise<T>): Promise<T> {
    return alive(() => this.txAlive(fn));
  }

  private async txAlive<T>(fn: (q: <R extends object>(sql: string, params?: unknown[]) => Promise<R[]>, member: Me) => Promise<T>): Promise<T> {
    const { pool, member } = await this.connect();
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (err) {
      throw teamError(err, this.team.url, this.name);
    }
    let broken: unknown;
    // A connection the server drops while checked out says so as an event: the failing query reports it.
    const onError = (err: Error) => void (broken ??= err);
    client.on('error', onError);
    try {
      await client.query('BEGIN');
      const q: TxQuery = async <R extends object>(sql: string, params: unknown[] = []) => (await client.query<R>(sql, params)).rows;
      const hooks: (() => void)[] = [];
      this.commitHooks.set(q, hooks);
      const result = await fn(q, member);
      await client.query('COMMIT');
      for (const hook of hooks) hook();
      return result;
    } catch (err) {
      broken = err;
      await client.query('ROLLBACK').catch((rollback: unknown) => {
        broken = rollback; // the connection is gone: the server rolled back with it; the pool drops it
      });
      throw teamError(err, this.team.url, this.name);
    } finally {
      client.off('error', onError);
      client.release(broken instanceof Error && !(broken instanceof AcctError) ? broken : undefined);
    }
  }

  // Reading metadata.

  /** One query returns whole accounts anyway. */
  listed(): Promise<AccountView> {
    return this.view();
  }

  async view(): Promise<AccountView> {
    return this.viewSeen().catch(async (err: unknown) => {
      // The member removed (its login refused, at connect or at the query): nothing kept of the team is its to use.
      if (err instanceof AcctError && err.code === 'access_removed') await this.offline(`forget the tokens kept for team ${this.name}`, (t) => t.forgetAll());
      throw err;
    });
  }

  private async viewSeen(): Promise<AccountView> {
    const { member, creds } = await this.connect();
    // One round trip on one connection (acct token resolves through here): a second query in parallel would open a second connection.
    // The team's offline_tokens setting read from the row as JSON: a schema from before it (version 1) answers null, off.
    // The member's own row comes with it: through a session made before a removal, the accounts would just be gone.
    const [row] = await this.query<{ accounts: Row[]; defaults: Record<string, string>; offline_tokens: boolean | null; me: WhoamiRow | null }>(
      `SELECT (SELECT coalesce(json_agg(json_build_object('id', id, 'app', app, 'nickname', nickname, 'meta', meta) ORDER BY app, nickname), '[]') FROM acct.accounts WHERE team_id = $1) AS accounts,
              (SELECT coalesce(json_object_agg(app, account_id), '{}') FROM acct.defaults WHERE team_id = $1 AND member_id = $2) AS defaults,
              (SELECT to_jsonb(t)->'offline_tokens' FROM acct.teams t WHERE t.id = $1) AS offline_tokens,
              (SELECT row_to_json(w) FROM acct.whoami($1) w LIMIT 1) AS me`,
      [this.teamId, member.id],
    );
    const me = this.checkMember(row!.me ?? undefined, creds);
    this.whoami ??= Promise.resolve(me);
    this.offlineAllowed = row!.offline_tokens === true;
    await this.offline(`update the tokens kept for team ${this.name}`, (t) => t.sync(this.offlineAllowed === true, new Set(row!.accounts.map((a) => a.id))));
    return { accounts: row!.accounts.map((r) => shown(toAccount(r, this.name))), defaults: row!.defaults };
  }

  /** The team's offline_tokens setting, as the last view read it (undefined: not read in this process, so no copy is kept). */
  private offlineAllowed?: boolean;

  /** Bookkeeping of the tokens kept on this machine: a failure of the file system or the store is said, and never the command's. */
  private async offline(what: string, fn: (tokens: OfflineTokens) => Promise<void>): Promise<void> {
    if (!this.deps.tokens) return;
    try {
      await fn(this.deps.tokens);
    } catch (err) {
      if (!(err instanceof AcctError) && typeof (err as NodeJS.ErrnoException).code !== 'string') throw err;
      this.deps.warn(`could not ${what}: ${(err as Error).message}`);
    }
  }

  async keepOffline(account: Account, fields: Fields, expiresAt: string | null): Promise<void> {
    // Only an access token that expires, and only while the team allows it (a key that never expires would outlive a removal).
    if (!this.offlineAllowed || !this.deps.tokens || account.auth !== 'oauth2' || !expiresAt || !fields.oauth_access_token) return;
    await this.deps.tokens.keep(account, fields.oauth_access_token, expiresAt);
  }

  async offlineCopy(ref: string, minTtlSeconds: number, now: Date): Promise<OfflineCopy | { problem: string }> {
    if (!this.deps.tokens) return { problem: `no token is kept for a team given by ACCT_TEAM: only a machine that joined ${this.name} keeps one` };
    return this.deps.tokens.find(ref, minTtlSeconds, now, hostOf(this.team.url));
  }

  async resolve(ref: string, hints: ResolveHints = {}): Promise<Account> {
    const v = await this.view();
    try {
      return resolveReference({ version: 1, accounts: [...v.accounts], defaults: { ...v.defaults }, retiredIds: [] }, ref, hints.isApp, hints.appSlugs);
    } catch (err) {
      if (!(err instanceof AcctError) || err.code !== 'account_not_found') throw err;
      // Another member's account that is not shared with this one is invisible here, not missing: said, and a connect goes to the team.
      throw new AcctError('account_not_found', `${err.message} in team ${this.name}, or none that is shared with you`, {
        hint: err.hint?.replace(/^connect one: acct connect (\S+)$/, `connect one: acct connect $1 --team ${this.name}; or ask its owner to share it with you`),
        cause: err,
      });
    }
  }

  async get(id: string): Promise<Account | undefined> {
    const rows = await this.query<Row>('SELECT id, app, nickname, meta FROM acct.accounts WHERE team_id = $1 AND id = $2', [this.teamId, id]);
    return rows[0] && shown(toAccount(rows[0], this.name));
  }

  /** Owner, visibility and readers of an account the member sees. */
  async access(id: string): Promise<AccountAccess> {
    const rows = await this.query<{ owner: string; owner_name: string; visibility: AccountAccess['visibility']; readers: { id: string; name: string }[] | null }>(
      `SELECT a.owner, o.name AS owner_name, a.visibility,
              (SELECT json_agg(json_build_object('id', m.id, 'name', m.name) ORDER BY m.name) FROM acct.account_access x JOIN acct.members m ON m.team_id = x.team_id AND m.id = x.member_id
                WHERE x.team_id = a.team_id AND x.account_id = a.id) AS readers
         FROM acct.accounts a JOIN acct.members o ON o.team_id = a.team_id AND o.id = a.owner WHERE a.team_id = $1 AND a.id = $2`,
      [this.teamId, id],
    );
    const r = rows[0];
    if (!r) throw this.notFound(id);
    return shown({ owner: { id: r.owner, name: r.owner_name }, visibility: r.visibility, readers: r.readers ?? [] });
  }

  private notFound(id: string) {
    return new AcctError('account_not_found', `team ${this.name} has no account ${id} that you can see`, { hint: `see its accounts with: acct list` });
  }

  // Changing metadata.

  private async appAccounts(q: TxQuery, member: Me, app: string): Promise<AppAccounts> {
    // Creates of one app's accounts take turns: the nickname rules are about one app.
    await q('SELECT pg_advisory_xact_lock(hashtext($1))', [`acct:${this.teamId}:app:${app}`]);
    const rows = await q<Row>('SELECT id, app, nickname, meta FROM acct.accounts WHERE team_id = $1 AND app = $2 ORDER BY nickname', [this.teamId, app]);
    const def = await q<{ account_id: string }>('SELECT account_id FROM acct.defaults WHERE team_id = $1 AND member_id = $2 AND app = $3', [this.teamId, member.id, app]);
    return { app, accounts: rows.map((r) => toAccount(r, this.name)), defaultId: def[0]?.account_id };
  }

  async create(app: string, fields: Fields, build: (id: string, app: AppAccounts) => { account: Account; makeDefault: boolean }): Promise<Account> {
    const keys = await this.keys();
    return this.tx(async (q, member) => {
      const accounts = await this.appAccounts(q, member, app);
      const id = await this.freeId(q);
      const { account, makeDefault } = build(id, accounts);
      await this.insertAccount(q, member, keys, { ...account, id }, fields, makeDefault);
      return { ...account, id, team: this.name };
    });
  }

  private async freeId(q: TxQuery, wanted?: string): Promise<string> {
    for (let id = wanted ?? newAccountId(); ; id = newAccountId()) {
      // Ids of accounts this member cannot see are taken too: the primary key says so at insert; retired ones are visible to every member.
      const taken = await q('SELECT 1 FROM acct.retired_ids WHERE team_id = $1 AND id = $2', [this.teamId, id]);
      if (!taken.length) return id;
    }
  }

  private async insertAccount(q: TxQuery, member: Me, keys: MemberKeys, account: Account, fields: Fields, makeDefault: boolean): Promise<void> {
    const key = newItemKey();
    try {
      await q('INSERT INTO acct.accounts (team_id, id, app, nickname, owner, meta) VALUES ($1, $2, $3, $4, $5, $6)', [this.teamId, account.id, account.app, account.nickname, member.id, stored(account)]);
    } catch (err) {
      if ((err as { code?: string }).code === '23505')
        throw new AcctError('bad_input', `team ${this.name} has a ${account.app} account called "${account.nickname}" already`, {
          hint: 'pick another nickname with --nickname (it may be an account not shared with you)',
        });
      throw err;
    }
    await q('INSERT INTO acct.account_secrets (team_id, account_id, sealed) VALUES ($1, $2, $3)', [this.teamId, account.id, sealFields(key, fields, this.teamId, account.id, accountBinding(account))]);
    await q('INSERT INTO acct.account_access (team_id, account_id, member_id, wrapped, granted_by) VALUES ($1, $2, $3, $4, $3)', [
      this.teamId,
      account.id,
      member.id,
      wrapKey(key, keys.publicKey, wrapInfo(this.teamId, account.id, member.id)),
    ]);
    // Private to its owner, signed: no client wraps it for anyone else until the owner shares it.
    await writeGrant(this, q, account.id, { visibility: 'private', readers: [] });
    if (makeDefault) await this.writeDefault(q, member, account.app, account.id);
  }

  private async writeDefault(q: TxQuery, member: Me, app: string, id: string | undefined) {
    if (id === undefined) await q('DELETE FROM acct.defaults WHERE team_id = $1 AND member_id = $2 AND app = $3', [this.teamId, member.id, app]);
    else
      await q(
        'INSERT INTO acct.defaults (team_id, member_id, app, account_id) VALUES ($1, $2, $3, $4) ON CONFLICT (team_id, member_id, app) DO UPDATE SET account_id = EXCLUDED.account_id',
        [this.teamId, member.id, app, id],
      );
  }

  async update(id: string, change: (a: Account, app: AppAccounts) => void, fields?: Fields): Promise<Account> {
    const keys = fields ? await this.keys() : undefined;
    // Setting the same values again is harmless, and new secrets (a rotated
    // refresh token, just issued) must survive a database restart: retried.
    return this.txRetrying(WRITE_RETRY_MS, async (q, member) => {
      const rows = await q<Row>('SELECT id, app, nickname, meta FROM acct.accounts WHERE team_id = $1 AND id = $2 FOR UPDATE', [this.teamId, id]);
      if (!rows[0]) throw await this.whyNot(q, id);
      const before = toAccount(rows[0], this.name);
      const accounts = await this.appAccounts(q, member, before.app);
      const after = structuredClone(before);
      change(after, accounts);
      if (after.id !== id || after.app !== before.app) throw new AcctError('unexpected', 'an update may not change the account id or app');
      // New secrets, or the same ones sealed again when what they are bound to (the settings) changed.
      const rebind = accountBinding(after) !== accountBinding(before);
      if (fields || rebind) {
        const key = await this.accountKey(q, member, keys ?? (await this.keys()), id);
        let next = fields;
        if (!next) {
          const [row] = await q<{ sealed: unknown }>('SELECT sealed FROM acct.account_secrets WHERE team_id = $1 AND account_id = $2', [this.teamId, id]);
          next = this.open(key, row?.sealed, id, accountBinding(before));
        }
        const written = await q('UPDATE acct.account_secrets SET sealed = $3, updated_at = now() WHERE team_id = $1 AND account_id = $2 RETURNING account_id', [
          this.teamId,
          id,
          sealFields(key, next, this.teamId, id, accountBinding(after)),
        ]);
        // No row: the secrets are not this member's to write (any more), or gone. Said, and the transaction undone: never a change that looks stored.
        if (!written.length)
          throw new AcctError('store_unavailable', `the new secrets of ${id} could not be stored in team ${this.name}: the account's secrets are gone or no longer yours to write`, {
            hint: `check it is still shared with you (acct show ${this.name}:${id}); a token refreshed just now may need: acct reconnect ${this.name}:${id}`,
          });
      }
      try {
        await q('UPDATE acct.accounts SET nickname = $3, meta = $4 WHERE team_id = $1 AND id = $2', [this.teamId, id, after.nickname, stored(after)]);
      } catch (err) {
        if ((err as { code?: string }).code === '23505')
          throw new AcctError('bad_input', `team ${this.name} has a ${after.app} account called "${after.nickname}" already`, { hint: 'pick another nickname' });
        throw err;
      }
      return after;
    });
  }

  /** Why an account the member asked for is not there for it: not visible, or visible but not its to change. */
  private async whyNot(q: TxQuery, id: string): Promise<AcctError> {
    const seen = await q<{ owner: string }>('SELECT owner FROM acct.accounts WHERE team_id = $1 AND id = $2', [this.teamId, id]);
    if (!seen.length) return new AcctError('account_not_found', `account ${id} is gone from team ${this.name}, or was never shared with you`);
    return new AcctError('access_denied', `account ${id} of team ${this.name} is not shared with you`, { hint: 'ask its owner to share it: acct share <team>:<ref> --with <you>' });
  }

  /** The account's key, unwrapped for this member: the one new secrets are sealed with, so never an older version than this machine has seen. */
  private async accountKey(q: TxQuery, member: Me, keys: MemberKeys, id: string): Promise<Buffer> {
    const mine = await this.wrappedFor(q, id, member.id);
    if (!mine) throw await this.whyNot(q, id);
    return this.unwrapAccountKey(mine.wrapped, mine.key_version, keys, id, member.id);
  }

  /** An account's key as the database holds it wrapped for a member, with the key's version; none when it is not wrapped for them. */
  async wrappedFor(q: TxQuery, id: string, memberId: string): Promise<{ wrapped: unknown; key_version: number } | undefined> {
    const [row] = await q<{ wrapped: unknown; key_version: number }>(
      `SELECT x.wrapped, ${KEY_VERSION} FROM acct.account_access x JOIN acct.account_secrets s ON s.team_id = x.team_id AND s.account_id = x.account_id
        WHERE x.team_id = $1 AND x.account_id = $2 AND x.member_id = $3`,
      [this.teamId, id, memberId],
    );
    return row;
  }

  /** An account's wrapped key at a version the database gives: refused when older than one seen here, and the version recorded once the key opens. */
  unwrapAccountKey(wrapped: unknown, version: number, keys: MemberKeys, id: string, memberId: string): Buffer {
    this.checkKeyVersion(id, version);
    const key = this.unwrap(wrapped, keys, id, memberId, version);
    this.acceptVersion('keys', id, version);
    return key;
  }

  /** A wrapped key (an account's, at its key version, or `client:<app>`), opened with this member's key: one that does not open is a store error that says what to do (exit 6), never a crypto library's message. */
  unwrap(wrapped: unknown, keys: MemberKeys, item: string, memberId: string, keyVersion = 0): Buffer {
    try {
      if (!isWrapped(wrapped)) throw new Error('malformed');
      return unwrapKey(wrapped, keys, wrapInfo(this.teamId, item, memberId, keyVersion));
    } catch (err) {
      throw this.keyFailure(item, err);
    }
  }

  async remove(id: string): Promise<void> {
    await this.tx(async (q) => {
      const gone = await q('DELETE FROM acct.accounts WHERE team_id = $1 AND id = $2 RETURNING id', [this.teamId, id]);
      if (!gone.length) {
        const seen = await q<{ owner: string }>('SELECT owner FROM acct.accounts WHERE team_id = $1 AND id = $2', [this.teamId, id]);
        if (!seen.length) throw this.notFound(id);
        throw new AcctError('access_denied', `only the owner of ${id} can delete it from team ${this.name}`, { hint: 'ask its owner' });
      }
      await q('INSERT INTO acct.retired_ids (team_id, id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [this.teamId, id]);
    });
    await this.offline(`forget the token kept of ${id}`, (t) => t.forget(id));
  }

  async setDefault(app: string, id: string | undefined): Promise<Account | undefined> {
    return this.tx(async (q, member) => {
      const before = await q<Row>(
        'SELECT a.id, a.app, a.nickname, a.meta FROM acct.defaults d JOIN acct.accounts a ON a.team_id = d.team_id AND a.id = d.account_id WHERE d.team_id = $1 AND d.member_id = $2 AND d.app = $3',
        [this.teamId, member.id, app],
      );
      await this.writeDefault(q, member, app, id);
      return before[0] && toAccount(before[0], this.name);
    });
  }

  async put(account: Account, fields: Fields, makeDefault: boolean): Promise<{ id: string; action: 'added' | 'updated' }> {
    const existing = await this.get(account.id);
    if (existing) {
      await this.update(account.id, (a) => Object.assign(a, account), fields);
      if (makeDefault) await this.setDefault(account.app, account.id);
      return { id: account.id, action: 'updated' };
    }
    const keys = await this.keys();
    return this.tx(async (q, member) => {
      const id = await this.freeId(q, account.id);
      await this.insertAccount(q, member, keys, { ...account, id }, fields, makeDefault);
      return { id, action: 'added' as const };
    });
  }

  // Secrets.

  async ready(): Promise<void> {
    await this.connect();
  }

  async readSecrets(ids: readonly string[]): Promise<Map<string, Fields>> {
    const { member } = await this.connect();
    const keys = await this.keys();
    const rows = await this.query<{ account_id: string; sealed: unknown; wrapped: unknown; key_version: number; app: string; settings: Record<string, string> | null }>(
      `SELECT s.account_id, s.sealed, x.wrapped, ${KEY_VERSION}, a.app, a.meta->'settings' AS settings FROM acct.account_secrets s
         JOIN acct.account_access x ON x.team_id = s.team_id AND x.account_id = s.account_id AND x.member_id = $3
         JOIN acct.accounts a ON a.team_id = s.team_id AND a.id = s.account_id
        WHERE s.team_id = $1 AND s.account_id = ANY($2)`,
      [this.teamId, [...ids], member.id],
    );
    const byId = new Map(rows.map((r) => [r.account_id, r]));
    for (const id of ids) {
      if (byId.has(id)) continue;
      // Not the member's to read any more: neither is a copy kept of it.
      await this.offline(`forget the token kept of ${id}`, (t) => t.forget(id));
      const seen = await this.get(id);
      if (!seen) throw this.notFound(id);
      throw new AcctError('access_removed', `${label(seen)} in team ${this.name} is not shared with you (or no longer)`, {
        hint: `ask its owner to share it with you: acct share ${this.name}:${seen.app}/${seen.nickname} --with <your member name>`,
      });
    }
    const items = ids.map((id): TeamItem => {
      const r = byId.get(id)!;
      this.checkKeyVersion(id, r.key_version);
      return {
        wrapped: r.wrapped,
        wrapInfo: wrapInfo(this.teamId, id, member.id, r.key_version),
        sealed: r.sealed,
        aad: sealedFieldsAad(this.teamId, id, accountBinding({ app: r.app, settings: r.settings ?? undefined })),
      };
    });
    // Where the agent runs, it opens them: it has node:crypto loaded (a tenth of a Node start to load here).
    const opened = (await this.deps.agent?.openTeamItems(keys, items)) ?? openItems(items, keys);
    const out = new Map<string, Fields>();
    ids.forEach((id, i) => {
      const o = opened[i]!;
      if ('failed' in o && o.failed === 'key') throw this.keyFailure(id);
      try {
        if ('failed' in o) throw new Error('does not open');
        out.set(id, fieldsOf(o.plain));
      } catch (err) {
        throw this.secretFailure(id, err);
      }
      // Recorded once it opened: the version is bound into the key's wrap, so a wrap of another version was not relabelled.
      // (Wraps are not signed: a writer who makes a new wrap at a version of its choosing is not caught here; README, Key versions.)
      this.acceptVersion('keys', id, byId.get(id)!.key_version);
    });
    return out;
  }

  /** An account's secrets, opened: they fail when they, or the settings they are bound to, were altered. */
  open(key: Buffer, sealed: unknown, id: string, binding: string): Fields {
    try {
      if (!isSealed(sealed)) throw new Error('malformed');
      return openFields(key, sealed, this.teamId, id, binding);
    } catch (err) {
      throw this.secretFailure(id, err);
    }
  }

  private secretFailure(id: string, cause: unknown): AcctError {
    return new AcctError('store_unavailable', `the secrets of ${id} in team ${this.name} fail authentication: they, or the account's app or settings, were altered in the database`, {
      hint: 'restore the database from a backup, or reconnect the account; acct sends its credentials nowhere until then',
      cause,
    });
  }

  private keyFailure(item: string, cause?: unknown): AcctError {
    return new AcctError('store_unavailable', `the key of ${item} in team ${this.name} does not open with this member's key (altered in the database, or wrapped for another member)`, {
      hint: 'ask its owner to share it with you again',
      cause,
    });
  }

  /** Set by warm() while its connection is being made; warmFailure, when it could not be. */
  private warming?: Promise<void>;
  private warmFailure?: unknown;

  warm(): void {
    // A head start only (the driver loaded, a connection made and logged in): the first real use reports any failure.
    // Measured: acct token opened two connections (two backends, two logins) when its lookup came before this one was made.
    this.warming ??= alive(async () => {
      await (await this.openSession()).pool.warm();
    }).catch((err: unknown) => {
      this.warmFailure = err;
    });
  }

  // Refresh and bookkeeping.

  refreshLock(id: string): RefreshLock {
    return new TeamRefreshLock(this, id, this.deps.env);
  }

  async recordUse(id: string, use: UseRecord): Promise<void> {
    const { member } = await this.connect();
    const machine = this.deps.machine?.() ?? process.getBuiltinModule('node:os').hostname();
    await this.query('INSERT INTO acct.uses (team_id, account_id, member_id, machine, command, at) VALUES ($1, $2, $3, $4, $5, $6)', [
      this.teamId,
      id,
      member.id,
      machine.slice(0, 200),
      use.command.slice(0, 100),
      use.at,
    ]);
  }

  async lastUsed(): Promise<Map<string, string>> {
    const rows = await this.query<{ account_id: string; at: Date }>('SELECT account_id, max(at) AS at FROM acct.uses WHERE team_id = $1 GROUP BY account_id', [this.teamId]);
    return new Map(rows.map((r) => [r.account_id, r.at.toISOString()]));
  }

  async uses(id: string, limit: number): Promise<RecordedUse[]> {
    const rows = await this.query<{ at: Date; command: string; member: string; machine: string }>(
      `SELECT u.at, u.command, m.name AS member, u.machine FROM acct.uses u JOIN acct.members m ON m.team_id = u.team_id AND m.id = u.member_id
        WHERE u.team_id = $1 AND u.account_id = $2 ORDER BY u.at DESC LIMIT $3`,
      [this.teamId, id, limit],
    );
    return rows.map((r) => shown({ at: r.at.toISOString(), command: r.command, member: r.member, machine: r.machine }));
  }

  readonly clients: ClientStore = {
    peek: async (slug) => {
      const rows = await this.query<{ client_id: string; has_secret: boolean }>('SELECT client_id, sealed IS NOT NULL AS has_secret FROM acct.clients WHERE team_id = $1 AND app = $2', [this.teamId, slug]);
      return rows[0] && { clientId: rows[0].client_id, hasSecret: rows[0].has_secret };
    },
    get: async (slug) => {
      const { member } = await this.connect();
      const rows = await this.query<{ client_id: string; sealed: Sealed | null; wrapped: Wrapped | null }>(
        `SELECT c.client_id, c.sealed, x.wrapped FROM acct.clients c LEFT JOIN acct.client_access x ON x.team_id = c.team_id AND x.app = c.app AND x.member_id = $3
          WHERE c.team_id = $1 AND c.app = $2`,
        [this.teamId, slug, member.id],
      );
      const r = rows[0];
      if (!r) return undefined;
      if (!r.sealed) return { clientId: r.client_id };
      if (!r.wrapped)
        throw new AcctError('access_denied', `the ${slug} OAuth client secret of team ${this.name} was set before you joined`, {
          hint: `a member who has it can set it again for everyone: acct client set ${slug} --team ${this.name} …`,
        });
      const item = `client:${slug}`;
      const key = this.unwrap(r.wrapped, await this.keys(), item, member.id);
      return { clientId: r.client_id, clientSecret: openFields(key, r.sealed, this.teamId, item).secret };
    },
    set: async (slug, client: StoredClient) => {
      await this.tx(async (q) => {
        const item = `client:${slug}`;
        const key = newItemKey();
        const sealed = client.clientSecret === undefined ? null : sealFields(key, { secret: client.clientSecret }, this.teamId, item);
        await q(
          'INSERT INTO acct.clients (team_id, app, client_id, sealed) VALUES ($1, $2, $3, $4) ON CONFLICT (team_id, app) DO UPDATE SET client_id = EXCLUDED.client_id, sealed = EXCLUDED.sealed',
          [this.teamId, slug, client.clientId, sealed],
        );
        await q('DELETE FROM acct.client_access WHERE team_id = $1 AND app = $2', [this.teamId, slug]);
        if (!sealed) return;
        // Every member refreshes team accounts, so every member the signed roster lists gets the client's (the others when an admin confirms them: syncShares).
        const to = await recipients(this, q);
        const left: string[] = [];
        for (const m of await activeMembers(q, this.teamId)) {
          const pub = to.key(m.id);
          if (!pub) {
            left.push(m.name);
            continue;
          }
          await q('INSERT INTO acct.client_access (team_id, app, member_id, wrapped) VALUES ($1, $2, $3, $4)', [this.teamId, slug, m.id, wrapKey(key, pub, wrapInfo(this.teamId, item, m.id))]);
        }
        if (left.length)
          this.warn(
            `the ${slug} client secret is not wrapped for ${shown(left).join(', ')}: ${to.roster ? 'not confirmed by an admin yet' : `team ${this.name} has no signed roster yet`}; a member who has it wraps it for them once they are (acct team members ${this.name})`,
          );
      });
    },
    // In a transaction: whether it removed anything must be this statement's answer (a statement outside one may run twice, see pg.ts).
    remove: async (slug) => this.tx(async (q) => (await q('DELETE FROM acct.clients WHERE team_id = $1 AND app = $2 RETURNING app', [this.teamId, slug])).length > 0),
  };

  async close(): Promise<void> {
    const s = this.session;
    this.session = undefined;
    if (!s) return;
    let pool: Database;
    try {
      pool = (await s).pool;
    } catch {
      return; // it never connected: nothing to release (the failure was reported to whoever used it)
    }
    await pool.end();
  }

  /** A dedicated session (the refresh lock lives on one). */
  async dedicated(): Promise<PoolClient> {
    const { pool } = await this.connect();
    try {
      return await pool.connect();
    } catch (err) {
      throw teamError(err, this.team.url, this.name);
    }
  }

  get url(): string {
    return this.team.url;
  }

  warn(message: string): void {
    this.deps.warn(message);
  }

  /** A roster version verified (team/roster.ts): later ones must chain from it. Only ever moves forward. */
  acceptRoster(pin: RosterPin): void {
    if (this.team.roster && this.team.roster.version >= pin.version) return;
    this.team.roster = { ...pin };
    this.deps.acceptRoster?.(pin);
  }

  /**
   * Refuses an account key older than the newest this machine has seen of
   * it (seal.ts, wrapInfo): a database that serves an earlier key, one a
   * member it was unshared from still holds, would have this machine read
   * with it and seal new secrets (a refreshed token) for that member.
   */
  checkKeyVersion(accountId: string, version: number): void {
    const seen = this.versionSeen('keys', accountId);
    if (version >= seen) return;
    throw new AcctError('key_rolled_back', `the database of team ${this.name} holds an older key of account ${accountId} (version ${version}) than this machine has seen (version ${seen})`, {
      hint: `someone who can change its rows put back an earlier key, which a member the account was unshared from (or a removed member) may still hold; nothing was read or stored with it. Ask the database's administrator to restore the account's current rows from a backup`,
    });
  }

  /** The highest version this machine has seen of an account's key or grant (0: none). */
  versionSeen(kind: Versioned, accountId: string): number {
    return versionSeen(this.team, kind, accountId);
  }

  /** A key version that opened, or a grant version that verified: the highest is kept (teams.json; in CI, for the run). Only ever moves forward. */
  acceptVersion(kind: Versioned, accountId: string, version: number): void {
    if (version <= this.versionSeen(kind, accountId)) return;
    this.team[kind] = { ...this.team[kind], [accountId]: version };
    this.deps.acceptVersion?.(kind, accountId, version);
  }

  get canSaveCredentials(): boolean {
    return this.deps.saveCredentials !== undefined;
  }

  async saveCredentials(creds: MemberCredentials): Promise<void> {
    await this.deps.saveCredentials?.(creds);
  }
}

/** How long an update keeps trying while the database is unreachable. */
const WRITE_RETRY_MS = 30_000;

export type TxQuery = <R extends object>(sql: string, params?: unknown[]) => Promise<R[]>;

/** The members who joined, as the database lists them: no key here; a wrap takes its key from the signed roster (team/roster.ts, recipients). */
export async function activeMembers(q: TxQuery, teamId: string): Promise<{ id: string; name: string; is_admin: boolean; is_ci: boolean }[]> {
  return q('SELECT id, name, is_admin, is_ci FROM acct.members WHERE team_id = $1 AND removed_at IS NULL AND public_key IS NOT NULL ORDER BY name', [teamId]);
}

/** The mark a refresh lock holder leaves while it runs (TeamRefreshLock.waitForLostHolder). */
const IN_FLIGHT = 'a refresh is under way';
/**
 * How often a holder renews its mark, and when a mark no longer renewed is
 * stale (its holder died). Generous on purpose: a holder that is only slow
 * (a loaded CI machine: once, 5 s without a renewal, and the waiter that took
 * it for dead presented a rotated refresh token, which revokes the grant for
 * everyone) costs far more than a dead one, whose waiters wait this long
 * before they refresh, within their deadline.
 */
const HEARTBEAT_MS = 500;
const MARK_STALE_S = 15;

/** How long a waiter sleeps between tries of a held refresh lock. */
const POLL_MS = 100;

/**
 * One account's refresh lock across every machine: a session-level advisory
 * lock, held on a dedicated connection for as long as the refresh runs. The
 * holder's writes (new secrets, expiresAt) go through the pool and are
 * committed before it unlocks; a holder that dies closes its session, and
 * PostgreSQL releases the lock with it. Waiters poll pg_try_advisory_lock,
 * asking `meanwhile` between polls (the holder may have stored new tokens).
 */
class TeamRefreshLock implements RefreshLock {
  constructor(
    private readonly store: TeamStore,
    private readonly id: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /**
   * A holder whose session ended (a killed backend, a restart) lost the lock
   * with it while its token request may still be in flight: refreshing again
   * with the same refresh token would present it twice, and a provider that
   * detects reuse (oidc-provider, Okta, Auth0) then revokes the whole grant.
   * So a holder keeps a mark fresh while it runs (a non-final row in
   * refresh_outcomes, its time the database's, renewed every HEARTBEAT_MS),
   * and whoever takes the lock while the mark is fresh waits for that
   * holder's answer (`meanwhile`). A holder that died stops renewing it: its
   * mark goes stale within MARK_STALE_S and the next holder refreshes.
   */
  private async waitForLostHolder<T>(opts: { waitMs: number; meanwhile?: () => Promise<T | undefined> }, started: number): Promise<T | undefined> {
    for (let said = false; ; ) {
      const [mark] = await this.store.query<{ fresh: boolean }>(
        'SELECT at > now() - make_interval(secs => $4) AS fresh FROM acct.refresh_outcomes WHERE team_id = $1 AND account_id = $2 AND problem = $3 AND NOT final',
        [this.store.teamId, this.id, IN_FLIGHT, MARK_STALE_S],
      );
      if (!mark?.fresh) return undefined;
      if (!said) this.store.warn(`the refresh of ${this.id} in team ${this.store.name} under way lost its lock; waiting for its answer rather than refreshing again`);
      said = true;
      const meanwhile = await opts.meanwhile?.();
      if (meanwhile !== undefined) return meanwhile;
      if (Date.now() - started >= opts.waitMs) throw new TeamLockBusyError(this.store.name, this.id);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  /** Runs fn with the mark of a refresh under way kept fresh, and removed after. */
  private async marked<T>(fn: () => Promise<T>): Promise<T> {
    const args = [this.store.teamId, this.id, IN_FLIGHT];
    let pending: Promise<unknown> = Promise.resolve();
    // Failing to mark is no reason not to refresh: the mark is a courtesy to the next holder.
    await this.store
      .query(
        'INSERT INTO acct.refresh_outcomes (team_id, account_id, at, problem, final) VALUES ($1, $2, now(), $3, false) ON CONFLICT (team_id, account_id) DO UPDATE SET at = EXCLUDED.at, problem = EXCLUDED.problem, final = false',
        args,
      )
      .catch(() => undefined);
    // Renewed only while it is still the mark (a failure fn records replaces it).
    const beat = () => (pending = this.store.query('UPDATE acct.refresh_outcomes SET at = now() WHERE team_id = $1 AND account_id = $2 AND problem = $3', args).catch(() => undefined));
    const timer = setInterval(beat, HEARTBEAT_MS);
    timer.unref();
    try {
      return await fn();
    } finally {
      clearInterval(timer);
      await pending;
      // A failure fn recorded stays for the waiters.
      await this.store.query('DELETE FROM acct.refresh_outcomes WHERE team_id = $1 AND account_id = $2 AND problem = $3', args).catch(() => undefined);
    }
  }

  private get keyArgs(): [string, string] {
    return [`acct-refresh:${this.store.teamId}`, this.id];
  }

  hold<T>(fn: () => Promise<T>, opts: { waitMs: number; meanwhile?: () => Promise<T | undefined> }): Promise<T> {
    return alive(() => this.holdAlive(fn, opts));
  }

  /** While `fn` runs: the held session ended (RefreshLock.lost). */
  private heldSessionLost?: () => boolean;
  lost(): boolean {
    return this.heldSessionLost?.() ?? false;
  }

  private async holdAlive<T>(fn: () => Promise<T>, opts: { waitMs: number; meanwhile?: () => Promise<T | undefined> }): Promise<T> {
    const started = Date.now();
    const left = () => opts.waitMs - (Date.now() - started);
    const pause = () => new Promise((r) => setTimeout(r, Math.max(0, Math.min(POLL_MS, left()))));
    let client: PoolClient | undefined;
    let broken: Error | undefined;
    // The session can end while we hold the lock (a restart, a killed
    // backend): the lock went with it, and another machine may take it
    // while `fn` still runs. What `fn` writes still goes through (a rotated
    // refresh token must not be lost); the rare double refresh is said.
    const onError = (err: Error) => void (broken ??= err);
    const drop = () => {
      client?.off('error', onError);
      client?.release(broken ?? true);
      client = undefined;
      broken = undefined;
    };
    try {
      for (;;) {
        let got: boolean;
        try {
          if (!client) {
            client = await this.store.dedicated();
            client.on('error', onError);
          }
          got = (await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS got', this.keyArgs)).rows[0]!.got;
        } catch (err) {
          // A waiter holds nothing yet: a session lost while waiting (a restart) is made again, within the wait.
          const e = teamError(err, this.store.url, this.store.name);
          if (!(e instanceof AcctError) || e.code !== 'team_unreachable' || left() <= 0) throw e;
          broken ??= err as Error;
          drop();
          await pause();
          continue;
        }
        if (got) break;
        let meanwhile: T | undefined;
        try {
          meanwhile = await opts.meanwhile?.();
        } catch (err) {
          // The database gone for a moment (a restart) is no answer: the wait goes on, within its deadline.
          if (!(err instanceof AcctError) || err.code !== 'team_unreachable' || left() <= 0) throw err;
        }
        if (meanwhile !== undefined) return meanwhile;
        if (left() <= 0) throw new TeamLockBusyError(this.store.name, this.id);
        await pause();
      }
      const held = client!;
      this.heldSessionLost = () => broken !== undefined;
      try {
        const answered = await this.waitForLostHolder(opts, started);
        if (answered !== undefined) return answered;
        return await this.marked(fn);
      } finally {
        this.heldSessionLost = undefined;
        await held.query('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', this.keyArgs).catch((err: Error) => {
          broken ??= err; // the session is gone, and the lock with it
        });
        if (broken) this.store.warn(`the refresh lock of ${this.id} in team ${this.store.name} was lost while it was held (${broken.message}): another machine may have refreshed it at the same time`);
      }
    } catch (err) {
      if (!(err instanceof AcctError)) broken ??= err as Error;
      throw teamError(err, this.store.url, this.store.name);
    } finally {
      if (client) {
        client.off('error', onError);
        client.release(broken);
      }
    }
  }

  async readOutcome(): Promise<RefreshOutcome | undefined> {
    try {
      const rows = await this.store.query<{ at: Date; problem: string; final: boolean }>('SELECT at, problem, final FROM acct.refresh_outcomes WHERE team_id = $1 AND account_id = $2', [this.store.teamId, this.id]);
      // The mark of a refresh under way is no outcome.
      return rows[0] && rows[0].problem !== IN_FLIGHT ? { at: rows[0].at.toISOString(), problem: rows[0].problem, final: rows[0].final } : undefined;
    } catch {
      return undefined; // a note for waiters, never a failure (RefreshLock.readOutcome): a waiter without it tries itself
    }
  }

  async recordOutcome(outcome: RefreshOutcome): Promise<void> {
    await this.store.query(
      'INSERT INTO acct.refresh_outcomes (team_id, account_id, at, problem, final) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (team_id, account_id) DO UPDATE SET at = EXCLUDED.at, problem = EXCLUDED.problem, final = EXCLUDED.final',
      [this.store.teamId, this.id, outcome.at, outcome.problem.slice(0, 500), outcome.final],
    );
  }

  /**
   * Clears a failure recorded earlier, never the mark of the refresh under
   * way: a holder clears outcomes after its token answer and before it
   * stores the tokens, and a waiter that found the mark gone in between
   * refreshed with the refresh token just rotated away (invalid_grant, which
   * revokes the grant; seen in CI). The mark goes when the holder is done
   * (marked).
   */
  async clearOutcome(): Promise<void> {
    await this.store.query('DELETE FROM acct.refresh_outcomes WHERE team_id = $1 AND account_id = $2 AND problem <> $3', [this.store.teamId, this.id, IN_FLIGHT]);
  }
}

/** The deadline came while another machine held the refresh lock. */
export class TeamLockBusyError extends LockBusyError {
  constructor(team: string, id: string) {
    super(`team ${team} account ${id}`);
    this.message = `timed out waiting for the refresh lock of ${id} in team ${team}`;
    Object.defineProperty(this, 'hint', { value: 'another acct process (on any member machine) is refreshing it; retry when it is done' });
  }
}
