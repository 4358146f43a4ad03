// An account's grant: its owner's signed word on who reads it. The
// database's acct.accounts.visibility and acct.account_access rows are
// whatever it says (its administrator can flip an account to the team, or
// plant a reader row); a client wraps an account's key only for a member the
// owner's grant covers: the owner, every member of the verified roster when
// it is shared with the team, and the readers it lists that the roster
// holds.
//
// A grant is a canonical JSON body {team, account, owner, visibility
// ('private' | 'team'), readers (member ids, sorted), version (one more at
// each change)} signed (Ed25519) by the owner, kept with the account
// (grant_text, grant_sig; schema version 5). `connect --team`, `share` and
// `unshare` write one in the transaction of their change. It is checked
// against the owner's key in the verified roster (the owner's own machine:
// the key it holds); one that does not check covers no one but the owner.
// An account with none (made before grants, or on a schema without them)
// is wrapped for by its owner alone: its next share or unshare writes one
// from what the database shows, and says so.
//
// Each machine keeps the highest grant version it verified of each account
// (teams.json, like key versions): an older one, or none where it saw one,
// is a database putting back who read the account before (verifiedGrant).
// A machine that never saw the newer grant cannot tell: in practice every
// machine but the owner's, since reads check no grant, so a reader's
// syncShares can still be shown an older team-wide grant.
import { visibleDeep } from '../errors.js';
import { isObject } from '../store/files.js';
import type { MemberCredentials } from './config.js';
import type { Roster } from './roster.js';
import { signBytes, verifyBytes } from './seal.js';
import type { TeamStore, TxQuery } from './store.js';

export interface GrantBody {
  team: string;
  account: string;
  owner: string;
  visibility: 'private' | 'team';
  readers: string[];
  version: number;
}

/** What the owner decides: the rest of a body is the account's. */
export type Decision = Pick<GrantBody, 'visibility' | 'readers'>;

const signed = (text: string) => Buffer.from(`acct-grant:v1\n${text}`, 'utf8');

/** The one text of a body: fixed key order, readers sorted and once each. What is signed. */
export function grantText(g: GrantBody): string {
  return JSON.stringify({ team: g.team, account: g.account, owner: g.owner, visibility: g.visibility, readers: [...new Set(g.readers)].sort(), version: g.version });
}

function parseGrant(text: string): GrantBody | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (!isObject(v) || typeof v.team !== 'string' || typeof v.account !== 'string' || typeof v.owner !== 'string' || !Number.isSafeInteger(v.version)) return undefined;
    if ((v.visibility !== 'private' && v.visibility !== 'team') || !Array.isArray(v.readers) || !v.readers.every((r) => typeof r === 'string')) return undefined;
    const body = v as unknown as GrantBody;
    return grantText(body) === text ? body : undefined;
  } catch {
    return undefined;
  }
}

export function signGrant(g: GrantBody, signingKey: string): { text: string; signature: string } {
  const text = grantText(g);
  return { text, signature: signBytes(signingKey, signed(text)) };
}

/** An account's row as a grant is checked against it. */
export interface GrantRow {
  id: string;
  owner: string;
  visibility: 'private' | 'shared' | 'team';
  grant_text: string | null;
  grant_sig: string | null;
}

/** The grant columns through the row as JSON: a schema from before grants answers null. */
export const GRANT_COLUMNS = "a.owner, a.visibility, to_jsonb(a)->>'grant_text' AS grant_text, to_jsonb(a)->>'grant_sig' AS grant_sig";

export async function grantRow(q: TxQuery, teamId: string, accountId: string): Promise<GrantRow | undefined> {
  const [row] = await q<GrantRow>(`SELECT a.id, ${GRANT_COLUMNS} FROM acct.accounts a WHERE a.team_id = $1 AND a.id = $2`, [teamId, accountId]);
  return row;
}

/** Whether the team's schema keeps grants (version 5). */
export async function hasGrants(q: TxQuery): Promise<boolean> {
  const [r] = await q<{ has: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = 'acct.accounts'::regclass AND attname = 'grant_text' AND NOT attisdropped) AS has");
  return r?.has === true;
}

/** A grant checked: the one its owner signed, none (made before grants), or why it does not check. */
export type Checked = { grant: GrantBody } | { none: true } | { bad: string };

/**
 * Checks a row's grant against its owner's signing key: this machine's own
 * when it is the owner, else the one `roster` holds for the owner.
 */
export function checkGrant(teamId: string, row: GrantRow, roster: Roster | undefined, creds: MemberCredentials): Checked {
  if (row.grant_text === null && row.grant_sig === null) return { none: true };
  const body = row.grant_text === null ? undefined : parseGrant(row.grant_text);
  if (!body || body.team !== teamId || body.account !== row.id) return { bad: 'it is malformed, or not this account’s' };
  if (body.owner !== row.owner) return { bad: 'it names another owner than the account’s' };
  const key = row.owner === creds.memberId ? creds.signingPublicKey : roster?.body.members.find((m) => m.id === row.owner)?.ed25519;
  if (!key) return { bad: 'the signed roster holds no signing key for its owner' };
  if (!row.grant_sig || !verifyBytes(key, signed(row.grant_text!), row.grant_sig)) return { bad: 'its signature is not its owner’s' };
  return { grant: body };
}

/**
 * checkGrant, and no older than the newest grant of the account this machine
 * has verified (which is then recorded): a database that puts back an
 * account's earlier grant (one that still lists a member it was unshared
 * from), or takes it away, gets nothing wrapped for that account here.
 */
export function verifiedGrant(store: TeamStore, row: GrantRow, roster: Roster | undefined, creds: MemberCredentials): Checked {
  const c = checkGrant(store.teamId, row, roster, creds);
  const seen = store.versionSeen('grants', row.id);
  if ('none' in c && seen > 0) return { bad: `it is gone, and this machine has seen its version ${seen}` };
  if (!('grant' in c)) return c;
  if (c.grant.version < seen) return { bad: `it is an older one (version ${c.grant.version}) than this machine has seen (version ${seen})` };
  store.acceptVersion('grants', row.id, c.grant.version);
  return c;
}

/** Whether a grant covers a member (the roster decides then whether there is a key to wrap for). */
export const covers = (g: Decision & { owner: string }, id: string): boolean => id === g.owner || g.visibility === 'team' || g.readers.includes(id);

/** The warning for a reader the database lists and the grant does not cover. */
export const notGranted = (store: TeamStore, name: string, account: string): void =>
  store.warn(`the database lists ${visibleDeep(name)} as a reader of ${account} in team ${store.name}, but its owner did not share it with them: nothing is wrapped for them`);

/** The warning for a grant that does not check: nothing wrapped for that account. */
export const badGrant = (store: TeamStore, account: string, why: string): string =>
  `the signed grant of ${account} in the database of team ${store.name} does not verify (${why}): nothing is wrapped for it`;

/**
 * In the owner's transaction: signs and stores the account's next grant
 * (the version after the one stored). Nothing on a schema without grants, or
 * for credentials without a signing key (the owner's next roster command
 * makes one).
 */
export async function writeGrant(store: TeamStore, q: TxQuery, accountId: string, decision: Decision): Promise<GrantBody | undefined> {
  if (!(await hasGrants(q))) return undefined;
  const { creds } = await store.connect();
  if (!creds.signingKey) return undefined;
  const row = await grantRow(q, store.teamId, accountId);
  const before = row?.grant_text ? parseGrant(row.grant_text) : undefined;
  const body: GrantBody = {
    team: store.teamId,
    account: accountId,
    owner: creds.memberId,
    visibility: decision.visibility,
    readers: decision.readers.filter((r) => r !== creds.memberId),
    // After the newest this machine has seen too: one the database put back, or took away, is never signed over with a version others have seen.
    version: Math.max(before?.version ?? 0, store.versionSeen('grants', accountId)) + 1,
  };
  const { text, signature } = signGrant(body, creds.signingKey);
  await q('UPDATE acct.accounts SET grant_text = $3, grant_sig = $4 WHERE team_id = $1 AND id = $2', [store.teamId, accountId, text, signature]);
  store.afterCommit(q, () => store.acceptVersion('grants', accountId, body.version));
  return body;
}
