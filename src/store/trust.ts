// Which files and folders acct trusts (SPEC "Files acct trusts"). Anyone who
// can write in acct's folders could swap apps.json and send tokens to their
// own host, so, as ssh does with key files, acct refuses (exit 6, with the
// command that fixes it) a folder or file of its own that is a symlink, is
// owned by another user, or is open to others (folders: writable by group or
// others; files: any access by group or others). Nothing is changed to make
// a check pass.
//
// The one exception: the top folder (ACCT_HOME, or the XDG acct folders) may
// be a symlink of the user's own, to a folder that passes the checks (a
// dotfiles repository, another disk): choosing that place is the same as
// setting ACCT_HOME to it, and only someone who can write beside it could
// have put a link there, which the owner check refuses. Folders above the
// top are not checked: whatever another user puts in place of acct's folder
// is theirs, and refused.
//
// The checks cost an lstat per folder once per run and an fstat of each file
// acct opens anyway. Not on Windows, which has no such modes.
import { lstatSync, statSync, readlinkSync, fstatSync, mkdirSync, chmodSync, constants, type Stats } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { storeError, type ErrorCode } from '../errors.js';
import type { Paths } from '../paths.js';

const roots = new Set<string>();
/** Folders that passed in this run, and whether they are closed to others (0700). */
const trusted = new Map<string, boolean>();
const checks = process.platform !== 'win32' && typeof process.geteuid === 'function';

/** acct's top folders for this run: what is below them is checked. */
export function trustRoots(paths: Paths): void {
  roots.add(resolve(paths.config));
  roots.add(resolve(paths.data));
}

function rootOf(path: string): string | undefined {
  let found: string | undefined;
  for (const root of roots) if ((path === root || path.startsWith(root + sep)) && (!found || root.length > found.length)) found = root;
  return found;
}

/** Whether acct checks this path (it is in one of its folders). */
export function isStorePath(path: string): boolean {
  return checks && rootOf(resolve(path)) !== undefined;
}

/** The folders from the root down to dir (dir included); empty when dir is not in acct's folders. */
function chain(dir: string): string[] {
  const abs = resolve(dir);
  const root = checks ? rootOf(abs) : undefined;
  if (!root) return [];
  const out = [root];
  for (const part of abs.slice(root.length).split(sep).filter(Boolean)) out.push(out[out.length - 1]! + sep + part);
  return out;
}

/**
 * Checks dir and every folder from its root down to it. Returns false when one
 * of them does not exist yet (nothing below it to trust or distrust). With
 * `create`, makes the missing ones (0700) instead, and closes a folder that
 * others may read (0755, say: acct's files inside are private anyway) to 0700.
 */
export function checkFolders(dir: string, create = false): boolean {
  const folders = chain(dir);
  for (const [i, folder] of folders.entries()) {
    const known = trusted.get(folder);
    if (known || (known === false && !create)) continue;
    let st: Stats;
    try {
      st = lstatSync(folder);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      if (!create) return false;
      // The top folder's parents are the user's (~/.local/share): made as mkdir -p would.
      if (i === 0) mkdirSync(dirname(folder), { recursive: true, mode: 0o700 });
      try {
        mkdirSync(folder, { mode: 0o700 });
        trusted.set(folder, true);
        continue;
      } catch (mkdirErr) {
        if ((mkdirErr as NodeJS.ErrnoException).code !== 'EEXIST') throw mkdirErr;
        st = lstatSync(folder); // another acct process made it meanwhile: checked as any other
      }
    }
    if (st.isSymbolicLink()) {
      if (i > 0 || st.uid !== process.geteuid!()) throw symlinkRefused(folder, 'folder');
      st = statSync(folder);
    }
    if (!st.isDirectory()) throw storeError(`${folder} is not a folder`, `acct keeps its files there: move it aside`);
    checkOwner(folder, st, 'folder');
    if (st.mode & 0o022)
      throw storeError(
        `${folder} is writable by ${who(st.mode, 0o020, 0o002)}: anyone who can write there could replace acct's files (apps.json, and with it where tokens are sent)`,
        st.mode & 0o1000
          ? `it is a folder shared with others (like /tmp): point ${i === 0 ? 'ACCT_HOME' : 'acct'} at a folder of your own instead, e.g. mkdir -m 700 ~/.acct`
          : `make it private: chmod 700 ${folder} (and check that nothing in it was changed)`,
      );
    const closed = (st.mode & 0o077) === 0;
    if (create && !closed) chmodSync(folder, 0o700);
    trusted.set(folder, closed || create);
  }
  return true;
}

/** Opens a file of acct's for reading without following a symlink (and without waiting on a FIFO). */
export const READ_FLAGS = checks ? constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK : constants.O_RDONLY;
/** Appends to a file of acct's, creating it, without following a symlink. */
export const APPEND_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (checks ? constants.O_NOFOLLOW : 0);

/** An open that failed because the file is a symlink (O_NOFOLLOW): the refusal to report instead. */
export function symlinkOpenError(path: string, err: unknown): Error | undefined {
  return checks && (err as NodeJS.ErrnoException).code === 'ELOOP' && isStorePath(path) ? symlinkRefused(path, 'file') : undefined;
}

/** Checks a file acct opened (fd) in one of its folders: a regular file, the user's own, private. */
export function checkFile(path: string, fd: number): void {
  if (isStorePath(path)) checkPrivateFile(path, fd);
}

/**
 * Checks a file acct opened (fd) to read a secret from, wherever it is (acct
 * serve --token-file): a regular file, the user's own, closed to everyone else.
 */
export function checkPrivateFile(path: string, fd: number, code?: ErrorCode): void {
  if (!checks) return;
  const st = fstatSync(fd);
  if (!st.isFile()) throw storeError(`${path} is not a regular file`, 'acct keeps its own files there: move it aside', undefined, code);
  checkOwner(path, st, 'file', code);
  if (st.mode & 0o077)
    throw storeError(
      `${path} is ${st.mode & 0o022 ? 'writable' : 'readable'} by ${who(st.mode, 0o070, 0o007)}`,
      `make it private: chmod 600 ${path}${st.mode & 0o022 ? ' (and check that it was not changed)' : ''}`,
      undefined,
      code,
    );
}

function checkOwner(path: string, st: Stats, kind: 'file' | 'folder', code?: ErrorCode): void {
  const uid = process.geteuid!();
  if (st.uid === uid) return;
  const user = userName(uid);
  throw storeError(
    `${path} is owned by another user (uid ${st.uid}), not by ${user}`,
    `if it is yours, take it back: chown ${kind === 'folder' ? '-R ' : ''}${user} ${path} (after checking what is in it); otherwise move it aside`,
    undefined,
    code,
  );
}

function who(mode: number, group: number, others: number): string {
  return mode & group && mode & others ? 'its group and others' : mode & group ? 'its group' : 'others';
}

function symlinkRefused(path: string, kind: 'file' | 'folder'): Error {
  let target = '';
  try {
    target = readlinkSync(path);
  } catch {
    // gone meanwhile: the message still names the path
  }
  // The hint copies rather than moves: the link may point anywhere (a system
  // file, another program's folder), and moving that into acct's folder
  // would take it from where it belongs.
  const copy = kind === 'folder' ? 'cp -Rp' : 'cp -p';
  return storeError(
    `${path} is a symlink${target ? ` to ${target}` : ''}, and acct does not follow symlinks in its folders`,
    target
      ? `check what ${resolve(dirname(path), target)} is: if it is acct's own ${kind}, put a copy of it in place of the link (rm ${path} && ${copy} ${resolve(dirname(path), target)} ${path}); if it is not, remove the link (rm ${path})`
      : `replace the symlink with the ${kind} itself`,
  );
}

function userName(uid: number): string {
  try {
    return process.getBuiltinModule('node:os').userInfo().username;
  } catch {
    return String(uid);
  }
}
