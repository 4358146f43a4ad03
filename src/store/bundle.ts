// The bundle format: accounts, their secrets, the user-added apps and OAuth
// clients they need, sealed with AES-256-GCM under a random key (printed once
// by `acct export`) or a scrypt-derived passphrase key. Versioned; the header
// is bound in as associated data, so any change to it or the payload fails.
import { nodeCrypto } from './node-crypto.js';
import { seal, open, isSealed, newScryptParams, deriveKeySync, isOurScrypt, type Sealed, type ScryptParams } from './crypto.js';
import { isObject } from './files.js';
import { AcctError, ExitCode } from '../errors.js';
import { ACCOUNT_ID_RE, ACCOUNT_STATUSES, APP_SLUG_RE, NICKNAME_RE, identityText, type Account } from '../accounts/model.js';
import { CONTROL_CHARACTER } from '../catalog/template.js';
import type { Fields } from './store.js';

export interface BundlePayload {
  accounts: Account[];
  secrets: Record<string, Fields>;
  /** User-added app definitions the accounts need. */
  apps: unknown[];
  /** OAuth clients per app slug, so CI can refresh. */
  clients: Record<string, { clientId: string; clientSecret?: string }>;
  defaults: Record<string, string>;
}

interface BundleFile {
  format: 'acct-bundle';
  version: 1;
  id: string;
  created_at: string;
  kdf: ({ name: 'scrypt' } & ScryptParams) | null;
  sealed: Sealed;
}

const KEY_PREFIX = 'acctk1_';
/** A bundle of 10,000 accounts is a few MB; anything far larger is not one of ours. */
export const MAX_BUNDLE_BYTES = 64 * 1024 * 1024;
const bad = (message: string, hint: string) => new AcctError('usage', message, { hint });
/** The key or passphrase does not open the bundle: a store's wrong passphrase (exit 6), as for the passphrase store. */
const wrongKey = (message: string, hint: string) => new AcctError('wrong_passphrase', message, { hint });
const aad = (f: Pick<BundleFile, 'id' | 'version' | 'kdf'>) => `acct-bundle:${f.version}:${f.id}:${JSON.stringify(f.kdf)}`;

export function newBundleKey(): { key: Buffer; printable: string } {
  const key = nodeCrypto().randomBytes(32);
  return { key, printable: KEY_PREFIX + key.toString('base64url') };
}

export function sealBundle(payload: BundlePayload, secret: { key: Buffer } | { passphrase: string }, now: Date): string {
  const id = `bd_${nodeCrypto().randomBytes(8).toString('hex')}`;
  let kdf: BundleFile['kdf'] = null;
  let key: Buffer;
  if ('key' in secret) key = secret.key;
  else {
    const params = newScryptParams();
    kdf = { name: 'scrypt', ...params };
    key = deriveKeySync(secret.passphrase, params);
  }
  const header = { format: 'acct-bundle' as const, version: 1 as const, id, created_at: now.toISOString(), kdf };
  const file: BundleFile = { ...header, sealed: seal(key, Buffer.from(JSON.stringify(payload)), aad(header)) };
  return JSON.stringify(file) + '\n';
}

export interface OpenedBundle {
  id: string;
  key: Buffer;
  payload: BundlePayload;
}

/** `source` names where the bundle came from, for errors. */
export function openBundle(text: string, keyOrPassphrase: string, source: string): OpenedBundle {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch {
    throw bad(`${source} is not an acct bundle (it is not valid JSON; truncated?)`, 'export it again with acct export');
  }
  if (!isObject(file) || file.format !== 'acct-bundle') throw bad(`${source} is not an acct bundle`, 'export one with acct export');
  if (file.version !== 1) throw bad(`${source} is a version ${String(file.version)} bundle; this acct reads version 1`, 'upgrade acct');
  if (typeof file.id !== 'string' || !isSealed(file.sealed) || !(file.kdf === null || isObject(file.kdf)))
    throw bad(`${source} is damaged (its header is incomplete)`, 'export it again');
  const f = file as unknown as BundleFile;
  let key: Buffer;
  if (f.kdf) {
    // The key derivation runs before the header can be authenticated (its key
    // is what it derives), so its parameters must be the ones acct writes: an
    // edited N of 2^30 would otherwise mean minutes and gigabytes of scrypt.
    if (!isOurScrypt(f.kdf, 'scrypt'))
      throw bad(`${source} is damaged or was altered (its key derivation parameters are not ones acct writes)`, 'export it again with acct export --passphrase-stdin');
    key = deriveKeySync(keyOrPassphrase, f.kdf);
  }
  else {
    if (!keyOrPassphrase.startsWith(KEY_PREFIX)) throw wrongKey('ACCT_BUNDLE_KEY is not a bundle key (it starts with acctk1_)', 'use the key that acct export printed');
    key = Buffer.from(keyOrPassphrase.slice(KEY_PREFIX.length), 'base64url');
    if (key.length !== 32) throw wrongKey('ACCT_BUNDLE_KEY is malformed (wrong length)', 'copy the whole key that acct export printed');
  }
  let plain: Buffer;
  try {
    plain = open(key, f.sealed, aad(f));
  } catch {
    // Sealing cannot tell a wrong key from an altered bundle; a wrong key is what happens.
    throw wrongKey(`cannot open ${source}: wrong key${f.kdf ? ' (passphrase)' : ''}, or the bundle was altered or truncated`, 'check ACCT_BUNDLE_KEY, or export the bundle again');
  }
  let raw: unknown;
  try {
    raw = JSON.parse(plain.toString('utf8'));
  } catch {
    throw bad(`${source} is damaged (its contents are not JSON)`, 'export it again');
  }
  return { id: f.id, key, payload: checkPayload(raw, source) };
}

/**
 * A field's name: a catalog field (snake_case) or a member an OAuth
 * provider's token response had (instance_url, id_token); never a path.
 */
export const FIELD_KEY_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;

/** A string from a bundle quoted in a message: escaped by JSON (no control character reaches the terminal), and short. */
const quoted = (v: unknown): string => (typeof v === 'string' ? JSON.stringify(v.length > 64 ? `${v.slice(0, 64)}…` : v) : `a ${v === null ? 'null' : Array.isArray(v) ? 'list' : typeof v}`);
const isTime = (v: unknown): v is string => typeof v === 'string' && !Number.isNaN(Date.parse(v));
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string' && !CONTROL_CHARACTER.test(x));
const isStringRecord = (v: unknown): v is Record<string, string> => isObject(v) && Object.values(v).every((x) => typeof x === 'string');

/**
 * The payload as acct writes it, or a usage error naming the first entry
 * that is not. The sealing proves only that whoever made the bundle had its
 * key, not that acct made it: an account id becomes a file name (its
 * secrets, its lock), so "../../x" would be a path out of the store. Only
 * the members acct writes are kept. What needs the catalog (the app of each
 * account, field values) is checked by `acct import` (commands/bundle.ts).
 * Never quotes a secret: ids, names and nicknames only.
 */
export function checkPayload(raw: unknown, source: string): BundlePayload {
  const refuse = (what: string) => bad(`${source} holds ${what}; nothing in it was used`, 'a bundle acct export wrote never does: export it again, and use only bundles from a machine you trust');
  if (!isObject(raw) || !Array.isArray(raw.accounts) || !Array.isArray(raw.apps) || !isObject(raw.secrets) || !isObject(raw.clients) || !isObject(raw.defaults))
    throw refuse('contents that are not a bundle payload (accounts, secrets, apps, clients, defaults)');
  const accounts: Account[] = [];
  const secrets: Record<string, Fields> = {};
  const seen = new Set<string>();
  for (const [i, a] of raw.accounts.entries()) {
    const entry = `account ${i + 1}${isObject(a) && typeof a.id === 'string' ? ` (id ${quoted(a.id)})` : ''}`;
    const invalid = (member: string, value: unknown) => refuse(`an invalid ${member} in ${entry}: ${quoted(value)}`);
    if (!isObject(a)) throw refuse(`${entry}, which is not an object`);
    if (typeof a.id !== 'string' || !ACCOUNT_ID_RE.test(a.id)) throw invalid('account id (acc_ and ten letters or digits)', a.id);
    if (seen.has(a.id)) throw refuse(`the account id ${quoted(a.id)} twice`);
    seen.add(a.id);
    if (typeof a.app !== 'string' || !APP_SLUG_RE.test(a.app)) throw invalid('app slug', a.app);
    if (typeof a.nickname !== 'string' || !NICKNAME_RE.test(a.nickname) || a.nickname.startsWith('acc_')) throw invalid('nickname', a.nickname);
    if (accounts.some((o) => o.app === a.app && o.nickname === a.nickname)) throw refuse(`two accounts called ${quoted(`${a.app}/${a.nickname}`)}`);
    if (a.auth !== 'oauth2' && a.auth !== 'keys') throw invalid('auth kind', a.auth);
    if (!ACCOUNT_STATUSES.includes(a.status as Account['status'])) throw invalid('status', a.status);
    if (!isStringList(a.scopes)) throw invalid('list of scopes', a.scopes);
    if (!(a.identity === null || typeof a.identity === 'string')) throw invalid('identity', a.identity);
    if (!(a.expiresAt === null || isTime(a.expiresAt))) throw invalid('expiry time', a.expiresAt);
    if (!isTime(a.createdAt) || !isTime(a.updatedAt)) throw invalid('creation or change time', isTime(a.createdAt) ? a.updatedAt : a.createdAt);
    if (a.clientId !== undefined && (typeof a.clientId !== 'string' || CONTROL_CHARACTER.test(a.clientId))) throw invalid('client id', a.clientId);
    if (a.settings !== undefined && !isStringRecord(a.settings)) throw invalid('settings', a.settings);
    if (a.grant !== undefined && a.grant !== 'client_credentials') throw invalid('grant', a.grant);
    for (const flag of ['rotatesRefreshToken', 'accessOnly'] as const) if (a[flag] !== undefined && typeof a[flag] !== 'boolean') throw invalid(flag, a[flag]);
    const fields = raw.secrets[a.id];
    if (!isStringRecord(fields)) throw refuse(`no secrets for ${entry}`);
    for (const name of Object.keys(fields)) if (!FIELD_KEY_RE.test(name)) throw invalid('field name', name);
    if (a.auth === 'oauth2' && fields.oauth_access_token === undefined) throw refuse(`no access token for ${entry}, an OAuth account`);
    secrets[a.id] = { ...fields };
    accounts.push({
      id: a.id,
      app: a.app,
      nickname: a.nickname,
      auth: a.auth,
      status: a.status as Account['status'],
      scopes: [...a.scopes],
      fields: Object.keys(fields).sort(),
      identity: identityText(a.identity),
      ...(a.clientId !== undefined ? { clientId: a.clientId } : {}),
      expiresAt: a.expiresAt,
      ...(a.settings !== undefined ? { settings: { ...a.settings } } : {}),
      ...(a.grant !== undefined ? { grant: a.grant } : {}),
      createdAt: a.createdAt,
      updatedAt: a.updatedAt,
      ...(a.rotatesRefreshToken !== undefined ? { rotatesRefreshToken: a.rotatesRefreshToken === true } : {}),
      ...(a.accessOnly !== undefined ? { accessOnly: a.accessOnly === true } : {}),
    });
  }
  const clients: BundlePayload['clients'] = {};
  for (const [slug, c] of Object.entries(raw.clients)) {
    if (!APP_SLUG_RE.test(slug)) throw refuse(`an OAuth client for an invalid app slug: ${quoted(slug)}`);
    if (!isObject(c) || typeof c.clientId !== 'string' || !(c.clientSecret === undefined || typeof c.clientSecret === 'string'))
      throw refuse(`an invalid OAuth client for ${quoted(slug)}`);
    clients[slug] = { clientId: c.clientId, ...(c.clientSecret !== undefined ? { clientSecret: c.clientSecret } : {}) };
  }
  const defaults: Record<string, string> = {};
  for (const [slug, id] of Object.entries(raw.defaults)) {
    if (!accounts.some((a) => a.id === id && a.app === slug)) throw refuse(`a default for ${quoted(slug)} that is none of its accounts: ${quoted(id)}`);
    defaults[slug] = id as string;
  }
  return { accounts, secrets, apps: [...raw.apps], clients, defaults };
}
