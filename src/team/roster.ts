// The team's signed roster: who is in the team, with which keys, as its
// admins vouched for it. acct.members is whatever the database says (its
// administrator, the owner role or a restored backup can change any row);
// a client wraps an account's key only for a key in the newest roster
// version it verified.
//
// A version is a canonical JSON body {team, version, prev (the previous
// body's SHA-256), signer, members: [{id, name, role, admin, ci, x25519,
// ed25519}], removed: [member ids]} signed (Ed25519) by an admin listed in
// the previous version (`removed`, the ids `team remove` took out ever, is
// left out of the text when empty: versions from before it read as none);
// version 1, made by `team create`, is signed by the creator and lists it.
// A machine keeps the newest version it accepted (teams.json, or in memory
// from ACCT_TEAM_KEY's pin in CI) and accepts a later one only through an
// unbroken chain of such signatures from it: a gap, a bad signature, a
// signer that was no admin, another body at a version it knows, or fewer
// versions than it has seen is roster_untrusted, and nothing is wrapped.
//
// Members get into a version this way: `team join` publishes the joiner's
// two public keys with a MAC over them keyed by a secret in the invitation
// code; the inviting admin sealed that secret in the database under a key
// only it derives (from its own private key), and its next admin command
// (members, share, invite, add-ci, remove) checks the MAC and signs a
// version with the member in it, unless the invitation's sealed expiry
// passed or the id was listed in (or removed from) any verified version
// before: a used invitation never confirms anyone again. add-ci makes the CI
// member's keys itself and lists it at once; remove signs a version without
// the member, its id added to `removed`.
//
// What a roster cannot do: show a client a version the database hides from
// it (a client only detects a rollback below what it has seen), or stop the
// database from serving an account's older sealed secrets.
import { AcctError, visibleDeep } from '../errors.js';
import { seal, open, isSealed } from '../store/crypto.js';
import { isObject } from '../store/files.js';
import type { MemberCredentials, RosterPin } from './config.js';
import { agreedKey, macOf, newSigningKeys, sameMac, selfKey, sha256, signBytes, verifyBytes } from './seal.js';
import type { TeamStore, TxQuery, Member } from './store.js';

export interface RosterMember {
  id: string;
  name: string;
  role: string;
  admin: boolean;
  ci: boolean;
  /** base64 raw X25519 public key: what account keys are wrapped for. */
  x25519: string;
  /** base64 raw Ed25519 public key; null for a member of a team from before rosters until it publishes one and an admin confirms it. */
  ed25519: string | null;
}

export interface RosterBody {
  team: string;
  version: number;
  prev: string | null;
  signer: string;
  members: RosterMember[];
  /**
   * The ids of every member `team remove` took out, ever: never listed
   * again through an invitation. Absent in the text when empty (versions from
   * before it have none, and read as an empty list).
   */
  removed?: string[];
}

export interface Roster {
  body: RosterBody;
  hash: string;
  /** Every member id listed in a verified version up to this one, or tombstoned: none of them is confirmed again through an invitation. */
  known?: ReadonlySet<string>;
}

export const pinOf = (r: Roster): RosterPin => ({ version: r.body.version, hash: r.hash });

const signed = (text: string) => Buffer.from(`acct-roster:v1\n${text}`, 'utf8');
const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** The one text of a body: fixed key order, members by id. What is hashed and signed. */
export function rosterText(b: RosterBody): string {
  return JSON.stringify({
    team: b.team,
    version: b.version,
    prev: b.prev,
    signer: b.signer,
    members: [...b.members].sort(byId).map((m) => ({ id: m.id, name: m.name, role: m.role, admin: m.admin, ci: m.ci, x25519: m.x25519, ed25519: m.ed25519 })),
    ...(b.removed?.length ? { removed: [...new Set(b.removed)].sort() } : {}),
  });
}

/** The ids a version lists or tombstones. */
const idsOf = (b: RosterBody) => [...b.members.map((m) => m.id), ...(b.removed ?? [])];

const isMember = (m: unknown): m is RosterMember =>
  isObject(m) &&
  typeof m.id === 'string' &&
  typeof m.name === 'string' &&
  typeof m.role === 'string' &&
  typeof m.admin === 'boolean' &&
  typeof m.ci === 'boolean' &&
  typeof m.x25519 === 'string' &&
  (m.ed25519 === null || typeof m.ed25519 === 'string');

/** A body as stored, or undefined when it is not one in its canonical text. */
function parseBody(text: string): RosterBody | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (!isObject(v) || typeof v.team !== 'string' || !Number.isSafeInteger(v.version) || (v.prev !== null && typeof v.prev !== 'string') || typeof v.signer !== 'string') return undefined;
    if (!Array.isArray(v.members) || !v.members.every(isMember)) return undefined;
    if (v.removed !== undefined && (!Array.isArray(v.removed) || !v.removed.every((id) => typeof id === 'string'))) return undefined;
    const body = v as unknown as RosterBody;
    return rosterText(body) === text ? body : undefined;
  } catch {
    return undefined;
  }
}

export interface RosterRow {
  version: number;
  body: string;
  signature: string;
  signer: string;
}

/** The error for a roster that does not verify: exit 5, and what happened. */
export function untrusted(team: string, detail: string, pin?: RosterPin): AcctError {
  return new AcctError('roster_untrusted', `the signed roster of team ${team} in its database does not verify: ${detail}`, {
    hint:
      `someone who is not an admin of ${team} changed the team's roster in the database (or it was restored from an old backup): nothing was shared or wrapped. ` +
      `Have the database checked (table acct.rosters)${pin ? `; this machine trusts roster version ${pin.version} and only versions signed in a chain from it` : ''}`,
  });
}

/**
 * Verifies rows (every version from the pin's on, ascending) against the
 * pin: the pinned version's hash, then each next version's link and its
 * signature by an admin of the version before. Without a pin the chain
 * starts at a self-signed version 1 (only a check of its form: anyone who
 * writes the database can make one; verifiedRoster never takes it). Returns the
 * newest version, or undefined when there is none and nothing was pinned.
 */
export function verifyChain(teamId: string, team: string, all: readonly RosterRow[], pin: RosterPin | undefined): { roster: Roster } | undefined {
  const fail = (detail: string) => untrusted(team, detail, pin);
  // Versions before the pin: only read for the ids they listed, each checked by its hash against the next one's link.
  const history = pin ? all.filter((r) => r.version < pin.version) : [];
  const rows = pin ? all.filter((r) => r.version >= pin.version) : all;
  if (!rows.length) {
    if (pin) throw fail(`it has no version ${pin.version} or later, and this machine has seen version ${pin.version}: the roster was rolled back or deleted`);
    return undefined;
  }
  const parse = (row: RosterRow): RosterBody => {
    const body = parseBody(row.body);
    if (!body || body.version !== row.version || body.team !== teamId || body.signer !== row.signer) throw fail(`version ${row.version} is malformed`);
    return body;
  };
  const signedBy = (row: RosterRow, body: RosterBody, by: RosterBody) => {
    const signer = by.members.find((m) => m.id === body.signer);
    if (!signer?.admin || !signer.ed25519) throw fail(`version ${row.version} is signed by ${body.signer}, who is no admin of version ${by.version}`);
    if (!verifyBytes(signer.ed25519, signed(row.body), row.signature)) throw fail(`the signature of version ${row.version} is not ${signer.name}'s`);
  };
  const first = rows[0]!;
  const known = new Set<string>();
  let cur: Roster;
  if (pin) {
    if (first.version !== pin.version) throw fail(`version ${pin.version}, which this machine accepted, is missing`);
    if (sha256(first.body) !== pin.hash) throw fail(`version ${pin.version} is not the one this machine accepted`);
    cur = { body: parse(first), hash: pin.hash };
    let next = cur.body;
    for (const row of [...history].reverse()) {
      if (row.version !== next.version - 1) break; // older versions hidden or gone: what they listed is not known here
      if (sha256(row.body) !== next.prev) throw fail(`version ${row.version} is not the one version ${next.version} follows`);
      next = parse(row);
      for (const id of idsOf(next)) known.add(id);
    }
  } else {
    if (first.version !== 1) throw fail('its first version is missing');
    const body = parse(first);
    if (body.prev !== null) throw fail('version 1 names a predecessor');
    signedBy(first, body, body);
    cur = { body, hash: sha256(first.body) };
  }
  for (const id of idsOf(cur.body)) known.add(id);
  for (const row of rows.slice(1)) {
    if (row.version !== cur.body.version + 1) throw fail(`version ${cur.body.version + 1} is missing`);
    const body = parse(row);
    if (body.prev !== cur.hash) throw fail(`version ${row.version} does not follow version ${cur.body.version}`);
    signedBy(row, body, cur.body);
    cur = { body, hash: sha256(row.body) };
    for (const id of idsOf(body)) known.add(id);
  }
  return { roster: { ...cur, known } };
}

/** Whether the team's schema has rosters (version 4); without, acct wraps for no one but the member itself. */
async function hasRosters(q: TxQuery): Promise<boolean> {
  const [r] = await q<{ has: boolean }>("SELECT to_regclass('acct.rosters') IS NOT NULL AS has");
  return r?.has === true;
}

/** The rows from version `from` on, ascending; undefined when the schema has no rosters. */
export async function rosterRows(q: TxQuery, teamId: string, from: number): Promise<RosterRow[] | undefined> {
  if (!(await hasRosters(q))) return undefined;
  return q<RosterRow>('SELECT version, body, signature, signer FROM acct.rosters WHERE team_id = $1 AND version >= $2 ORDER BY version', [teamId, from]);
}

/** A version's fingerprint, as people compare it: the first 16 hex digits of its SHA-256, in groups of four. */
export const fingerprintOf = (hash: string) => Buffer.from(hash, 'base64url').toString('hex').slice(0, 16).replace(/(.{4})(?=.)/g, '$1 ');

/** A machine with no pin for a team that has a roster (it joined before rosters): it wraps nothing until its user trusts a version. */
export function unpinned(team: string): AcctError {
  return new AcctError('roster_unpinned', `this machine has not trusted a version of team ${team}'s signed roster yet (it joined before signed rosters), so it wraps keys for no other member`, {
    hint: `ask an admin for the roster's fingerprint (acct team members ${team} on their machine shows it) and run acct team trust ${team} <fingerprint>`,
  });
}

/**
 * The newest roster version that verifies from this machine's pin, accepted
 * (the pin moves to it); undefined when the team has none. A machine with
 * no pin (it joined before rosters) takes none on trust: roster_unpinned,
 * until `acct team trust` pins the version an admin vouches for.
 */
export async function verifiedRoster(store: TeamStore, q: TxQuery): Promise<Roster | undefined> {
  const pin = store.team.roster;
  // From version 1: the versions before the pin say which ids were ever listed (never confirmed again through an invitation).
  const rows = await rosterRows(q, store.teamId, 1);
  if (rows === undefined) {
    if (pin) throw untrusted(store.name, 'its database has no roster table', pin);
    return undefined;
  }
  // An ACCT_TEAM_KEY from before rosters has no pin, and keeps none from one run to the next: it trusts no roster (and wraps for no one).
  if (!pin && store.team.source === 'env') return undefined;
  // A self-signed version 1 is something anyone who can write the database can make: without a pin, none is taken.
  if (!pin && rows.length) throw unpinned(store.name);
  const v = verifyChain(store.teamId, store.name, rows, pin);
  if (!v) return undefined;
  store.acceptRoster(pinOf(v.roster));
  return v.roster;
}

/** A members row, as the roster's tending reads it. */
export interface MemberRow {
  id: string;
  name: string;
  role_name: string;
  public_key: string | null;
  signing_key: string | null;
  proof: { join?: unknown; x25519?: Record<string, unknown> } | null;
  invitation: unknown;
  invited_by: string | null;
  is_admin: boolean;
  is_ci: boolean;
  joined_at: Date | null;
  removed_at: Date | null;
}

export async function memberRows(q: TxQuery, teamId: string): Promise<MemberRow[]> {
  return q<MemberRow>(
    // The columns of version 4 through the row as JSON: a schema from before rosters answers null.
    `SELECT id, name, role_name, public_key, to_jsonb(m)->>'signing_key' AS signing_key, to_jsonb(m)->'proof' AS proof, to_jsonb(m)->'invitation' AS invitation,
            invited_by, is_admin, is_ci, joined_at, removed_at
       FROM acct.members m WHERE team_id = $1 ORDER BY removed_at NULLS FIRST, name`,
    [teamId],
  );
}

// Invitations: the secret a joiner proves its keys with, sealed by the inviting admin for itself.

export interface InvitationTerms {
  secret: string;
  name: string;
  role: string;
  admin: boolean;
  /** When the invitation stops working (ISO): no confirmation after it. Sealed, so the database cannot move it; invitations from before it have none, and are confirmed no more. */
  expires?: string;
}

const invitationInfo = (teamId: string, memberId: string) => `acct-invitation:v1:${teamId}:${memberId}`;

export function sealInvitation(creds: MemberCredentials, memberId: string, terms: InvitationTerms): unknown {
  const info = invitationInfo(creds.teamId, memberId);
  return seal(selfKey(creds.privateKey, info), Buffer.from(JSON.stringify(terms), 'utf8'), info);
}

function openInvitation(creds: MemberCredentials, memberId: string, sealed: unknown): InvitationTerms | undefined {
  try {
    if (!isSealed(sealed)) return undefined;
    const info = invitationInfo(creds.teamId, memberId);
    const t = JSON.parse(open(selfKey(creds.privateKey, info), sealed, info).toString('utf8')) as InvitationTerms;
    return typeof t.secret === 'string' && typeof t.name === 'string' && typeof t.role === 'string' && typeof t.admin === 'boolean' && (t.expires === undefined || typeof t.expires === 'string') ? t : undefined;
  } catch {
    return undefined; // not sealed by this admin for this member: no confirmation
  }
}

/** The joiner's proof: a MAC keyed by the invitation's secret over what the admin will list. */
export const joinProof = (secret: string, teamId: string, memberId: string, name: string, x25519: string, ed25519: string) =>
  macOf(Buffer.from(secret, 'base64url'), ['acct-join:v1', teamId, memberId, name, x25519, ed25519]);

/** A member from before signing keys proves its new Ed25519 key to each admin by an X25519 agreement with that admin. */
const signingKeyProof = (key: Buffer, teamId: string, memberId: string, x25519: string, ed25519: string) => macOf(key, ['acct-signing-key:v1', teamId, memberId, x25519, ed25519]);
const agreementInfo = (teamId: string, memberId: string) => `acct-signing-key:v1:${teamId}:${memberId}`;

/** Errors for a member a key cannot be wrapped for yet. */
export function noRoster(store: Pick<TeamStore, 'name' | 'team'>): AcctError {
  const team = store.name;
  if (store.team.source === 'env' && !store.team.roster)
    return new AcctError('roster_missing', `this ACCT_TEAM_KEY for team ${team} was printed before signed rosters: it has no roster to check the team's against, so it wraps keys for no other member`, {
      hint: `it still reads and refreshes what is shared with it; for one that also wraps, an admin makes a new key: acct team add-ci ${team} --name <ci member>`,
    });
  return new AcctError('roster_missing', `team ${team} has no signed roster yet, so acct wraps keys for no other member`, {
    hint: `an admin of ${team} makes one: acct team upgrade (as the role that created the team) if its schema is older, then acct team members ${team} on the admin's machine`,
  });
}

export function unconfirmed(team: string, name: string, waitingFor: string | undefined): AcctError {
  return new AcctError('member_unconfirmed', `${name} has joined team ${team} but is not confirmed yet: no admin has checked that the key is the one that joined with the invitation`, {
    hint: `${waitingFor ?? 'the admin who invited them'} confirms it by running acct team members ${team} on their machine; then share again`,
  });
}

const said = new WeakMap<TeamStore, Set<string>>();
/** A warning said once per store (a command builds its recipients more than once). */
function warnOnce(store: TeamStore, message: string): void {
  const seen = said.get(store) ?? new Set<string>();
  said.set(store, seen);
  if (seen.has(message)) return;
  seen.add(message);
  store.warn(message);
}

/** The members a key may be wrapped for: in the verified roster and active in the database, with the roster's key; and this member, with its own. */
export class Recipients {
  constructor(
    private readonly store: TeamStore,
    readonly roster: Roster | undefined,
    readonly rows: readonly MemberRow[],
    private readonly self: { id: string; publicKey: string },
  ) {
    // A key in the members table that is not the roster's: someone changed the row. The roster's is used.
    for (const m of roster?.body.members ?? []) {
      const row = rows.find((r) => r.id === m.id && !r.removed_at);
      // Removed in the database only: kept in the roster (only team remove takes a member out), and wrapped for by no one meanwhile.
      if (!row && m.id !== self.id)
        warnOnce(store, `the database says ${visibleDeep(m.name)} was removed from team ${store.name}, but no admin removed them: nothing is wrapped for them; run acct team remove ${store.name} ${visibleDeep(m.name)} to confirm`);
      if (row && row.public_key !== m.x25519 && m.id !== self.id)
        store.warn(`the key of member ${row.name} in the database of team ${store.name} is not the one its signed roster holds (someone changed acct.members): acct wraps for the roster's key only`);
    }
  }

  /** The key to wrap for, or undefined: not a member the roster lists (or no longer active). */
  key(id: string): string | undefined {
    if (id === this.self.id) return this.self.publicKey;
    const row = this.rows.find((r) => r.id === id && !r.removed_at);
    if (!row) return undefined;
    return this.roster?.body.members.find((m) => m.id === id)?.x25519;
  }

  /** The key, or the error that says why there is none. */
  require(id: string, name: string): string {
    const key = this.key(id);
    if (key) return key;
    if (!this.roster) throw noRoster(this.store);
    throw unconfirmed(this.store.name, name, this.confirmer(id));
  }

  /** Who is to confirm a member who joined: the admin who invited it, by name. */
  confirmer(id: string): string | undefined {
    const by = this.rows.find((r) => r.id === id)?.invited_by;
    return by ? this.rows.find((r) => r.id === by)?.name : undefined;
  }
}

/**
 * Recipients for a transaction: the roster verified in it (or `written`, a
 * version this transaction added, which is accepted only once it commits),
 * the members rows.
 */
export async function recipients(store: TeamStore, q: TxQuery, written?: Roster | 'none'): Promise<Recipients> {
  const roster = written === 'none' ? undefined : (written ?? (await verifiedRoster(store, q)));
  const { creds } = await store.connect();
  return new Recipients(store, roster, await memberRows(q, store.teamId), { id: creds.memberId, publicKey: creds.publicKey });
}

/** A body's text and its signature with an Ed25519 private key (PKCS#8, base64). */
export function signRoster(body: RosterBody, signingKey: string): { text: string; signature: string } {
  const text = rosterText(body);
  return { text, signature: signBytes(signingKey, signed(text)) };
}

/** Signs a body with this member's key and adds it. */
async function insertRoster(q: TxQuery, body: RosterBody, creds: MemberCredentials): Promise<Roster> {
  const { text, signature } = signRoster(body, creds.signingKey!);
  await q('INSERT INTO acct.rosters (team_id, version, body, signature, signer) VALUES ($1, $2, $3, $4, $5)', [body.team, body.version, text, signature, body.signer]);
  return { body, hash: sha256(text) };
}

/** In a transaction: versions are added one at a time, by whichever admin takes this lock first. */
const lockRoster = (q: TxQuery, teamId: string) => q('SELECT pg_advisory_xact_lock(hashtext($1))', [`acct-roster:${teamId}`]);

/** Whether this admin's key signs for the team: it is an admin in the roster with the signing key it holds. */
export const canSign = (roster: Roster, creds: MemberCredentials) => {
  const self = roster.body.members.find((m) => m.id === creds.memberId);
  return Boolean(self?.admin && creds.signingPublicKey && self.ed25519 === creds.signingPublicKey);
};

function cannotSign(team: string): AcctError {
  return new AcctError('access_denied', `your signing key is not in the signed roster of team ${team} yet, so you cannot change who is in it`, {
    hint: `another admin confirms it by running acct team members ${team} on their machine`,
  });
}

/**
 * In a transaction: a new roster version made from the newest by `change`,
 * signed by this admin. The caller accepts it (store.acceptRoster) once the
 * transaction committed.
 */
export async function amendRoster(store: TeamStore, q: TxQuery, change: (members: RosterMember[]) => RosterMember[], tombstone?: string): Promise<Roster> {
  await lockRoster(q, store.teamId);
  const current = await verifiedRoster(store, q);
  if (!current) throw noRoster(store);
  const { creds } = await store.connect();
  if (!canSign(current, creds)) throw cannotSign(store.name);
  const removed = [...(current.body.removed ?? []), ...(tombstone ? [tombstone] : [])];
  return insertRoster(q, { team: store.teamId, version: current.body.version + 1, prev: current.hash, signer: creds.memberId, members: change(current.body.members), removed }, creds);
}

/** Version 1, by `team create`: the creator alone, self-signed. */
export async function firstRoster(q: TxQuery, creds: MemberCredentials, self: Omit<RosterMember, 'x25519' | 'ed25519'>): Promise<Roster> {
  return insertRoster(q, { team: creds.teamId, version: 1, prev: null, signer: creds.memberId, members: [{ ...self, x25519: creds.publicKey, ed25519: creds.signingPublicKey! }] }, creds);
}

/** A member's entry, as an admin who made its keys lists it (add-ci). */
export const entryOf = (m: Omit<RosterMember, 'ed25519'> & { ed25519?: string | null }): RosterMember => ({ ...m, ed25519: m.ed25519 ?? null });

/**
 * What every roster command does first. Any member: makes itself a signing
 * key if its credentials predate them, and publishes it (with a proof for
 * each admin). An admin: writes version 1 for a team that has none (from
 * the members the database lists: trust on first use, said), and a new
 * version with the joins it can confirm (the MAC of the invitation it made
 * checks) and the signing keys published since (their proof checks); a join
 * whose MAC does not check is said, and never listed.
 */
export async function tendRoster(store: TeamStore): Promise<void> {
  const me = await store.member();
  const { creds } = await store.connect();
  await ensureSigningKey(store, creds);
  const written = await store.tx(async (q) => {
    if (!(await hasRosters(q))) return undefined;
    if (me.isAdmin) await lockRoster(q, store.teamId);
    const current = await verifiedRoster(store, q);
    const rows = await memberRows(q, store.teamId);
    // Published with a proof for each admin of the roster there is; with none yet, only by the admin about to write version 1 (it signs that itself).
    if (current || me.isAdmin) await publishSigningKey(store, q, creds, current, rows);
    if (!me.isAdmin || !creds.signingKey) return undefined;
    const next = current ? confirmations(store, me, creds, current, rows) : bootstrap(store, creds, rows);
    return next && insertRoster(q, next, creds);
  });
  if (!written) return;
  store.acceptRoster(pinOf(written));
  if (written.body.version === 1)
    store.warn(
      `the fingerprint of roster version 1 of team ${store.name} is ${fingerprintOf(written.hash)}: give it to the other members yourself (not through the database), ` +
        `and each runs acct team trust ${store.name} <fingerprint> on their machine before it wraps keys for anyone`,
    );
}

/** Credentials from before signing keys get one, kept in the machine's store (not in CI: ACCT_TEAM_KEY cannot change; a CI member signs nothing). */
async function ensureSigningKey(store: TeamStore, creds: MemberCredentials): Promise<void> {
  if (creds.signingKey || !store.canSaveCredentials) return;
  const keys = newSigningKeys();
  await store.saveCredentials({ ...creds, ...keys });
  Object.assign(creds, keys);
}

async function publishSigningKey(store: TeamStore, q: TxQuery, creds: MemberCredentials, current: Roster | undefined, rows: readonly MemberRow[]): Promise<void> {
  const row = rows.find((r) => r.id === creds.memberId);
  if (!creds.signingPublicKey || !row || row.removed_at || row.signing_key) return;
  const proofs = Object.fromEntries(
    (current?.body.members ?? [])
      .filter((m) => m.admin && m.id !== creds.memberId)
      .map((m) => [m.id, signingKeyProof(agreedKey(creds.privateKey, m.x25519, agreementInfo(store.teamId, creds.memberId)), store.teamId, creds.memberId, creds.publicKey, creds.signingPublicKey!)]),
  );
  await q('SELECT acct.set_my_signing_key($1, $2, $3)', [store.teamId, creds.signingPublicKey, { x25519: proofs }]);
  row.signing_key = creds.signingPublicKey;
}

function bootstrap(store: TeamStore, creds: MemberCredentials, rows: readonly MemberRow[]): RosterBody {
  const active = rows.filter((r) => !r.removed_at && r.public_key);
  store.warn(
    `team ${store.name} had no signed roster: wrote version 1 from the members its database lists now (${active.map((r) => r.name).join(', ')}), trusting it as it is. ` +
      `Check them with acct team members ${store.name}; from now on a member's key counts only once an admin confirms it`,
  );
  return {
    team: store.teamId,
    version: 1,
    prev: null,
    signer: creds.memberId,
    members: active.map((r) => ({
      id: r.id,
      name: r.name,
      role: r.role_name,
      admin: r.is_admin,
      ci: r.is_ci,
      x25519: r.id === creds.memberId ? creds.publicKey : r.public_key!,
      ed25519: r.id === creds.memberId ? creds.signingPublicKey! : null,
    })),
  };
}

function confirmations(store: TeamStore, me: Member, creds: MemberCredentials, current: Roster, rows: readonly MemberRow[]): RosterBody | undefined {
  if (!canSign(current, creds)) return undefined;
  const active = new Map(rows.filter((r) => !r.removed_at).map((r) => [r.id, r]));
  // A member the database says was removed stays: only team remove takes one out of the roster (Recipients wraps nothing for it meanwhile).
  let changed = false;
  const members = current.body.members.map((m) => {
    const row = active.get(m.id);
    if (!row || m.ed25519 || !row.signing_key || m.id === me.id) return m;
    const proof = row.proof?.x25519?.[me.id];
    const expected = signingKeyProof(agreedKey(creds.privateKey, m.x25519, agreementInfo(store.teamId, m.id)), store.teamId, m.id, m.x25519, row.signing_key);
    if (!sameMac(proof, expected)) return m;
    changed = true;
    return { ...m, ed25519: row.signing_key };
  });
  for (const row of active.values()) {
    if (!row.public_key || members.some((m) => m.id === row.id) || row.invited_by !== me.id) continue;
    // A member that was ever listed, or removed: its invitation was used, and the database cannot bring it back.
    if (current.known?.has(row.id)) {
      store.warn(`${row.name} in team ${store.name} is not confirmed: that member was in the team's signed roster before and left it (the database brought the row back); invite them again if they are to be in it`);
      continue;
    }
    const terms = openInvitation(creds, row.id, row.invitation);
    if (terms && !(terms.expires !== undefined && Date.parse(terms.expires) > Date.now())) {
      store.warn(`${row.name} in team ${store.name} is not confirmed: its invitation ${terms.expires ? `expired on ${terms.expires}` : 'has no expiry (made by an older acct)'} before an admin confirmed it (acct team remove ${store.name} ${row.name}, then invite again)`);
      continue;
    }
    const ok = terms && row.signing_key && sameMac(row.proof?.join, joinProof(terms.secret, store.teamId, row.id, terms.name, row.public_key, row.signing_key));
    if (!terms || !ok) {
      store.warn(`${row.name} in team ${store.name} is not confirmed: its key was not the one that joined with the invitation (acct team remove ${store.name} ${row.name}, then invite again)`);
      continue;
    }
    members.push({ id: row.id, name: terms.name, role: terms.role, admin: terms.admin, ci: false, x25519: row.public_key, ed25519: row.signing_key });
    changed = true;
  }
  return changed ? { team: store.teamId, version: current.body.version + 1, prev: current.hash, signer: me.id, members, removed: current.body.removed ?? [] } : undefined;
}
