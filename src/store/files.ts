// File primitives for the store: private folders, atomic writes, JSON reads
// that name the corrupt file instead of overwriting it.
import { nodeCrypto } from './node-crypto.js';
import { mkdirSync, openSync, writeSync, fsyncSync, closeSync, renameSync, readFileSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { storeError, AcctError } from '../errors.js';
import { checkFolders, checkFile, isStorePath, symlinkOpenError, READ_FLAGS } from './trust.js';

/**
 * A folder of acct's (see trust.ts): checked, made 0700 where missing, closed
 * to 0700 where others may read it. Elsewhere (an `export -o` path) only
 * made where missing: the user's own folders keep their modes.
 */
export function ensurePrivateDir(dir: string): void {
  if (isStorePath(dir)) checkFolders(dir, true);
  else mkdirSync(dir, { recursive: true, mode: 0o700 });
}

/**
 * Write to a temporary file in the same folder, fsync, then rename over the
 * target. A failure (a full disk, a read-only folder) leaves the target as it
 * was and no temporary file behind, and is a store error naming the file.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  try {
    ensurePrivateDir(dirname(path));
    replaceFile(path, data);
  } catch (err) {
    throw writeFailure(path, err);
  }
}

/**
 * The file at `path` replaced whole by a 0600 one holding `data` (a
 * temporary file beside it, fsync, rename), or left as it was. Nothing about
 * its folder changes; errors are the system's, for the caller to word.
 */
export function replaceFile(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}.${nodeCrypto().randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data);
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

/** A store error from writeFailure for a disk that is full or read-only, or a folder acct may not write in. */
export function isWriteFailure(err: unknown): boolean {
  return err instanceof AcctError && ['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM'].includes((err.cause as NodeJS.ErrnoException | undefined)?.code ?? '');
}

/** A file-system error while writing path, in acct's words (other errors pass unchanged). */
export function writeFailure(path: string, err: unknown): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (err instanceof AcctError || typeof code !== 'string') return err;
  const why =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? 'the disk is full'
      : code === 'EROFS'
        ? 'the file system is read-only'
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : (err as Error).message;
  const fix =
    code === 'ENOSPC' || code === 'EDQUOT'
      ? 'free some space and retry'
      : code === 'EROFS'
        ? 'acct needs to write in its folder for this command: mount it read-write, or point ACCT_HOME elsewhere'
        : `check the permissions of ${dirname(path)}`;
  return storeError(`cannot write ${path}: ${why}`, `nothing was changed; ${fix}`, err);
}

/** writeSync may write less than it was given (a disk filling up): the rest, or the error. */
export function writeAll(fd: number, data: Uint8Array): void {
  for (let done = 0; done < data.length; ) done += writeSync(fd, data, done);
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + '\n');
}

/** undefined when the file does not exist. */
export function readFileIfExists(path: string): Buffer | undefined {
  const missing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';
  if (!isStorePath(path)) {
    try {
      return readFileSync(path);
    } catch (err) {
      if (missing(err)) return undefined;
      throw readFailure(path, err);
    }
  }
  // In acct's folders: the folders checked, the file opened without following a symlink, and checked (trust.ts).
  if (!checkFolders(dirname(path))) return undefined;
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (err) {
    if (missing(err)) return undefined;
    throw symlinkOpenError(path, err) ?? readFailure(path, err);
  }
  try {
    checkFile(path, fd);
    return readFileSync(fd);
  } catch (err) {
    throw err instanceof AcctError ? err : readFailure(path, err);
  } finally {
    closeSync(fd);
  }
}

function readFailure(path: string, err: unknown): AcctError {
  return storeError(`cannot read ${path}: ${(err as Error).message}`, 'check the file permissions', err);
}

export function readJsonIfExists<T>(path: string, check: (value: unknown) => value is T): T | undefined {
  const raw = readFileIfExists(path);
  return raw === undefined ? undefined : parseJsonFile(path, raw, check);
}

/** A file's bytes as JSON of the expected shape, or the store error naming the file. */
export function parseJsonFile<T>(path: string, raw: Buffer, check: (value: unknown) => value is T): T {
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
  // Never through a symlinked or foreign folder of acct's (trust.ts).
  if (isStorePath(path) && !checkFolders(dirname(path))) return false;
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
