// AES-256-GCM sealing of secret payloads. The associated data binds a sealed
// blob to its purpose (an account id), so a file copied onto another account fails.
import { nodeCrypto } from './node-crypto.js';
import { isObject } from './files.js';

export interface Sealed {
  v: 1;
  alg: 'A256GCM';
  iv: string;
  tag: string;
  ct: string;
}

export function seal(key: Buffer, plaintext: Buffer, aad: string): Sealed {
  const iv = nodeCrypto().randomBytes(12);
  const cipher = nodeCrypto().createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { v: 1, alg: 'A256GCM', iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64') };
}

/** Throws when the key is wrong or the blob was altered. */
export function open(key: Buffer, sealed: Sealed, aad: string): Buffer {
  const decipher = nodeCrypto().createDecipheriv('aes-256-gcm', key, Buffer.from(sealed.iv, 'base64'));
  decipher.setAAD(Buffer.from(aad, 'utf8'));
  decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
  return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64')), decipher.final()]);
}

export function isSealed(v: unknown): v is Sealed {
  return (
    isObject(v) && v.v === 1 && v.alg === 'A256GCM' && typeof v.iv === 'string' && typeof v.tag === 'string' && typeof v.ct === 'string'
  );
}

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  salt: string;
}

export function newScryptParams(): ScryptParams {
  return { N: 2 ** 15, r: 8, p: 1, salt: nodeCrypto().randomBytes(16).toString('base64') };
}

/**
 * Whether stored scrypt parameters are ones acct writes: N = 2^15 today (a
 * little room either way for other versions), r 8, p 1, a 16-64 byte salt.
 * Key derivation runs before anything it protects can be authenticated, so an
 * edited file with N = 2^30 would otherwise cost minutes and gigabytes.
 * `name`: the member naming the algorithm, where the format has one.
 */
export function isOurScrypt(params: unknown, name?: string): params is ScryptParams {
  if (!isObject(params)) return false;
  if (name !== undefined && params.name !== name) return false;
  if (Object.keys(params).length !== (name === undefined ? 4 : 5)) return false;
  const { N, r, p, salt } = params;
  if (typeof N !== 'number' || !Number.isInteger(N) || N < 2 ** 14 || N > 2 ** 17 || (N & (N - 1)) !== 0) return false;
  if (r !== 8 || p !== 1 || typeof salt !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(salt)) return false;
  const bytes = Buffer.from(salt, 'base64').length;
  return bytes >= 16 && bytes <= 64;
}

/** The scrypt inputs for a 32-byte key: the same for the passphrase store and passphrase bundles. */
function scryptArgs(passphrase: string, params: ScryptParams) {
  return [passphrase.normalize('NFC'), Buffer.from(params.salt, 'base64'), 32, { N: params.N, r: params.r, p: params.p, maxmem: 128 * params.N * params.r * 2 }] as const;
}

export function deriveKey(passphrase: string, params: ScryptParams): Promise<Buffer> {
  return new Promise((resolve, reject) => nodeCrypto().scrypt(...scryptArgs(passphrase, params), (err, key) => (err ? reject(err) : resolve(key))));
}

/** deriveKey, synchronously, for code that cannot wait (opening a bundle). */
export function deriveKeySync(passphrase: string, params: ScryptParams): Buffer {
  return nodeCrypto().scryptSync(...scryptArgs(passphrase, params));
}
