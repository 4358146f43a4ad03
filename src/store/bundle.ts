// The bundle format: accounts, their secrets, the user-added apps and OAuth
// clients they need, sealed with AES-256-GCM under a random key (printed once
// by `acct export`) or a scrypt-derived passphrase key. Versioned; the header
// is bound in as associated data, so any change to it or the payload fails.
import { nodeCrypto } from './node-crypto.js';
import { seal, open, isSealed, newScryptParams, deriveKeySync, isOurScrypt, type Sealed, type ScryptParams } from './crypto.js';
import { isObject } from './files.js';
import { AcctError, ExitCode } from '../errors.js';
import type { Account } from '../accounts/model.js';
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
  const payload = JSON.parse(plain.toString('utf8')) as BundlePayload;
  return { id: f.id, key, payload };
}
