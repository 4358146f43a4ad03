// File primitives for the store: private folders, atomic writes, JSON reads
// that name the corrupt file instead of overwriting it.
import { nodeCrypto } from './node-crypto.js';
import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, unlinkSync, chmodSync } from 'node:fs';
import { dirname } from 'node:path';
import { storeError } from '../errors.js';

export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/** Write to a temporary file in the same folder, fsync, then rename over the target. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  ensurePrivateDir(dirname(path));
  const tmp = `${path}.${process.pid}.${nodeCrypto().randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    unlinkSync(tmp);
    throw err;
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** undefined when the file does not exist. */
export function readFileIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw storeError(`cannot read ${path}: ${(err as Error).message}`, 'check the file permissions', err);
  }
}

export function readJsonIfExists<T>(path: string, check: (value: unknown) => value is T): T | undefined {
  const raw = readFileIfExists(path);
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw.toString('utf8'));
  } catch {
    throw corruptFile(path, 'it is not valid JSON');
  }
  if (!check(value)) throw corruptFile(path, 'its contents do not have the expected shape');
  return value;
}

export function corruptFile(path: string, why: string) {
  return storeError(
    `${path} is corrupt: ${why}`,
    'acct left it untouched; restore it from a backup or move it aside (acct will not overwrite it)',
  );
}

export function removeIfExists(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
