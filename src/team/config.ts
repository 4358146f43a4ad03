// Which teams this machine belongs to, and with which member credentials.
//
// Joined teams are remembered in teams.json in the config folder (name,
// database URL without any password, team and member id); the member's
// credentials (its X25519 private key and its database role's password) live
// in the local secret store under `team.<name>`. In CI, ACCT_TEAM (the URL)
// and ACCT_TEAM_KEY (what `acct team add-ci` printed) stand in for both.
import { join } from 'node:path';
import { isObject, readJsonIfExists, writeJsonAtomic } from '../store/files.js';
import { AcctError, usageError } from '../errors.js';
import { closest, didYouMean } from '../suggest.js';
import type { Paths } from '../paths.js';
import type { Fields } from '../store/store.js';

export interface TeamConfig {
  name: string;
  /** postgres:// URL, never with a password in it. */
  url: string;
  teamId: string;
  memberId: string;
  /** Where it was configured: teams.json, or ACCT_TEAM/ACCT_TEAM_KEY. */
  source: 'file' | 'env';
  /**
   * The newest version of the team's signed roster this machine accepted
   * (team/roster.ts): a later one must chain from it. Kept in teams.json; in
   * CI, ACCT_TEAM_KEY's pin, advanced in memory. None: an old team, or a
   * machine that joined before rosters.
   */
  roster?: RosterPin;
  /**
   * The highest key version seen of each account that has been re-keyed
   * (account id → version; team/seal.ts, wrapInfo): an older one is a
   * database serving a key a former reader still holds. Kept in teams.json;
   * in CI, in memory for the run.
   */
  keys?: Record<string, number>;
  /** The same for accounts' signed grants (team/grants.ts): an older one is a database serving who read an account before its owner changed it. */
  grants?: Record<string, number>;
}

/** What a machine keeps the highest version it has seen of, for each account: its key, its owner's signed grant. */
export type Versioned = 'keys' | 'grants';

/** The highest version recorded of an account's key or grant: 0 when none (an own property only: ids come from the database). */
export function versionSeen(team: Pick<TeamConfig, Versioned>, kind: Versioned, accountId: string): number {
  const seen = team[kind];
  return seen && Object.hasOwn(seen, accountId) ? seen[accountId]! : 0;
}

const isVersions = (v: unknown): v is Record<string, number> => isObject(v) && Object.values(v).every((n) => Number.isSafeInteger(n) && (n as number) >= 1);

/** A roster version and the hash of its body. */
export interface RosterPin {
  version: number;
  hash: string;
}

const isPin = (v: unknown): v is RosterPin => isObject(v) && Number.isSafeInteger(v.version) && (v.version as number) >= 1 && typeof v.hash === 'string';

/** What a member needs to reach the team: its database role and password, its key pair. */
export interface MemberCredentials {
  team: string;
  teamId: string;
  memberId: string;
  role: string;
  password: string;
  privateKey: string;
  publicKey: string;
  /** The member's Ed25519 key pair (team/roster.ts); none in credentials made before signed rosters, until the member's next roster command makes one. */
  signingKey?: string;
  signingPublicKey?: string;
}

export const TEAM_NAME_RE = /^[a-z][a-z0-9-]{0,31}$/;
export const MEMBER_NAME_RE = /^[a-z][a-z0-9._-]{0,31}$/;

export const teamsFile = (paths: Paths) => join(paths.config, 'teams.json');
/** The local secret store entry holding a team's member credentials. */
export const credentialsEntry = (team: string) => `team.${team}`;

interface TeamsFile {
  version: 1;
  teams: Omit<TeamConfig, 'source'>[];
}

function isTeamsFile(v: unknown): v is TeamsFile {
  return (
    isObject(v) &&
    v.version === 1 &&
    Array.isArray(v.teams) &&
    v.teams.every(
      (t) =>
        isObject(t) &&
        typeof t.name === 'string' &&
        TEAM_NAME_RE.test(t.name) &&
        typeof t.url === 'string' &&
        typeof t.teamId === 'string' &&
        typeof t.memberId === 'string' &&
        (t.roster === undefined || isPin(t.roster)) &&
        (t.keys === undefined || isVersions(t.keys)) &&
        (t.grants === undefined || isVersions(t.grants)),
    )
  );
}

/** Teams this machine is a member of: ACCT_TEAM/ACCT_TEAM_KEY first (CI), then teams.json. */
export function configuredTeams(paths: Paths, env: NodeJS.ProcessEnv): TeamConfig[] {
  const out: TeamConfig[] = [];
  const fromEnv = envCredentials(env);
  if (fromEnv)
    out.push({
      name: fromEnv.team,
      url: checkUrl(env.ACCT_TEAM!, 'ACCT_TEAM').url,
      teamId: fromEnv.teamId,
      memberId: fromEnv.memberId,
      source: 'env',
      ...(fromEnv.roster ? { roster: fromEnv.roster } : {}),
    });
  for (const t of readTeamsFile(paths)?.teams ?? []) if (!out.some((o) => o.name === t.name)) out.push({ ...t, source: 'file' });
  return out;
}

function readTeamsFile(paths: Paths): TeamsFile | undefined {
  return readJsonIfExists(teamsFile(paths), isTeamsFile);
}

export function rememberTeam(paths: Paths, team: Omit<TeamConfig, 'source'>): void {
  const file = readTeamsFile(paths) ?? { version: 1, teams: [] };
  const entry = { name: team.name, url: team.url, teamId: team.teamId, memberId: team.memberId, ...(team.roster ? { roster: team.roster } : {}), ...(team.keys ? { keys: team.keys } : {}), ...(team.grants ? { grants: team.grants } : {}) };
  file.teams = [...file.teams.filter((t) => t.name !== team.name), entry];
  writeJsonAtomic(teamsFile(paths), file);
}

/** Records a newer roster version accepted for a team in teams.json (never an older one: the high-water mark only rises). */
export function acceptRoster(paths: Paths, name: string, teamId: string, pin: RosterPin): void {
  const file = readTeamsFile(paths);
  const t = file?.teams.find((x) => x.name === name && x.teamId === teamId);
  if (!file || !t || (t.roster && t.roster.version >= pin.version)) return;
  t.roster = { version: pin.version, hash: pin.hash };
  writeJsonAtomic(teamsFile(paths), file);
}

/**
 * Records a higher version seen of an account's key or grant in teams.json
 * (never a lower one). Written only when a version rises, at the first use
 * after a change: two processes doing it at once can lose one's entry (the
 * file is replaced whole), which weakens that account's check until the next
 * use records it again; it never lowers one.
 */
export function acceptVersion(paths: Paths, name: string, teamId: string, kind: Versioned, accountId: string, version: number): void {
  const file = readTeamsFile(paths);
  const t = file?.teams.find((x) => x.name === name && x.teamId === teamId);
  if (!file || !t || versionSeen(t, kind, accountId) >= version) return;
  t[kind] = { ...t[kind], [accountId]: version };
  writeJsonAtomic(teamsFile(paths), file);
}

/** Undoes rememberTeam of a team whose membership did not commit. */
export function forgetTeam(paths: Paths, name: string): void {
  const file = readTeamsFile(paths);
  if (!file?.teams.some((t) => t.name === name)) return;
  writeJsonAtomic(teamsFile(paths), { ...file, teams: file.teams.filter((t) => t.name !== name) });
}

export function findTeam(paths: Paths, env: NodeJS.ProcessEnv, name: string): TeamConfig {
  const teams = configuredTeams(paths, env);
  const team = teams.find((t) => t.name === name);
  if (!team) throw notAMember(name, teams.map((t) => t.name));
  return team;
}

/** A team name this machine has not joined: the one error for it, with the nearest name it has joined. */
export function notAMember(name: string, known: string[]): AcctError {
  const near = closest(name, known);
  return new AcctError('not_found', `this machine is not a member of a team called "${name}"`, {
    hint: near.length
      ? didYouMean(near)!
      : known.length
        ? `its teams: ${known.join(', ')}`
        : 'join one: acct team join <url> --code-stdin (or set ACCT_TEAM and ACCT_TEAM_KEY in CI)',
  });
}

/** URL parameters that carry a secret: the role's password, the password of a TLS client key. */
const SECRET_PARAMS = new Set(['password', 'sslpassword']);
/** The sslmode values the driver (pg-connection-string) knows; anything else it would take as no TLS setting at all. */
const SSL_MODES = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full', 'no-verify'];

/**
 * A PostgreSQL connection URL as acct accepts it: postgres:// or
 * postgresql://, a host, and no password. A password in a URL given on the
 * command line would be visible to every process on the machine (argv), so it
 * is refused; the driver reads PGPASSWORD and ~/.pgpass instead.
 */
export function checkUrl(raw: string, where = 'the URL'): { url: string; host: string; user: string } {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw usageError(`${where} is not a PostgreSQL URL`, 'write it as postgres://user@host:5432/database (add ?sslmode=verify-full for TLS)', 'bad_input');
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:')
    throw usageError(`${where} must start with postgres:// or postgresql://`, 'write it as postgres://user@host:5432/database', 'bad_input');
  // The parameters as the driver reads them: decoded (?pass%77ord= is password), any case.
  const params = [...u.searchParams.keys()].map((k) => k.toLowerCase());
  if (u.password || params.some((k) => SECRET_PARAMS.has(k)))
    throw usageError(
      `${where} holds a password, which would be visible to every process on this machine`,
      'give the database password in PGPASSWORD or ~/.pgpass instead, and the URL without it',
      'bad_input',
    );
  if (!u.hostname && !/[?&]host=/.test(u.search)) throw usageError(`${where} names no host`, 'write it as postgres://user@host:5432/database', 'bad_input');
  const sslmode = u.searchParams.get('sslmode');
  if (sslmode !== null && !SSL_MODES.includes(sslmode))
    throw usageError(`${where} has sslmode=${sslmode.replace(/[^\w-]/g, '?').slice(0, 20)}, which is no sslmode`, `sslmode is one of ${SSL_MODES.join(', ')} (verify-full checks the server's certificate and name)`, 'bad_input');
  return { url: u.toString(), host: hostOf(u.toString()), user: decodeURIComponent(u.username) };
}

/** The URL as members give it: without the user of whoever created the team (each member logs in as its own role). */
export function memberUrl(url: string): string {
  const u = new URL(url);
  u.username = '';
  return u.toString();
}

/** host:port as error messages name it (a unix socket folder, too). */
export function hostOf(url: string): string {
  try {
    const u = new URL(url);
    const host = u.searchParams.get('host') ?? u.hostname;
    return u.port ? `${host}:${u.port}` : host;
  } catch {
    return 'the team database';
  }
}

// Codes carried by invitations and ACCT_TEAM_KEY: a prefix saying what they
// are, then base64url JSON. Both are secrets (a one-time or a CI password, a
// private key): printed once, read from stdin or the environment, never argv
// (except --code, which the docs steer away from).
const INVITE_PREFIX = 'acct-invite-';
const KEY_PREFIX = 'acct-team-key-';

export interface Invitation {
  team: string;
  teamId: string;
  memberId: string;
  role: string;
  /** The one-time password of the member's role: `team join` replaces it at once. */
  password: string;
  /** When it stops working (ISO 8601; the role's VALID UNTIL). Codes from before expiries have none. */
  expires?: string;
  /** The member's name as the inviting admin gave it. */
  name?: string;
  /** A random secret the joiner proves its keys with (a MAC the inviting admin checks before it confirms the member). Codes from before signed rosters have none. */
  secret?: string;
  /** The roster the inviting admin accepted: the join checks the database's against it. */
  roster?: RosterPin;
}

export function encodeInvitation(inv: Invitation): string {
  return INVITE_PREFIX + Buffer.from(JSON.stringify({ v: 1, ...inv })).toString('base64url');
}

export function decodeInvitation(code: string): Invitation {
  const v = decodePayload(code.trim(), INVITE_PREFIX);
  if (!v || typeof v.team !== 'string' || typeof v.teamId !== 'string' || typeof v.memberId !== 'string' || typeof v.role !== 'string' || typeof v.password !== 'string')
    throw usageError('that is not an acct invitation code', 'paste the whole code `acct team invite` printed (it starts with acct-invite-)', 'bad_input');
  return {
    team: v.team,
    teamId: v.teamId,
    memberId: v.memberId,
    role: v.role,
    password: v.password,
    ...(typeof v.expires === 'string' ? { expires: v.expires } : {}),
    ...(typeof v.name === 'string' ? { name: v.name } : {}),
    ...(typeof v.secret === 'string' ? { secret: v.secret } : {}),
    ...(isPin(v.roster) ? { roster: { version: v.roster.version, hash: v.roster.hash } } : {}),
  };
}

/** ACCT_TEAM_KEY: a CI member's credentials and the roster it was made in (its pin). */
export function encodeTeamKey(c: MemberCredentials, roster?: RosterPin): string {
  return KEY_PREFIX + Buffer.from(JSON.stringify({ v: 1, ...c, ...(roster ? { roster } : {}) })).toString('base64url');
}

/**
 * The credentials in ACCT_TEAM_KEY. A key printed before signed rosters has
 * no pin (nor signing key): it reads what is shared with it, and refreshes
 * it, but wraps for no one (team/roster.ts).
 */
export function envCredentials(env: NodeJS.ProcessEnv): (MemberCredentials & { roster?: RosterPin }) | undefined {
  const key = env.ACCT_TEAM_KEY;
  if (!env.ACCT_TEAM && !key) return undefined;
  if (!env.ACCT_TEAM || !key)
    throw usageError(`${env.ACCT_TEAM ? 'ACCT_TEAM_KEY' : 'ACCT_TEAM'} is not set`, 'set both ACCT_TEAM (the database URL) and ACCT_TEAM_KEY (what acct team add-ci printed)');
  const payload = decodePayload(key.trim(), KEY_PREFIX);
  const c = credentialsFromFields(payload);
  if (c && isPin(payload?.roster)) return { ...c, roster: { version: payload.roster.version, hash: payload.roster.hash } };
  if (!c) throw usageError('ACCT_TEAM_KEY is not a key acct team add-ci printed', 'set it to the whole value (it starts with acct-team-key-)', 'bad_input');
  return c;
}

function decodePayload(code: string, prefix: string): Record<string, unknown> | undefined {
  if (!code.startsWith(prefix) || code.length > 4096) return undefined;
  try {
    const v = JSON.parse(Buffer.from(code.slice(prefix.length), 'base64url').toString('utf8')) as unknown;
    return isObject(v) && v.v === 1 ? v : undefined;
  } catch {
    return undefined; // not base64url JSON: the caller says what the code should look like
  }
}

export function credentialsFromFields(v: Record<string, unknown> | undefined): MemberCredentials | undefined {
  const keys = ['team', 'teamId', 'memberId', 'role', 'password', 'privateKey', 'publicKey'] as const;
  if (!v || !keys.every((k) => typeof v[k] === 'string')) return undefined;
  const c = Object.fromEntries(keys.map((k) => [k, v[k]])) as unknown as MemberCredentials;
  if (typeof v.signingKey === 'string' && typeof v.signingPublicKey === 'string') Object.assign(c, { signingKey: v.signingKey, signingPublicKey: v.signingPublicKey });
  return c;
}

export const credentialsToFields = (c: MemberCredentials): Fields => {
  const { signingKey, signingPublicKey, ...rest } = c;
  return { ...rest, ...(signingKey && signingPublicKey ? { signingKey, signingPublicKey } : {}) };
};
