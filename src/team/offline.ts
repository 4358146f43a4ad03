// Access tokens of team accounts kept on this machine for while the team's
// database is unreachable (issue 13, part 6), when the team allows it (a
// setting only an admin changes, acct.teams.offline_tokens).
//
// What is kept: an OAuth access token that expires, never an API key, a
// refresh token or a client secret (a key that never expires would outlive
// a removal from the team). Where: sealed in this machine's own secret store,
// the one that holds the member's credentials (entry
// `team-token.<team>.<account id>`, beside `team.<team>`), with its expiry
// and the setting as it was when it was written. A list of what is kept
// (team-tokens.json in the data folder: team, account, app, nickname, expiry;
// metadata only) says whether a copy changed without opening the store, so
// a read writes only when the token is new, and finds the copy of a
// reference while the database cannot resolve it.
//
// A copy is forgotten (its entry removed) when the database is seen to no
// longer allow it: the setting off, the account gone or no longer visible to
// the member, the member removed. A machine that never reaches the database
// again keeps its copy until the token expires: the trade the setting makes.
import { join } from 'node:path';
import type { Paths } from '../paths.js';
import { ACCOUNT_ID_RE, type Account } from '../accounts/model.js';
import type { Fields } from '../store/store.js';
import type { OfflineCopy } from '../store/account-store.js';
import { isObject, readJsonIfExists, removeIfExists, writeJsonAtomic } from '../store/files.js';
import { withLock } from '../store/lock.js';
import { AcctError } from '../errors.js';
import type { TeamConfig } from './config.js';

/** What of the machine's secret store the copies need. */
export interface TokenSecrets {
  read(id: string): Promise<Fields>;
  write(id: string, fields: Fields): Promise<void>;
  remove(id: string): void;
}

/** One kept copy, as the list says it: no secret. */
interface Listed {
  team: string;
  teamId: string;
  memberId: string;
  account: string;
  app: string;
  nickname: string;
  expiresAt: string;
}

interface ListFile {
  version: 1;
  tokens: Listed[];
}

const isListFile = (v: unknown): v is ListFile =>
  isObject(v) &&
  v.version === 1 &&
  Array.isArray(v.tokens) &&
  v.tokens.every((t) => isObject(t) && ['team', 'teamId', 'memberId', 'account', 'app', 'nickname', 'expiresAt'].every((k) => typeof t[k] === 'string'));

export const tokensFile = (paths: Paths) => join(paths.data, 'team-tokens.json');
/** The secret store entry of a kept copy (the account id is checked first: it comes from the database, and names a file). */
export const tokenEntry = (team: string, accountId: string) => `team-token.${team}.${accountId}`;

/** The setting's value in the sealed entry: written only while the team allowed it. */
const ALLOWED = 'on';

export class OfflineTokens {
  /** This process's read of the list (every team's). */
  private list?: Listed[];

  constructor(
    private readonly paths: Paths,
    private readonly secrets: TokenSecrets,
    private readonly team: TeamConfig,
  ) {}

  private all(): Listed[] {
    return (this.list ??= readJsonIfExists(tokensFile(this.paths), isListFile)?.tokens ?? []);
  }

  private mine(): Listed[] {
    return this.all().filter((l) => l.team === this.team.name);
  }

  /** Of this team as this machine is a member of it now (not a team of the same name joined before). */
  private current(l: Listed): boolean {
    return l.teamId === this.team.teamId && l.memberId === this.team.memberId;
  }

  /**
   * After the database answered a view: the copies it no longer allows are
   * forgotten (the setting off, an account deleted, unshared or no longer
   * visible to the member). Without copies of this team: nothing to do, no
   * store opened.
   */
  async sync(allowed: boolean, visible: ReadonlySet<string>): Promise<void> {
    const stale = this.mine().filter((l) => !allowed || !visible.has(l.account) || !this.current(l));
    if (stale.length) await this.drop(stale.map((l) => l.account));
  }

  /** Every copy of this team (the member was removed from it). */
  async forgetAll(): Promise<void> {
    const ids = this.mine().map((l) => l.account);
    if (ids.length) await this.drop(ids);
  }

  /** One account's copy (it is gone, or no longer shared with the member). */
  async forget(id: string): Promise<void> {
    if (this.mine().some((l) => l.account === id)) await this.drop([id]);
  }

  /**
   * Keeps a copy of an access token a read just got, while the team allows
   * it: written only when it is new (its expiry differs from the kept one's),
   * so a read of a token that did not change opens nothing and writes nothing.
   */
  async keep(account: Account, token: string, expiresAt: string): Promise<void> {
    if (!ACCOUNT_ID_RE.test(account.id) || Number.isNaN(Date.parse(expiresAt))) return;
    const same = (list: Listed[]) =>
      list.some((l) => l.team === this.team.name && l.account === account.id && this.current(l) && l.expiresAt === expiresAt && l.app === account.app && l.nickname === account.nickname);
    if (same(this.all())) return;
    const listed: Listed = { team: this.team.name, teamId: this.team.teamId, memberId: this.team.memberId, account: account.id, app: account.app, nickname: account.nickname, expiresAt };
    const sealed: Fields = {
      team_id: this.team.teamId,
      member_id: this.team.memberId,
      account_id: account.id,
      app: account.app,
      nickname: account.nickname,
      scopes: JSON.stringify(account.scopes ?? []),
      settings: JSON.stringify(account.settings ?? {}),
      expires_at: expiresAt,
      offline_tokens: ALLOWED,
      kept_at: new Date().toISOString(),
      oauth_access_token: token,
    };
    await this.update(async (list) => {
      // Processes that read the same new token at once take turns here: the first writes it, the others find it written.
      if (same(list)) return list;
      await this.secrets.write(tokenEntry(this.team.name, account.id), sealed);
      return [...list.filter((l) => !(l.team === this.team.name && l.account === account.id)), listed];
    });
  }

  /**
   * The copy a reference names (the account's id, or app/nickname: what
   * names one account without the database's list), if the team allowed it
   * when it was written and it is valid for `minTtlSeconds` more; otherwise
   * why not, for the error's hint.
   */
  async find(ref: string, minTtlSeconds: number, now: Date, host: string): Promise<OfflineCopy | { problem: string }> {
    const none = {
      problem: `no copy of its access token is kept on this machine (kept only when the team allows it: acct team set ${this.team.name} --offline-tokens on, by an admin; and only OAuth access tokens that expire)`,
    };
    const l = this.mine().find((x) => this.current(x) && (x.account === ref || `${x.app}/${x.nickname}` === ref));
    if (!l || !ACCOUNT_ID_RE.test(l.account)) return none;
    let f: Fields;
    try {
      f = await this.secrets.read(tokenEntry(this.team.name, l.account));
    } catch (err) {
      if (err instanceof AcctError && err.exitCode === 6) return { problem: `the copy of its access token kept on this machine cannot be read (${err.message})` };
      throw err;
    }
    // The sealed entry decides, not the list beside it (which anyone who may write this folder could edit).
    const valid =
      f.team_id === this.team.teamId && f.member_id === this.team.memberId && f.account_id === l.account && f.app === l.app && f.nickname === l.nickname && f.offline_tokens === ALLOWED;
    if (!valid || !f.oauth_access_token || !f.expires_at) return none;
    if (!(Date.parse(f.expires_at) - now.getTime() > minTtlSeconds * 1000))
      return { problem: `the copy of its access token kept on this machine ${Date.parse(f.expires_at) > now.getTime() ? 'expires' : 'expired'} at ${f.expires_at}${minTtlSeconds ? `, within ${minTtlSeconds}s (--min-ttl)` : ''}` };
    const settings = parseObject(f.settings);
    const account: Account = {
      id: l.account,
      app: l.app,
      nickname: l.nickname,
      auth: 'oauth2',
      status: 'ok',
      scopes: parseScopes(f.scopes),
      fields: ['oauth_access_token'],
      identity: null,
      expiresAt: f.expires_at,
      ...(Object.keys(settings).length ? { settings } : {}),
      createdAt: f.kept_at ?? f.expires_at,
      updatedAt: f.kept_at ?? f.expires_at,
      team: this.team.name,
    };
    return { account, token: f.oauth_access_token, expiresAt: f.expires_at, host };
  }

  private async drop(ids: string[]): Promise<void> {
    const gone = new Set(ids);
    await this.update(async (list) => {
      // The entries first: a list that still names one that is gone reads as no copy.
      for (const id of gone) if (ACCOUNT_ID_RE.test(id)) this.secrets.remove(tokenEntry(this.team.name, id));
      return list.filter((l) => !(l.team === this.team.name && gone.has(l.account)));
    });
  }

  /** A change of the list (and of the entries it names), under its lock, on a fresh read. */
  private async update(change: (list: Listed[]) => Promise<Listed[]>): Promise<void> {
    const file = tokensFile(this.paths);
    await withLock(
      join(this.paths.data, 'locks', 'team-tokens'),
      async () => {
        const list = readJsonIfExists(file, isListFile)?.tokens ?? [];
        const next = await change(list);
        if (next !== list) {
          if (next.length) writeJsonAtomic(file, { version: 1, tokens: next } satisfies ListFile);
          else removeIfExists(file);
        }
        this.list = next;
      },
      { waitMs: 10_000 },
    );
  }
}

function parseObject(raw: string | undefined): Record<string, string> {
  try {
    const v = JSON.parse(raw ?? '{}') as unknown;
    return isObject(v) && Object.values(v).every((x) => typeof x === 'string') ? (v as Record<string, string>) : {};
  } catch {
    return {}; // sealed by this machine: a malformed value is none
  }
}

function parseScopes(raw: string | undefined): string[] {
  try {
    const v = JSON.parse(raw ?? '[]') as unknown;
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}
