// Team membership and sharing: create, invite, join, add-ci, members,
// remove, share, unshare. Commands (commands/team.ts) call these; nothing
// here prompts or prints.
import { AcctError, errorMessage, scrubLibraryText, usageError, visibleDeep } from '../errors.js';
import { nodeCrypto } from '../store/node-crypto.js';
import type { Fields } from '../store/store.js';
import type { Paths } from '../paths.js';
import { label } from '../accounts/resolve.js';
import { openPool, teamError, type PoolClient } from './pg.js';
import { migrate, grantsFor, lockSchema } from './schema.js';
import {
  checkUrl,
  configuredTeams,
  credentialsEntry,
  credentialsToFields,
  decodeInvitation,
  encodeInvitation,
  encodeTeamKey,
  hostOf,
  rememberTeam,
  forgetTeam,
  MEMBER_NAME_RE,
  TEAM_NAME_RE,
  type MemberCredentials,
} from './config.js';
import { newMemberKeys, newSigningKeys, newPassword, sha256, scramVerifier, wrapKey, wrapInfo, newItemKey, sealFields, isWrapped, accountBinding } from './seal.js';
import { activeMembers, KEY_VERSION, type TeamStore, type TxQuery, type Member } from './store.js';
import { badGrant, covers, GRANT_COLUMNS, grantRow, hasGrants, notGranted, verifiedGrant, writeGrant, type Checked, type Decision, type GrantRow } from './grants.js';
import { amendRoster, canSign, entryOf, fingerprintOf, firstRoster, joinProof, noRoster, pinOf, recipients, rosterRows, sealInvitation, tendRoster, verifiedRoster, verifyChain, type Recipients, type Roster } from './roster.js';

/** The machine's own secret store, where member credentials are kept. */
export interface LocalSecrets {
  ready(): Promise<void>;
  read(id: string): Promise<Fields>;
  write(id: string, fields: Fields): Promise<void>;
  remove(id: string): void;
}

export interface AdminDeps {
  paths: Paths;
  env: NodeJS.ProcessEnv;
  secrets: LocalSecrets;
}

const hex = (bytes: number) => nodeCrypto().randomBytes(bytes).toString('hex');
const ident = (s: string) => `"${s.replace(/"/g, '""')}"`;
const literal = (s: string) => `'${s.replace(/'/g, "''")}'`;

function checkName(name: string, what: 'team' | 'member'): void {
  const re = what === 'team' ? TEAM_NAME_RE : MEMBER_NAME_RE;
  if (!re.test(name))
    throw usageError(`"${name}" is not a valid ${what} name`, `${what} names are lower-case letters, digits${what === 'member' ? ', dots, underscores' : ''} and dashes, starting with a letter, at most 32 characters`, 'bad_input');
}

function notConfigured(deps: AdminDeps, name: string): void {
  if (configuredTeams(deps.paths, deps.env).some((t) => t.name === name))
    throw usageError(`this machine is a member of a team called ${name} already`, 'pick another name for this one');
}

/**
 * Creates the schema (or brings it up to date) and a team with its first
 * admin, this machine. Runs as the URL's role, which must own the database's
 * `acct` schema (or be able to create it) and have CREATEROLE: it makes the
 * team's group role and every member's login role.
 */
export async function createTeam(deps: AdminDeps, opts: { name: string; url: string; memberName: string }): Promise<{ teamId: string; memberId: string }> {
  checkName(opts.name, 'team');
  checkName(opts.memberName, 'member');
  const { url } = checkUrl(opts.url);
  notConfigured(deps, opts.name);
  await deps.secrets.ready(); // the passphrase or keychain before anything remote
  const pool = await openPool({ url, env: deps.env, max: 1 });
  try {
    const client = await pool.connect().catch((err: unknown) => {
      if ((err as { code?: string }).code === '28P01')
        throw new AcctError('access_denied', `${hostOf(url)} refused the password of ${decodeURIComponent(new URL(url).username) || 'the database user'} (from PGPASSWORD or ~/.pgpass)`, {
          hint: 'check the password your DBA gave you for the role in the URL',
          cause: err,
        });
      throw teamError(err, url, opts.name);
    });
    try {
      await migrate(client);
      const teamId = hex(5);
      const mid = hex(5);
      const group = `acct_${teamId}`;
      const role = `acct_${teamId}_${mid}`;
      const keys = { ...newMemberKeys(), ...newSigningKeys() };
      const password = newPassword();
      const creds: MemberCredentials = { team: opts.name, teamId, memberId: `mb_${mid}`, role, password, ...keys };
      await client.query('BEGIN');
      try {
        await lockSchema(client);
        try {
          await client.query('INSERT INTO acct.teams (id, name, group_role) VALUES ($1, $2, $3)', [teamId, opts.name, group]);
        } catch (err) {
          if ((err as { code?: string }).code === '23505')
            throw usageError(`the database at ${hostOf(url)} has a team called ${opts.name} already`, `join it with an invitation from one of its admins (acct team join ${url} --code-stdin)`, 'bad_input');
          throw err;
        }
        await client.query(`CREATE ROLE ${ident(group)} NOLOGIN`);
        await client.query(grantsFor(group, ident));
        await client.query(`CREATE ROLE ${ident(role)} LOGIN PASSWORD ${literal(scramVerifier(password))} IN ROLE ${ident(group)}`);
        await client.query('INSERT INTO acct.members (team_id, id, name, role_name, public_key, signing_key, is_admin, joined_at) VALUES ($1, $2, $3, $4, $5, $6, true, now())', [
          teamId,
          creds.memberId,
          opts.memberName,
          role,
          keys.publicKey,
          keys.signingPublicKey,
        ]);
        // Roster version 1: the creator alone, signed by it, and pinned on this machine.
        const q: TxQuery = async (sql, params) => (await client.query(sql, params)).rows;
        const roster = await firstRoster(q, creds, { id: creds.memberId, name: opts.memberName, role, admin: true, ci: false });
        // The credentials are kept before the team exists for anyone: a failed commit leaves an unused entry, never a team nobody can open.
        await deps.secrets.write(credentialsEntry(opts.name), credentialsToFields(creds));
        await commitRemembered(client, deps, { name: opts.name, url, teamId, memberId: creds.memberId, roster: pinOf(roster) });
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
      return { teamId, memberId: creds.memberId };
    } finally {
      client.release();
    }
  } catch (err) {
    if ((err as { code?: string }).code === '42501')
      throw new AcctError('access_denied', `the role in the URL may not set up a team at ${hostOf(url)} (${(err as Error).message})`, {
        hint: 'team create needs a role with CREATEROLE that owns the database, or may create the acct schema in it (ask your DBA: CREATE ROLE acct LOGIN CREATEROLE; CREATE DATABASE acct OWNER acct)',
        cause: err,
      });
    throw teamError(err, url, opts.name);
  } finally {
    await pool.end();
  }
}

/**
 * Writes the team into teams.json, then commits the transaction that makes
 * this machine its member: a teams.json that cannot be written fails before
 * anything is committed (the invitation still works), and a commit that fails
 * takes the entry out again. Remembered after the commit, a failure to write
 * it left a member (an invitation used up) that no machine knew.
 */
async function commitRemembered(client: PoolClient, deps: AdminDeps, team: { name: string; url: string; teamId: string; memberId: string; roster?: { version: number; hash: string } }): Promise<void> {
  rememberTeam(deps.paths, team);
  try {
    await client.query('COMMIT');
  } catch (err) {
    forgetTeam(deps.paths, team.name);
    throw err;
  }
}

async function mustBeAdmin(store: TeamStore, what: string): Promise<Member> {
  const member = await store.member();
  if (!member.isAdmin) throw new AcctError('access_denied', `only an admin of team ${store.name} can ${what}`, { hint: `ask one: acct team members ${store.name} lists them` });
  return member;
}

interface NewMember {
  memberId: string;
  role: string;
  password: string;
}

/**
 * Adds a member's role and row; `then`, in the same transaction, does what
 * goes with it (seal the invitation's secret; list a CI member in a new
 * roster version) and returns what the caller gets.
 */
async function addMember<T>(
  store: TeamStore,
  name: string,
  kind: { admin: boolean; ci: boolean; publicKey: string | null; signingKey: string | null; validUntil: Date | null; invitation?: (m: NewMember) => unknown },
  then: (q: TxQuery, m: NewMember) => Promise<T>,
): Promise<NewMember & { then: T }> {
  checkName(name, 'member');
  const mid = hex(5);
  const m: NewMember = { memberId: `mb_${mid}`, role: `acct_${store.teamId}_${mid}`, password: newPassword() };
  try {
    // A transaction: it must run exactly once (a statement outside one may be run twice, see pg.ts agentDatabase).
    const after = await store.tx(async (q) => {
      await q('SELECT acct.add_member($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)', [
        store.teamId,
        m.memberId,
        name,
        m.role,
        scramVerifier(m.password),
        kind.admin,
        kind.ci,
        kind.publicKey,
        kind.validUntil,
        kind.signingKey,
        kind.invitation?.(m) ?? null,
      ]);
      return then(q, m);
    });
    return { ...m, then: after };
  } catch (err) {
    const older = olderSchema((err as AcctError).cause ?? err, store, 'signed rosters');
    if (older) throw older;
    if (((err as AcctError).cause as { code?: string } | undefined)?.code === '23505' || (err as { code?: string }).code === '23505')
      throw usageError(`team ${store.name} has a member called ${name} already`, `see them with: acct team members ${store.name}`, 'bad_input');
    throw err;
  }
}

/** How long an invitation works unless the admin says otherwise (acct team invite --expires). */
export const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;

/** A one-time invitation code for a new member (it carries the member's role and a password the join replaces at once), good for `expiresInMs`. */
export async function invite(store: TeamStore, opts: { name: string; admin?: boolean; expiresInMs?: number }): Promise<{ code: string; memberId: string; expires: string }> {
  await mustBeAdmin(store, 'invite members');
  await tendRoster(store);
  const { creds } = await store.connect();
  const validUntil = new Date(Date.now() + (opts.expiresInMs ?? INVITATION_TTL_MS));
  // The secret the joiner proves its keys with: in the code, and sealed in the database for this admin alone.
  const secret = nodeCrypto().randomBytes(32).toString('base64url');
  const admin = Boolean(opts.admin);
  const m = await addMember(
    store,
    opts.name,
    { admin, ci: false, publicKey: null, signingKey: null, validUntil, invitation: (n) => sealInvitation(creds, n.memberId, { secret, name: opts.name, role: n.role, admin, expires: validUntil.toISOString() }) },
    // The roster as this admin accepted it: the joiner checks the database's against it.
    async (q) => (await verifiedRoster(store, q)) ?? Promise.reject(noRoster(store)),
  );
  const expires = validUntil.toISOString();
  const code = encodeInvitation({ team: store.name, teamId: store.teamId, memberId: m.memberId, role: m.role, password: m.password, expires, name: opts.name, secret, roster: pinOf(m.then) });
  return { code, memberId: m.memberId, expires };
}

/** An invitation past its expiry: exit 4, and the one way on. */
function expired(inv: { team: string; expires?: string }, cause?: unknown): AcctError {
  return new AcctError('access_denied', `this invitation to team ${inv.team} expired${inv.expires ? ` on ${inv.expires}` : ''}`, {
    hint: `ask an admin of ${inv.team} for a new one (acct team invite ${inv.team} --name <you>)`,
    cause,
  });
}

/** A CI member: its key pair is made here, and everything it needs goes into ACCT_TEAM_KEY, shown once. */
export async function addCi(store: TeamStore, opts: { name: string }): Promise<{ key: string; memberId: string }> {
  await mustBeAdmin(store, 'add CI members');
  await tendRoster(store);
  const keys = { ...newMemberKeys(), ...newSigningKeys() };
  // Its keys are made here, by the admin: listed in a new roster version in the same transaction, which the key pins.
  const m = await addMember(store, opts.name, { admin: false, ci: true, publicKey: keys.publicKey, signingKey: keys.signingPublicKey, validUntil: null }, (q, n) =>
    amendRoster(store, q, (ms) => [...ms, entryOf({ id: n.memberId, name: opts.name, role: n.role, admin: false, ci: true, x25519: keys.publicKey, ed25519: keys.signingPublicKey })]),
  );
  store.acceptRoster(pinOf(m.then));
  const creds: MemberCredentials = { team: store.name, teamId: store.teamId, memberId: m.memberId, role: m.role, password: m.password, ...keys };
  // The member is committed: its key is the answer whatever the sync does (a failure of it lost the key, the name taken).
  const key = encodeTeamKey(creds, pinOf(m.then));
  await syncSharesAfter(store);
  return { key, memberId: m.memberId };
}

/**
 * Joins with an invitation: logs in with its one-time password, replaces it
 * at once with a new one kept (with the new key pair) in this machine's
 * secret store, and publishes the public key. The code is useless afterwards.
 */
export async function join(deps: AdminDeps, opts: { url: string; code: string; as?: string }): Promise<{ team: string; memberId: string; name: string }> {
  const { url } = checkUrl(opts.url);
  const inv = decodeInvitation(opts.code);
  const isExpired = () => inv.expires !== undefined && !(Date.parse(inv.expires) > Date.now());
  if (isExpired()) throw expired(inv);
  const name = opts.as ?? inv.team;
  checkName(name, 'team');
  notConfigured(deps, name);
  await deps.secrets.ready();
  const pool = await openPool({ url, user: inv.role, password: inv.password, env: deps.env, max: 1 });
  try {
    const client = await pool.connect().catch((err: unknown) => {
      const e = err as { code?: string };
      // The server says no more than that the password failed: an expiry passed meanwhile is said as such.
      if ((e.code === '28P01' || e.code === '28000') && isExpired()) throw expired(inv, err);
      if (e.code === '28P01' || e.code === '28000')
        throw new AcctError('access_denied', `${hostOf(url)} refused this invitation: it was used already, it expired, or the member was removed`, {
          hint: `ask an admin of ${inv.team} for a new one (acct team invite ${inv.team} --name …)`,
          cause: err,
        });
      throw teamError(err, url, inv.team);
    });
    try {
      const { rows } = await client.query<{ id: string; name: string; public_key: string | null; removed_at: Date | null }>('SELECT * FROM acct.whoami($1)', [inv.teamId]);
      const me = rows[0];
      if (!me || me.id !== inv.memberId || me.removed_at) throw new AcctError('access_denied', `this invitation is not valid for team ${inv.team} at ${hostOf(url)}`, { hint: 'ask for a new one' });
      if (me.public_key) throw new AcctError('access_denied', 'this invitation was used already', { hint: `ask an admin of ${inv.team} for a new one` });
      // Before anything is written: the database's roster must chain from the one the inviting admin saw.
      const q: TxQuery = async (sql, params) => (await client.query(sql, params)).rows;
      const roster = await checkJoinRoster(q, inv);
      const keys = { ...newMemberKeys(), ...newSigningKeys() };
      const creds: MemberCredentials = { team: name, teamId: inv.teamId, memberId: inv.memberId, role: inv.role, password: newPassword(), ...keys };
      await client.query('BEGIN');
      try {
        await client.query(`ALTER ROLE CURRENT_USER PASSWORD ${literal(scramVerifier(creds.password))}`);
        // The keys, with the proof the inviting admin checks before it lists them in the roster; a team from before rosters takes the key alone.
        const publish = roster
          ? client.query('SELECT acct.set_my_keys($1, $2, $3, $4)', [
              inv.teamId,
              keys.publicKey,
              keys.signingPublicKey,
              { join: joinProof(inv.secret!, inv.teamId, inv.memberId, inv.name ?? me.name, keys.publicKey, keys.signingPublicKey) },
            ])
          : client.query('SELECT acct.set_my_key($1, $2)', [inv.teamId, keys.publicKey]);
        await publish.catch((err: unknown) => {
          throw /invitation expired/.test(errorMessage(err)) ? expired(inv, err) : err;
        });
        // Kept before the commit: once it commits, the invitation's password no longer opens the role.
        await deps.secrets.write(credentialsEntry(name), credentialsToFields(creds));
        await commitRemembered(client, deps, { name, url, teamId: inv.teamId, memberId: inv.memberId, ...(roster ? { roster: pinOf(roster) } : {}) });
      } catch (err) {
        await client.query('ROLLBACK');
        throw err;
      }
      return { team: name, memberId: inv.memberId, name: me.name };
    } finally {
      client.release();
    }
  } catch (err) {
    throw teamError(err, url, inv.team);
  } finally {
    await pool.end();
  }
}

/**
 * The database's roster, checked against the invitation's pin (the inviting
 * admin's view): a mismatch refuses the join before anything is written. A
 * team from before rosters has none (and its codes no pin); a code without
 * a pin for a team with rosters is from an older acct and is refused.
 */
async function checkJoinRoster(q: TxQuery, inv: ReturnType<typeof decodeInvitation>): Promise<Roster | undefined> {
  const rows = await rosterRows(q, inv.teamId, inv.roster?.version ?? 1);
  if (rows === undefined) return undefined;
  if (!inv.roster || !inv.secret)
    throw new AcctError('bad_input', `this invitation to team ${inv.team} was made by an acct from before signed rosters, which the team's database has now`, {
      hint: `ask an admin of ${inv.team} for a new one (acct team invite ${inv.team} --name <you>)`,
    });
  try {
    return verifyChain(inv.teamId, inv.team, rows, inv.roster)!.roster;
  } catch (err) {
    if (!(err instanceof AcctError)) throw err;
    throw new AcctError(err.code, `refused to join team ${inv.team}: the roster in its database does not match the invitation's (${err.message})`, {
      hint: `nothing was written on this machine, and no key published. The roster in the database is not what the admin who invited you signed: someone who is not an admin of ${inv.team} changed it, or this is not the team's database. Tell that admin`,
      cause: err,
    });
  }
}

/** A team's settings, as every member reads them. */
export interface TeamSettings {
  /** Members' machines keep a copy of the access tokens they read, for while the database is unreachable (team/offline.ts). */
  offlineTokens: boolean;
}

export async function settings(store: TeamStore): Promise<TeamSettings> {
  // Read from the row as JSON: a schema from before the setting (version 1) answers null, off.
  const rows = await store.query<{ offline_tokens: boolean | null }>("SELECT to_jsonb(t)->'offline_tokens' AS offline_tokens FROM acct.teams t WHERE t.id = $1", [store.teamId]);
  return { offlineTokens: rows[0]?.offline_tokens === true };
}

/** Changes a team's settings: an admin's to change (the database checks it too). */
export async function changeSettings(store: TeamStore, change: Partial<TeamSettings>): Promise<TeamSettings> {
  await mustBeAdmin(store, 'change its settings');
  if (change.offlineTokens !== undefined)
    await store.query('SELECT acct.set_offline_tokens($1, $2)', [store.teamId, change.offlineTokens]).catch((err: unknown) => {
      throw olderSchema(err, store, 'this setting') ?? err;
    });
  return settings(store);
}

/** Brings a team database's schema up to date (migrations run once, under their lock): as the role that owns it, the one `create` used. */
export async function upgradeSchema(deps: Pick<AdminDeps, 'env'>, rawUrl: string): Promise<{ from: number; to: number }> {
  const { url } = checkUrl(rawUrl);
  const pool = await openPool({ url, env: deps.env, max: 1 });
  try {
    const client = await pool.connect().catch((err: unknown) => {
      throw teamError(err, url);
    });
    try {
      const version = async () => Number((await client.query<{ v: number | null }>("SELECT CASE WHEN to_regclass('acct.schema_version') IS NULL THEN 0 ELSE (SELECT max(version) FROM acct.schema_version) END AS v")).rows[0]?.v ?? 0);
      const from = await version();
      if (from === 0) throw new AcctError('not_found', `there is no acct team schema in the database at ${hostOf(url)}`, { hint: 'create a team there: acct team create <name> <url>' });
      await migrate(client);
      return { from, to: await version() };
    } finally {
      client.release();
    }
  } catch (err) {
    if ((err as { code?: string }).code === '42501')
      throw new AcctError('access_denied', `the role in the URL may not change the team schema at ${hostOf(url)} (${(err as Error).message})`, {
        hint: 'upgrade as the role that owns the acct schema: the one acct team create was run with',
        cause: err,
      });
    throw teamError(err, url);
  } finally {
    await pool.end();
  }
}

export interface MemberInfo {
  id: string;
  name: string;
  admin: boolean;
  ci: boolean;
  joined: string | null;
  removed: string | null;
  /**
   * confirmed: in the team's signed roster (keys are wrapped for it);
   * joined: its keys published, waiting for `confirmer` (the admin who
   * invited it) to confirm them (null: no admin can; absent: the team has no signed roster yet);
   * invited: the invitation not used yet; removed.
   */
  state: 'confirmed' | 'joined' | 'invited' | 'removed';
  confirmer?: string | null;
}

/** The team's members, what they are in its roster, and the roster version this machine verified (none: `untrusted` says why, or the team has none). */
export interface MemberList {
  list: MemberInfo[];
  roster?: { version: number; fingerprint: string };
  untrusted?: AcctError;
}

/** The team's members, and what they are in its roster; an admin confirms the joins it can first, and keys are wrapped for those confirmed since. */
export async function members(store: TeamStore): Promise<MemberList> {
  // A machine that trusts no version yet still lists the members (what the database says), with how to trust one.
  let untrusted: AcctError | undefined;
  const unpinned = (err: unknown) => {
    if (!(err instanceof AcctError) || err.code !== 'roster_unpinned') throw err;
    untrusted = err;
  };
  await tendRoster(store).catch(unpinned);
  const to = await store.tx((q) => recipients(store, q, untrusted ? 'none' : undefined));
  if (!untrusted) await syncSharesAfter(store);
  const state = (r: (typeof to.rows)[number]): Pick<MemberInfo, 'state' | 'confirmer'> => {
    if (r.removed_at) return { state: 'removed' };
    if (!r.public_key) return { state: 'invited' };
    if (to.roster?.body.members.some((m) => m.id === r.id)) return { state: 'confirmed' };
    return { state: 'joined', ...(to.roster || untrusted ? { confirmer: to.confirmer(r.id) ?? null } : {}) };
  };
  // Names another admin wrote: control characters made visible, as the store does for accounts (store.ts, shown).
  const list = to.rows.map((r) =>
    visibleDeep({ id: r.id, name: r.name, admin: r.is_admin, ci: r.is_ci, joined: r.joined_at?.toISOString() ?? null, removed: r.removed_at?.toISOString() ?? null, ...state(r) }),
  );
  return { list, ...(to.roster ? { roster: { version: to.roster.body.version, fingerprint: fingerprintOf(to.roster.hash) } } : {}), ...(untrusted ? { untrusted } : {}) };
}

/**
 * Trusts the roster version whose fingerprint an admin gave (`acct team
 * trust`): this machine's pin moves to it, if it is a version in the
 * database with that fingerprint that chains from the pin there is (a
 * machine with none takes it as given) and whose later versions verify.
 */
export async function trustRoster(store: TeamStore, given: string): Promise<{ version: number; fingerprint: string }> {
  const fp = given.toLowerCase().replace(/[\s:-]/g, '');
  if (!/^[0-9a-f]{16}$/.test(fp))
    throw usageError(`"${visibleDeep(given)}" is not a roster fingerprint`, `it is 16 hex digits, as acct team members ${store.name} shows it on an admin's machine (spaces do not matter)`, 'bad_input');
  return store.tx(async (q) => {
    const rows = (await rosterRows(q, store.teamId, 1)) ?? [];
    const row = rows.find((r) => fingerprintOf(sha256(r.body)).replace(/ /g, '') === fp);
    if (!row)
      throw new AcctError('roster_untrusted', `no version of team ${store.name}'s signed roster in its database has the fingerprint ${fp.replace(/(.{4})(?=.)/g, '$1 ')}`, {
        hint: `check the fingerprint with the admin who gave it (acct team members ${store.name} on their machine); if it is right, the database does not hold the roster that admin signed: have it checked (table acct.rosters). Nothing was trusted`,
      });
    const pin = { version: row.version, hash: sha256(row.body) };
    const had = store.team.roster;
    // A machine that has seen a later version already checks every version from it.
    if (had && had.version >= row.version) return { version: had.version, fingerprint: fingerprintOf(had.hash) };
    // From the pin there is to the given version, and from it to the newest: a chain, or nothing is trusted.
    if (had) verifyChain(store.teamId, store.name, rows.filter((r) => r.version <= row.version), had);
    verifyChain(store.teamId, store.name, rows, pin);
    store.acceptRoster(pin);
    return { version: row.version, fingerprint: fingerprintOf(pin.hash) };
  });
}

/** A member named as the signed roster names it (its id), before the database's names: a row renamed there does not redirect a share to another member. */
function listedAs(to: Recipients, ref: string): string {
  return to.roster?.body.members.find((m) => m.id === ref || m.name === ref)?.id ?? ref;
}

async function findMember(q: TxQuery, store: TeamStore, ref: string) {
  const rows = await q<{ id: string; name: string; public_key: string | null }>('SELECT id, name, public_key FROM acct.members WHERE team_id = $1 AND removed_at IS NULL AND (id = $2 OR name = $2)', [store.teamId, ref]);
  if (!rows[0]) throw new AcctError('not_found', `team ${store.name} has no member ${ref}`, { hint: `see them with: acct team members ${store.name}` });
  return rows[0];
}

/**
 * A new key for an account, its secrets sealed again with it and wrapped for
 * `readers` alone: whoever held the old key (a removed member, a reader it
 * was unshared from) cannot open what is stored from now on.
 */
async function rekeyAccount(store: TeamStore, q: TxQuery, me: Member, accountId: string, readers: { id: string; publicKey: string }[]): Promise<void> {
  const keys = await store.connect().then((s) => ({ publicKey: s.creds.publicKey, privateKey: s.creds.privateKey }));
  // The account's row first, the lock a store update (a refresh) takes before it reads the key: a refresh under way
  // stores its secrets before these are read, and one that comes after reads the new key. Locking only the secrets
  // let a refresh that had read the old key seal its new secrets with it after the re-key: opened by no one.
  await q('SELECT 1 FROM acct.accounts WHERE team_id = $1 AND id = $2 FOR UPDATE', [store.teamId, accountId]);
  const rows = await q<{ sealed: unknown; wrapped: unknown; key_version: number; app: string; settings: Record<string, string> | null }>(
    `SELECT s.sealed, x.wrapped, ${KEY_VERSION}, a.app, a.meta->'settings' AS settings FROM acct.account_secrets s
       JOIN acct.account_access x ON x.team_id = s.team_id AND x.account_id = s.account_id AND x.member_id = $3
       JOIN acct.accounts a ON a.team_id = s.team_id AND a.id = s.account_id
      WHERE s.team_id = $1 AND s.account_id = $2 FOR UPDATE OF s`,
    [store.teamId, accountId, me.id],
  );
  const r = rows[0];
  if (!r || !isWrapped(r.wrapped)) throw new AcctError('access_denied', `you cannot read ${accountId} in team ${store.name}, so you cannot re-key it`);
  const binding = accountBinding({ app: r.app, settings: r.settings ?? undefined });
  const fields = store.open(store.unwrapAccountKey(r.wrapped, r.key_version, keys, accountId, me.id), r.sealed, accountId, binding);
  const key = newItemKey();
  // The next version, bound into every wrap (seal.ts, wrapInfo); a schema from before versions has none (every key there is version 0).
  const versioned = await hasKeyVersions(q);
  const version = versioned ? r.key_version + 1 : 0;
  const wraps = Object.fromEntries(readers.map((m) => [m.id, wrapKey(key, m.publicKey, wrapInfo(store.teamId, accountId, m.id, version))]));
  const sealed = sealFields(key, fields, store.teamId, accountId, binding);
  // One statement, checked by the database: the secrets and the keys of the readers kept, replaced together; it adds no reader.
  await (versioned
    ? q('SELECT acct.rekey($1, $2, $3, $4, $5)', [store.teamId, accountId, sealed, wraps, version])
    : q('SELECT acct.rekey($1, $2, $3, $4)', [store.teamId, accountId, sealed, wraps])
  ).catch((err: unknown) => {
    throw olderSchema(err, store, 're-keying an account') ?? err;
  });
  store.afterCommit(q, () => store.acceptVersion('keys', accountId, version));
}

/** Whether the team schema re-keys with key versions (version 6's acct.rekey). */
async function hasKeyVersions(q: TxQuery): Promise<boolean> {
  const [r] = await q<{ has: boolean }>("SELECT to_regprocedure('acct.rekey(text, text, jsonb, jsonb, integer)') IS NOT NULL AS has");
  return r?.has === true;
}

/** A function the team schema does not have yet (42883): the schema is older than this acct, and the fix is an upgrade. */
function olderSchema(err: unknown, store: TeamStore, what: string): AcctError | undefined {
  if ((err as { code?: string }).code !== '42883') return undefined;
  return new AcctError('usage', `the team schema at ${hostOf(store.url)} is older than ${what} in this acct`, {
    hint: `bring it up to date as the role that created the team: PGPASSWORD=… acct team upgrade postgres://<that role>@${hostOf(store.url)}/<database>`,
    cause: err,
  });
}

async function readersOf(q: TxQuery, store: TeamStore, accountId: string) {
  return q<{ id: string; name: string }>(
    `SELECT m.id, m.name FROM acct.account_access x JOIN acct.members m ON m.team_id = x.team_id AND m.id = x.member_id
      WHERE x.team_id = $1 AND x.account_id = $2 AND m.removed_at IS NULL AND m.public_key IS NOT NULL`,
    [store.teamId, accountId],
  );
}

/**
 * The readers an account's new key is wrapped for, each with the signed
 * roster's key. A reader the roster does not list (its access written by
 * someone else than an honest client) gets none, and that is said; without
 * a roster, only this member itself gets one.
 */
function wrappable(store: TeamStore, to: Recipients, accountId: string, readers: readonly { id: string; name: string }[]): { id: string; publicKey: string }[] {
  const out: { id: string; publicKey: string }[] = [];
  for (const r of readers) {
    const publicKey = to.key(r.id);
    if (publicKey) out.push({ id: r.id, publicKey });
    else if (!to.roster) throw noRoster(store);
    else store.warn(`${visibleDeep(r.name)} reads ${accountId} in team ${store.name} but is not in its signed roster: its new key is not wrapped for them`);
  }
  return out;
}

export interface Removal {
  member: string;
  /** Accounts whose credentials the member could read: rotate them at their providers. Those not re-keyed say why. */
  toRotate: { id: string; label: string; rekeyed: boolean; why?: string }[];
  /** The team's signed roster did not verify: the member's access went all the same, nothing was re-keyed, and the command fails with this. */
  rosterError?: AcctError;
}

/** A roster that does not verify (or that this machine trusts no version of) stops no revocation: kept to be said afterwards. */
const rosterFailure = (err: unknown): AcctError | undefined =>
  err instanceof AcctError && (err.code === 'roster_untrusted' || err.code === 'roster_unpinned') ? err : undefined;

/**
 * Removes a member: every account key it could read that this admin can read
 * is replaced and wrapped for the remaining readers, its access rows go, its
 * role leaves the team's group and can no longer log in. Says which accounts
 * it could read (their credentials should be rotated), and which of them
 * only their owner can re-key.
 */
export async function removeMember(store: TeamStore, ref: string): Promise<Removal> {
  const me = await mustBeAdmin(store, 'remove members');
  let rosterError: AcctError | undefined;
  const unverified = (err: unknown): undefined => {
    rosterError = rosterFailure(err);
    if (!rosterError) throw err;
  };
  await tendRoster(store).catch(unverified);
  let roster: Roster | undefined;
  const removal = await store.tx(async (q) => {
    const current = rosterError ? undefined : await verifiedRoster(store, q).catch(unverified);
    // The roster's member first (a row renamed in the database redirects no removal); one the database says was removed already is still the roster's to take out.
    const listed = current?.body.members.find((m) => m.id === ref || m.name === ref);
    const row = await findMember(q, store, listed?.id ?? ref).catch((err: unknown) => {
      if (listed && err instanceof AcctError && err.code === 'not_found') return undefined;
      throw err;
    });
    const target = row ?? { id: listed!.id, name: listed!.name };
    if (target.id === me.id) throw usageError('you cannot remove yourself', 'another admin can');
    // A roster version without the member, first: no honest client wraps for it from now on.
    // Tombstoned too, listed or not (when this admin can sign): its invitation never confirms it again.
    if (current && (listed || canSign(current, (await store.connect()).creds))) roster = await amendRoster(store, q, (ms) => ms.filter((m) => m.id !== target.id), target.id);
    const mine = await q<{ account_id: string }>(
      `SELECT t.account_id FROM acct.account_access t JOIN acct.account_access m ON m.team_id = t.team_id AND m.account_id = t.account_id AND m.member_id = $3
        WHERE t.team_id = $1 AND t.member_id = $2`,
      [store.teamId, target.id, me.id],
    );
    // First the removal (it lists what the member could read, then drops its access), then new keys for the readers left.
    // A row the database removed already: what it says the member could read, and the new keys.
    const could = row
      ? await q<{ account_id: string; app: string; nickname: string }>('SELECT account_id, app, nickname FROM acct.remove_member($1, $2)', [store.teamId, target.id])
      : await q<{ account_id: string; app: string; nickname: string }>(
          `SELECT x.id AS account_id, x.app, x.nickname FROM acct.accounts x
            WHERE x.team_id = $1 AND (x.owner = $2 OR EXISTS (SELECT 1 FROM acct.account_access a WHERE a.team_id = x.team_id AND a.account_id = x.id AND a.member_id = $2))`,
          [store.teamId, target.id],
        );
    // An account whose key or secrets do not open for this admin (altered in the database) is not re-keyed, and that stops no removal: the member goes, and the account is listed as not re-keyed.
    // Without a signed roster (a schema from before them) there is no key to trust for the readers left: the member goes all the same, and the accounts are listed as not re-keyed.
    const failed = new Map<string, string>();
    const to = await recipients(store, q, rosterError ? 'none' : roster);
    const { creds } = await store.connect();
    for (const { account_id } of rosterError ? [] : mine)
      await readersOf(q, store, account_id)
        .then(async (readers) => {
          // The readers left that its owner's grant covers (checked against the roster before this removal: the owner may be the member removed).
          const row = (await grantRow(q, store.teamId, account_id))!;
          const c = verifiedGrant(store, row, current, creds);
          if ('bad' in c) return void failed.set(account_id, badGrant(store, account_id, c.bad));
          if ('none' in c && row.owner !== me.id)
            return void failed.set(account_id, 'its owner has not signed who reads it (it was made before acct signed grants): its owner re-keys it with acct unshare');
          const granted = readers.filter((r) => !('grant' in c) || covers(c.grant, r.id) || void notGranted(store, r.name, account_id));
          await rekeyAccount(store, q, me, account_id, wrappable(store, to, account_id, granted));
        })
        .catch((err: unknown) => {
          if (err instanceof AcctError && err.code === 'roster_missing') return void failed.set(account_id, `${err.message} (${err.hint})`);
          if (err instanceof AcctError && err.code === 'key_rolled_back') return void failed.set(account_id, err.message);
          if (!(err instanceof AcctError) || err.code !== 'store_unavailable') throw err;
          failed.set(account_id, `its key or secrets do not open for you (${err.message})`);
        });
    const readable = new Set(mine.map((m) => m.account_id));
    return visibleDeep({
      member: target.name,
      toRotate: could.map((a) => {
        const why =
          failed.get(a.account_id) ??
          (rosterError ? "the team's signed roster could not be verified, so there is no key to trust for the readers left" : undefined) ??
          (readable.has(a.account_id) ? undefined : 'you cannot read it; its owner should unshare and share it again');
        return { id: a.account_id, label: `${a.app}/${a.nickname} (${a.account_id})`, rekeyed: why === undefined, ...(why ? { why } : {}) };
      }),
    });
  });
  if (roster) store.acceptRoster(pinOf(roster));
  if (!rosterError) return removal;
  const e = rosterError;
  return {
    ...removal,
    rosterError: new AcctError(e.code, `removed ${removal.member} from team ${store.name} in its database (their role can no longer log in, their access rows are gone), but the team's signed roster could not be verified: ${e.message}`, {
      hint:
        `${e.hint}. Nothing was re-keyed and ${removal.member} is still in the signed roster: once it verifies again, run acct team remove ${store.name} ${removal.member} again to take them out of it; ` +
        `the accounts listed keep the key ${removal.member} held until their owner unshares and shares them again (and rotate them at their providers)`,
      cause: e,
    }),
  };
}

async function ownedAccount(store: TeamStore, ref: string) {
  const account = await store.resolve(ref);
  const me = await store.member();
  const access = await store.access(account.id);
  if (access.owner.id !== me.id)
    throw new AcctError('access_denied', `only the owner of ${label(account)} (${access.owner.name}) can share or unshare it`, { hint: `ask ${access.owner.name}` });
  return { account, me, access };
}

/**
 * Wraps the account's key for a member, or for every member (`team`), with
 * the key the team's signed roster holds for them: a member not confirmed
 * yet is an error (`--with`), or left out and named (`team`; syncShares
 * wraps for them once an admin confirms them).
 */
export async function share(store: TeamStore, ref: string, withWhom: string): Promise<{ account: string; readers: string[]; left: string[] }> {
  const { account, me } = await ownedAccount(store, ref);
  await tendRoster(store);
  const keys = await store.connect().then((s) => ({ publicKey: s.creds.publicKey, privateKey: s.creds.privateKey }));
  return store.tx(async (q) => {
    const to = await recipients(store, q);
    if (!to.roster) throw noRoster(store);
    const before = await decidedSoFar(store, q, to, account.id, label(account));
    const candidates = withWhom === 'team' ? await activeMembers(q, store.teamId) : [await findMember(q, store, listedAs(to, withWhom))];
    const targets: { id: string; publicKey: string }[] = [];
    const left: string[] = [];
    for (const t of candidates) {
      if ('public_key' in t && !t.public_key) throw new AcctError('bad_input', `${t.name} has not joined team ${store.name} yet`, { hint: `share it once ${t.name} has run acct team join` });
      const publicKey = withWhom === 'team' ? to.key(t.id) : to.require(t.id, visibleDeep(t.name));
      if (publicKey) targets.push({ id: t.id, publicKey });
      else left.push(visibleDeep(t.name));
    }
    const mine = await store.wrappedFor(q, account.id, me.id);
    if (!mine || !isWrapped(mine.wrapped)) throw new AcctError('access_denied', `you cannot read ${label(account)}`);
    const { key_version: version } = mine;
    const key = store.unwrapAccountKey(mine.wrapped, version, keys, account.id, me.id);
    for (const t of targets)
      await q('INSERT INTO acct.account_access (team_id, account_id, member_id, wrapped, granted_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [
        store.teamId,
        account.id,
        t.id,
        wrapKey(key, t.publicKey, wrapInfo(store.teamId, account.id, t.id, version)),
        me.id,
      ]);
    // Signed first: the visibility the database keeps is what the grant says.
    const decision: Decision = withWhom === 'team' ? { visibility: 'team', readers: before.readers } : { visibility: before.visibility, readers: [...before.readers, ...targets.map((t) => t.id)] };
    await writeGrant(store, q, account.id, decision);
    await q('UPDATE acct.accounts SET visibility = $3 WHERE team_id = $1 AND id = $2', [store.teamId, account.id, visibilityOf(decision)]);
    return { account: label(account), readers: await readerNames(q, store, account.id), left };
  });
}

/** The visibility the database keeps for a decision (what its row-level security goes by). */
const visibilityOf = (d: Decision) => (d.visibility === 'team' ? 'team' : d.readers.length ? 'shared' : 'private');

/**
 * What the owner decided for its account so far: its verified grant; for an
 * account from before grants, what the database shows (said, when the new
 * grant is written from it); for a grant that does not verify, shared with
 * no one (said).
 */
async function decidedSoFar(store: TeamStore, q: TxQuery, to: Recipients, accountId: string, what: string): Promise<Decision> {
  const { creds } = await store.connect();
  const row = (await grantRow(q, store.teamId, accountId))!;
  const c = verifiedGrant(store, row, to.roster, creds);
  if ('grant' in c) return c.grant;
  if ('bad' in c) {
    store.warn(`the signed grant of ${what} in the database of team ${store.name} does not verify (${c.bad}): taken as shared with no one; share it again with whoever should read it`);
    return { visibility: 'private', readers: [] };
  }
  const readers = (await readersOf(q, store, accountId)).filter((r) => r.id !== creds.memberId);
  const visibility = row.visibility === 'team' ? 'team' : 'private';
  if (await hasGrants(q)) {
    const shown = visibility === 'team' ? 'shared with the team' : readers.length ? `shared with ${readers.map((r) => visibleDeep(r.name)).join(', ')}` : 'private';
    store.warn(`${what} had no signed grant (it was made before acct signed them): its grant is written from what the database shows (${shown}); check its readers with acct show`);
  }
  return { visibility, readers: readers.map((r) => r.id) };
}

async function readerNames(q: TxQuery, store: TeamStore, accountId: string): Promise<string[]> {
  const rows = await q<{ name: string }>('SELECT m.name FROM acct.account_access x JOIN acct.members m ON m.team_id = x.team_id AND m.id = x.member_id WHERE x.team_id = $1 AND x.account_id = $2 ORDER BY m.name', [store.teamId, accountId]);
  return rows.map((r) => visibleDeep(r.name));
}

/** Takes a member's (or everyone's but the owner's) access away, with a new key for those who keep it. */
export async function unshare(store: TeamStore, ref: string, withWhom: string): Promise<{ account: string; readers: string[]; removed: string[] }> {
  const { account, me } = await ownedAccount(store, ref);
  return store.tx(async (q) => {
    const readers = await readersOf(q, store, account.id);
    const to = await recipients(store, q);
    const names = new Map((await activeMembers(q, store.teamId)).map((m) => [m.id, m.name]));
    let keep: typeof readers;
    if (withWhom === 'team') keep = readers.filter((r) => r.id === me.id);
    else {
      const target = await findMember(q, store, listedAs(to, withWhom));
      if (target.id === me.id) throw usageError('the owner of an account always reads it', 'delete the account instead');
      if (!readers.some((r) => r.id === target.id)) throw new AcctError('bad_input', `${label(account)} is not shared with ${target.name}`);
      keep = readers.filter((r) => r.id !== target.id);
    }
    const removed = readers.filter((r) => !keep.some((k) => k.id === r.id)).map((r) => names.get(r.id) ?? r.id);
    // The readers left are those the owner's grant covered and still covers: a reader the database alone lists gets no new key.
    const before = await decidedSoFar(store, q, to, account.id, label(account));
    const decision: Decision = { visibility: 'private', readers: keep.filter((r) => r.id !== me.id && covers({ ...before, owner: me.id }, r.id)).map((r) => r.id) };
    const granted = keep.filter((r) => covers({ ...decision, owner: me.id }, r.id) || void notGranted(store, r.name, label(account)));
    await rekeyAccount(store, q, me, account.id, wrappable(store, to, account.id, granted));
    await writeGrant(store, q, account.id, decision);
    await q('UPDATE acct.accounts SET visibility = $3 WHERE team_id = $1 AND id = $2', [store.teamId, account.id, visibilityOf(decision)]);
    return visibleDeep({ account: label(account), readers: granted.map((k) => names.get(k.id) ?? k.id), removed });
  });
}

/**
 * syncShares after a change that is done (a member added, an account shared,
 * the members listed): its failure is that change's warning, with how to do
 * it again, never the change's failure.
 */
export async function syncSharesAfter(store: TeamStore): Promise<void> {
  try {
    await syncShares(store);
  } catch (err) {
    store.warn(`could not wrap the keys shared with the whole team for the members who joined since (${err instanceof AcctError ? err.message : scrubLibraryText(errorMessage(err))}); any member who can read them does it with: acct team members ${store.name}`);
  }
}

/**
 * Accounts shared with the whole team, and the team's OAuth client secrets,
 * wrapped for members who joined after they were shared: done by any member
 * who can read them, whenever it runs `team members`, `share` or `add-ci`.
 * Returns how many keys it wrapped.
 */
export async function syncShares(store: TeamStore): Promise<number> {
  const { member, creds } = await store.connect();
  const keys = { publicKey: creds.publicKey, privateKey: creds.privateKey };
  return store.tx(async (q) => {
    let n = 0;
    // Each wrapped with the signed roster's key; members it does not list yet are left for when an admin confirms them.
    let to: Recipients | undefined;
    const keyFor = async (id: string) => {
      to ??= await recipients(store, q);
      if (!to.roster) throw noRoster(store);
      return to.key(id);
    };
    const missing = await q<GrantRow & { account_id: string; app: string; nickname: string; wrapped: unknown; key_version: number; member_id: string; member_name: string }>(
      `SELECT a.id, a.id AS account_id, a.app, a.nickname, ${GRANT_COLUMNS}, mine.wrapped, ${KEY_VERSION}, m.id AS member_id, m.name AS member_name
         FROM acct.accounts a
         JOIN acct.account_access mine ON mine.team_id = a.team_id AND mine.account_id = a.id AND mine.member_id = $2
         JOIN acct.account_secrets s ON s.team_id = a.team_id AND s.account_id = a.id
         JOIN acct.members m ON m.team_id = a.team_id AND m.removed_at IS NULL AND m.public_key IS NOT NULL
        WHERE a.team_id = $1 AND a.visibility = 'team'
          AND NOT EXISTS (SELECT 1 FROM acct.account_access x WHERE x.team_id = a.team_id AND x.account_id = a.id AND x.member_id = m.id)`,
      [store.teamId, member.id],
    );
    // A key that does not open for this member (altered in the database) is said, and stops no other.
    const open = (wrapped: unknown, item: string, keyVersion?: number): Buffer | undefined => {
      try {
        return keyVersion === undefined ? store.unwrap(wrapped, keys, item, member.id) : store.unwrapAccountKey(wrapped, keyVersion, keys, item, member.id);
      } catch (err) {
        store.warn(`${(err as Error).message}: not wrapped for the members who joined since`);
        return undefined;
      }
    };
    // Only for a member its owner's grant covers: the database's visibility alone wraps it for no one.
    const checked = new Map<string, Checked>();
    const said = new Set<string>();
    const once = (message: string) => void (said.has(message) || (said.add(message), store.warn(message)));
    const grants = await hasGrants(q);
    for (const r of missing) {
      const publicKey = await keyFor(r.member_id);
      if (!publicKey) continue;
      const what = `${visibleDeep(r.app)}/${visibleDeep(r.nickname)} (${r.account_id})`;
      const c = checked.get(r.account_id) ?? verifiedGrant(store, r, to!.roster, creds);
      checked.set(r.account_id, c);
      if ('bad' in c) {
        once(badGrant(store, what, c.bad));
        continue;
      }
      // From before grants: its owner shares it again (a grant the database dropped is no reason to take its word); a schema without grants has only the database's.
      if ('none' in c && grants) {
        once(
          r.owner === member.id
            ? `${what} has no signed grant (it was made before acct signed them): it is wrapped for no member who joined since until you share it again: acct share ${store.name}:${visibleDeep(r.app)}/${visibleDeep(r.nickname)} --with team`
            : `${what} has no signed grant from its owner (it was made before acct signed them): only its owner wraps it for members who joined since`,
        );
        continue;
      }
      if ('none' in c && r.owner !== member.id) continue;
      if ('grant' in c && !covers(c.grant, r.member_id)) {
        once(`the database says ${what} in team ${store.name} is shared with the whole team, but its owner did not share it with ${visibleDeep(r.member_name)}: nothing is wrapped for them`);
        continue;
      }
      const key = open(r.wrapped, r.account_id, r.key_version);
      if (!key) continue;
      await q('INSERT INTO acct.account_access (team_id, account_id, member_id, wrapped, granted_by) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING', [
        store.teamId,
        r.account_id,
        r.member_id,
        wrapKey(key, publicKey, wrapInfo(store.teamId, r.account_id, r.member_id, r.key_version)),
        member.id,
      ]);
      n++;
    }
    const clients = await q<{ app: string; wrapped: unknown; member_id: string }>(
      `SELECT c.app, mine.wrapped, m.id AS member_id
         FROM acct.clients c
         JOIN acct.client_access mine ON mine.team_id = c.team_id AND mine.app = c.app AND mine.member_id = $2
         JOIN acct.members m ON m.team_id = c.team_id AND m.removed_at IS NULL AND m.public_key IS NOT NULL
        WHERE c.team_id = $1 AND NOT EXISTS (SELECT 1 FROM acct.client_access x WHERE x.team_id = c.team_id AND x.app = c.app AND x.member_id = m.id)`,
      [store.teamId, member.id],
    );
    for (const r of clients) {
      const publicKey = await keyFor(r.member_id);
      if (!publicKey) continue;
      const item = `client:${r.app}`;
      const key = open(r.wrapped, item);
      if (!key) continue;
      await q('INSERT INTO acct.client_access (team_id, app, member_id, wrapped) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [store.teamId, r.app, r.member_id, wrapKey(key, publicKey, wrapInfo(store.teamId, item, r.member_id))]);
      n++;
    }
    return n;
  });
}
