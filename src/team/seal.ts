// Client-side sealing for team stores, with node:crypto alone.
//
// Each member has an X25519 key pair: the private key stays in the member's
// local secret store (keychain or passphrase store; ACCT_TEAM_KEY in CI), the
// public key sits in the members table. Each account (and each OAuth client)
// has a random 32-byte key of its own; its secret fields are sealed with it
// (AES-256-GCM, associated data binding team and item), and the key is
// wrapped for every member allowed to read it the way age's X25519 recipient
// and HPKE's base mode do: an ephemeral X25519 key agreement, HKDF-SHA256 over
// the shared secret (salt: both public keys; info: team, item and member),
// AES-256-GCM of the item key under the result. The database only ever holds
// ciphertext, wrapped keys and public keys.
import { nodeCrypto } from '../store/node-crypto.js';
import { seal, open, isSealed, type Sealed } from '../store/crypto.js';
import { isObject } from '../store/files.js';
import type { Fields } from '../store/store.js';

export interface MemberKeys {
  /** base64 of the raw 32-byte X25519 public key */
  publicKey: string;
  /** base64 of the PKCS#8 DER private key */
  privateKey: string;
}

export interface Wrapped extends Sealed {
  /** The ephemeral public key, raw, base64. */
  epk: string;
}

const SPKI_X25519_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export function newMemberKeys(): MemberKeys {
  const { publicKey, privateKey } = nodeCrypto().generateKeyPairSync('x25519');
  return { publicKey: rawPublic(publicKey), privateKey: privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64') };
}

function rawPublic(key: import('node:crypto').KeyObject): string {
  return key.export({ type: 'spki', format: 'der' }).subarray(SPKI_X25519_PREFIX.length).toString('base64');
}

function publicKeyObject(raw: string) {
  const bytes = Buffer.from(raw, 'base64');
  if (bytes.length !== 32) throw new Error('not an X25519 public key');
  return nodeCrypto().createPublicKey({ key: Buffer.concat([SPKI_X25519_PREFIX, bytes]), format: 'der', type: 'spki' });
}

/** The public key of a private key, to check that stored credentials belong together. */
export function publicOf(privateKey: string): string {
  return rawPublic(nodeCrypto().createPublicKey(nodeCrypto().createPrivateKey({ key: Buffer.from(privateKey, 'base64'), format: 'der', type: 'pkcs8' })));
}

/**
 * What a wrapped key is bound to: a key wrapped for one member, item or team
 * opens for no other, nor as another version of the item's key. An account's
 * key version (acct.account_secrets.key_version) rises at each re-key, so a
 * database that serves an older key (one a removed reader still holds) has
 * to say it is older: a machine that has seen a newer one refuses it
 * (TeamStore.checkKeyVersion). Version 0, every key from before versions,
 * keeps the v1 text, so those keys open as they did. What it does not stop:
 * a wrap is anonymous (anyone with the member's public key makes one), so a
 * writer can wrap a key of its own, or an old one, afresh at any version;
 * signed wraps would.
 */
export const wrapInfo = (teamId: string, item: string, memberId: string, keyVersion = 0) =>
  keyVersion === 0 ? `acct-team-wrap:v1:${teamId}:${item}:${memberId}` : `acct-team-wrap:v2:${teamId}:${item}:${memberId}:${keyVersion}`;

function kek(shared: Buffer, epk: string, recipient: string, info: string): Buffer {
  const salt = Buffer.concat([Buffer.from(epk, 'base64'), Buffer.from(recipient, 'base64')]);
  return Buffer.from(nodeCrypto().hkdfSync('sha256', shared, salt, Buffer.from(info, 'utf8'), 32));
}

export function wrapKey(itemKey: Buffer, recipientPublicKey: string, info: string): Wrapped {
  const c = nodeCrypto();
  const eph = c.generateKeyPairSync('x25519');
  const epk = rawPublic(eph.publicKey);
  const shared = c.diffieHellman({ privateKey: eph.privateKey, publicKey: publicKeyObject(recipientPublicKey) });
  return { ...seal(kek(shared, epk, recipientPublicKey, info), itemKey, info), epk };
}

/** Throws when the wrapped key is not for this member, item and team, or was altered. */
export function unwrapKey(wrapped: Wrapped, keys: MemberKeys, info: string): Buffer {
  const c = nodeCrypto();
  const privateKey = c.createPrivateKey({ key: Buffer.from(keys.privateKey, 'base64'), format: 'der', type: 'pkcs8' });
  const shared = c.diffieHellman({ privateKey, publicKey: publicKeyObject(wrapped.epk) });
  const key = open(kek(shared, wrapped.epk, keys.publicKey, info), wrapped, info);
  if (key.length !== 32) throw new Error('a wrapped key of the wrong length');
  return key;
}

export function isWrapped(v: unknown): v is Wrapped {
  return isSealed(v) && isObject(v) && typeof (v as { epk?: unknown }).epk === 'string';
}

export const newItemKey = (): Buffer => nodeCrypto().randomBytes(32);

/** The associated data an account's (or client's) sealed fields are bound to. */
export const sealedFieldsAad = (teamId: string, item: string, binding = '') => `acct-team-secret:v1:${teamId}:${item}:${binding}`;

/**
 * The metadata that decides where an account's credentials are sent: its app
 * and its connection settings (a subdomain, a tenant: they make the API and
 * token URLs). Bound into the sealed secrets' associated data, so a database
 * administrator who edits them (to point a member's acct at a host of theirs)
 * gets secrets that no longer open, not credentials sent elsewhere.
 */
export function accountBinding(a: { app: string; settings?: Record<string, string> }): string {
  const settings = Object.entries(a.settings ?? {}).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return JSON.stringify([a.app, settings]);
}

/** What opening one team item takes: its wrapped key and sealed fields, each with what it is bound to. */
export interface TeamItem {
  wrapped: unknown;
  wrapInfo: string;
  sealed: unknown;
  aad: string;
}

/** An item opened: its plaintext (fields as JSON), or which part failed (the key did not unwrap, or the secret did not open). */
export type OpenedItem = { plain: Buffer } | { failed: 'key' | 'secret' };

/** The fields of items the member can read (unwrapping, then opening, each). Never throws: a failure is the item's. */
export function openItems(items: readonly TeamItem[], keys: MemberKeys): OpenedItem[] {
  return items.map((item) => {
    let key: Buffer;
    try {
      if (!isWrapped(item.wrapped)) throw new Error('malformed');
      key = unwrapKey(item.wrapped, keys, item.wrapInfo);
    } catch {
      return { failed: 'key' };
    }
    try {
      if (!isSealed(item.sealed)) throw new Error('malformed');
      return { plain: open(key, item.sealed, item.aad) };
    } catch {
      return { failed: 'secret' };
    } finally {
      key.fill(0);
    }
  });
}

/** Opened fields as a store returns them; throws when the plaintext is not a set of fields. */
export function fieldsOf(plain: Buffer): Fields {
  const fields = JSON.parse(plain.toString('utf8')) as unknown;
  if (!isObject(fields) || !Object.values(fields).every((v) => typeof v === 'string')) throw new Error('sealed contents are not a set of fields');
  return fields as Fields;
}

export function sealFields(key: Buffer, fields: Fields, teamId: string, item: string, binding = ''): Sealed {
  return seal(key, Buffer.from(JSON.stringify(fields), 'utf8'), sealedFieldsAad(teamId, item, binding));
}

export function openFields(key: Buffer, sealed: Sealed, teamId: string, item: string, binding = ''): Fields {
  return fieldsOf(open(key, sealed, sealedFieldsAad(teamId, item, binding)));
}

/** A random password for a member's database role (it never leaves the member's secret store and the code that carries it). */
export const newPassword = (): string => nodeCrypto().randomBytes(24).toString('base64url');

/**
 * A SCRAM-SHA-256 verifier for a password (RFC 5802/7677, as PostgreSQL
 * stores it): CREATE/ALTER ROLE … PASSWORD gets this instead of the password,
 * so neither the server nor its statement log ever sees one.
 */
export function scramVerifier(password: string, iterations = 4096): string {
  const c = nodeCrypto();
  const salt = c.randomBytes(16);
  const salted = c.pbkdf2Sync(password.normalize('NFKC'), salt, iterations, 32, 'sha256');
  const clientKey = c.createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = c.createHash('sha256').update(clientKey).digest();
  const serverKey = c.createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

// Signing keys and the proofs that tie a member's keys to who vouched for
// them (team/roster.ts). Every member also has an Ed25519 key pair: an
// admin's signs the team's roster, the list of members and keys that a
// client wraps account keys for; the database cannot forge one.

export interface SigningKeys {
  /** base64 of the raw 32-byte Ed25519 public key */
  signingPublicKey: string;
  /** base64 of the PKCS#8 DER private key */
  signingKey: string;
}

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function newSigningKeys(): SigningKeys {
  const { publicKey, privateKey } = nodeCrypto().generateKeyPairSync('ed25519');
  return {
    signingPublicKey: publicKey.export({ type: 'spki', format: 'der' }).subarray(SPKI_ED25519_PREFIX.length).toString('base64'),
    signingKey: privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'),
  };
}

export function signBytes(signingKey: string, data: Buffer): string {
  const key = nodeCrypto().createPrivateKey({ key: Buffer.from(signingKey, 'base64'), format: 'der', type: 'pkcs8' });
  return nodeCrypto().sign(null, data, key).toString('base64');
}

/** False for a bad signature, and for a key or signature that is not one. */
export function verifyBytes(signingPublicKey: string, data: Buffer, signature: string): boolean {
  try {
    const raw = Buffer.from(signingPublicKey, 'base64');
    if (raw.length !== 32) return false;
    const key = nodeCrypto().createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });
    return nodeCrypto().verify(null, data, key, Buffer.from(signature, 'base64'));
  } catch {
    return false;
  }
}

export const sha256 = (data: string): string => nodeCrypto().createHash('sha256').update(data, 'utf8').digest('base64url');

/** An HMAC-SHA256 over a list of strings (JSON, so no two lists give the same bytes). */
export function macOf(key: Buffer, parts: readonly string[]): string {
  return nodeCrypto().createHmac('sha256', key).update(JSON.stringify(parts)).digest('base64url');
}

export function sameMac(a: unknown, b: string): boolean {
  if (typeof a !== 'string' || a.length !== b.length) return false;
  return nodeCrypto().timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/**
 * A key only the holder of an X25519 private key derives (HKDF over its
 * PKCS#8 bytes): what an admin seals an invitation's secret with, in the
 * database, for itself alone. Wrapping it for the admin's public key would
 * not do: anyone can do that, so anyone could plant a secret of their own.
 */
export function selfKey(privateKey: string, info: string): Buffer {
  return Buffer.from(nodeCrypto().hkdfSync('sha256', Buffer.from(privateKey, 'base64'), Buffer.alloc(0), Buffer.from(info, 'utf8'), 32));
}

/** The key two members share by X25519 agreement (mine private, theirs public): a proof one holds its private key, checked by the other. */
export function agreedKey(privateKey: string, theirPublicKey: string, info: string): Buffer {
  const c = nodeCrypto();
  const priv = c.createPrivateKey({ key: Buffer.from(privateKey, 'base64'), format: 'der', type: 'pkcs8' });
  const shared = c.diffieHellman({ privateKey: priv, publicKey: publicKeyObject(theirPublicKey) });
  return Buffer.from(c.hkdfSync('sha256', shared, Buffer.alloc(0), Buffer.from(info, 'utf8'), 32));
}
