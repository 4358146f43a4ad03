// Cross-process locks. proper-lockfile makes the lock with an atomic mkdir
// and keeps its mtime fresh while it is held.
//
// The lock folder also names its holder (pid, host, pid namespace and the
// process's start time, in an `owner` file written as the folder is made). A
// waiter on the same host takes the lock over as soon as its holder's process
// is gone (killed with -9, say), and never while it lives; a holder on
// another host (a home shared over NFS) is left to the stale window (see
// STALE_MS).
import { ensurePrivateDir, writeFailure } from './files.js';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { AcctError, ExitCode } from '../errors.js';

export interface LockOptions<T> {
  /** How long to keep trying before giving up, in ms (60 s). */
  waitMs?: number;
  /**
   * Asked between attempts while the lock is held by another process: a
   * value (or a throw) means the waiting is no longer needed, and withLock
   * returns it (or throws) without taking the lock.
   */
  meanwhile?: () => Promise<T | undefined>;
}

/** The lock went away while held, before anything was spent under it (RefreshLock.lost): take it again. */
export class LockLostError extends AcctError {
  constructor(what: string) {
    super('store_locked', `the lock of ${what} was lost while it was held`, { hint: 'another acct process may hold it now; retry' });
  }
}

/** Waited `waitMs` for a lock whose holder is alive (exit 6 unless the caller knows better). */
export class LockBusyError extends AcctError {
  constructor(readonly lockPath: string) {
    super('store_locked', `timed out waiting for the lock ${lockPath}.lock`, {
      hint: `another acct process holds it and is still working; retry when it is done (if no acct runs on any machine that shares this folder, remove ${lockPath}.lock)`,
    });
  }
}

// A live holder refreshes the lock's mtime every UPDATE_MS. Who may take a
// lock over is acct's decision alone (lockAbandoned); proper-lockfile is told
// that no lock ever goes stale. A holder on this host keeps its lock for as
// long as its process lives, however old the mtime: one stopped (Ctrl-Z,
// SIGSTOP, a frozen VM or container) and resumed, or starved of CPU, must
// find its lock still its own, or it would rename an old snapshot over what
// another writer committed meanwhile (seen: an account connected during the
// pause was lost), or spend a rotated refresh token twice. Only a holder that
// cannot be asked (on another host sharing the folder, or in another pid
// namespace) is left to the mtime: taken over once untouched for STALE_MS.
const STALE_MS = 30_000;
const UPDATE_MS = 3_000;
/** proper-lockfile's own stale takeover, turned off (it compares mtimes with this). */
const NEVER_STALE = Number.MAX_SAFE_INTEGER;
/**
 * A lock folder with no owner file: its maker died between making it and
 * writing the file (a live one writes it at once), or an acct from before
 * owner files holds it and touches it every UPDATE_MS. Taken over once
 * untouched for this long.
 */
const ORPHAN_MS = 10_000;
/** A takeover in progress (see takeOver) is left alone for this long. */
const TAKEOVER_MS = 5_000;

/** Who holds a lock, as its `owner` file says. */
export interface LockOwner {
  pid: number;
  host: string;
  /** The pid namespace (Linux): the same pid in another container is another process. */
  ns?: string;
  /** The process's start time in clock ticks since boot (Linux): a reused pid is another process. */
  start?: string;
}

export async function withLock<T>(lockPath: string, fn: () => Promise<T> | T, options: LockOptions<T> = {}): Promise<T> {
  ensurePrivateDir(dirname(lockPath));
  // Loaded on first use: reads (acct token, acct list) never take a lock.
  const { default: lockfile } = await import('proper-lockfile');
  const waitMs = options.waitMs ?? 60_000;
  const started = Date.now();
  const lockDir = `${lockPath}.lock`;
  let compromised: Error | undefined;
  let release: () => Promise<void>;
  for (let attempt = 0; ; attempt++) {
    try {
      release = await lockfile.lock(lockPath, {
        realpath: false,
        stale: NEVER_STALE,
        update: UPDATE_MS,
        lockfilePath: lockDir,
        fs: ownedLockFs(),
        // Called from a timer: record it and fail when the work is done.
        onCompromised: (err) => {
          compromised = err;
        },
      });
      break;
    } catch (err) {
      // A full disk or a read-only home: a store error naming the lock, before any work that would need to be stored.
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw writeFailure(`${lockPath}.lock`, err);
      if (takeOverIfAbandoned(lockDir)) continue;
      const instead = await options.meanwhile?.();
      if (instead !== undefined) return instead;
      if (Date.now() - started >= waitMs) throw new LockBusyError(lockPath);
      // Back off (10 ms growing to 100 ms, jittered; after a second of
      // waiting to 400 ms) so many waiters do not starve the holder: 200
      // waiters polling every 100 ms spent about 20 s more CPU in all (74 s
      // against 54 s, one measurement on two cores) than at this backoff.
      const waited = Date.now() - started;
      const delay = Math.min(waited < 1000 ? 100 : 400, 10 * 1.5 ** attempt, Math.max(1, waitMs - waited));
      await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * delay));
    }
  }
  try {
    return await fn();
  } finally {
    if (compromised) throw new AcctError('store_unavailable', `lost the lock ${lockPath}: ${compromised.message}`, { hint: 'another acct process took it over; retry' });
    await release();
  }
}

let lockFs: typeof fs | undefined;
/**
 * The file system proper-lockfile sees: making the lock folder writes its
 * `owner` file inside (before proper-lockfile stamps the folder's mtime, which
 * it then watches), and removing it removes that file too.
 */
function ownedLockFs(): typeof fs {
  if (lockFs) return lockFs;
  const mkdir = (path: fs.PathLike, callback: (err: NodeJS.ErrnoException | null) => void) =>
    fs.mkdir(path, { mode: 0o700 }, (err) => {
      if (err) return callback(err);
      try {
        fs.writeFileSync(join(String(path), 'owner'), JSON.stringify(currentOwner()), { mode: 0o600 });
      } catch (writeErr) {
        fs.rmSync(path, { recursive: true, force: true });
        return callback(writeErr as NodeJS.ErrnoException);
      }
      callback(null);
    });
  const rmdir = (path: fs.PathLike, callback: (err: NodeJS.ErrnoException | null) => void) => fs.rm(path, { recursive: true, force: true }, callback);
  const rmdirSync = (path: fs.PathLike) => fs.rmSync(path, { recursive: true, force: true });
  lockFs = { ...fs, mkdir, rmdir, rmdirSync } as unknown as typeof fs;
  return lockFs;
}

let self: LockOwner | undefined;
export function currentOwner(): LockOwner {
  if (!self) {
    const { ns, start } = linuxIdentity(process.pid);
    self = { pid: process.pid, host: hostname(), ...(ns && { ns }), ...(start && { start }) };
  }
  return self;
}

export function readOwner(lockDir: string): LockOwner | undefined {
  try {
    const v = JSON.parse(fs.readFileSync(join(lockDir, 'owner'), 'utf8')) as Partial<LockOwner>;
    return Number.isInteger(v.pid) && typeof v.host === 'string' ? (v as LockOwner) : undefined;
  } catch {
    return undefined; // no owner file (a lock being made, or one from an older acct): the stale window decides
  }
}

/**
 * Whether the process that holds a lock is gone: only ever for a holder on
 * this host, in this pid namespace, whose pid is unused, a zombie, or another
 * process's now (another start time). Anything unsure is "not gone".
 */
export function holderGone(owner: LockOwner, me: LockOwner = currentOwner()): boolean {
  if (owner.host !== me.host || (owner.ns && me.ns && owner.ns !== me.ns)) return false;
  if (owner.pid === me.pid) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH'; // EPERM: alive, another user's
  }
  const now = linuxIdentity(owner.pid);
  if (now.state === 'Z' || now.state === 'X') return true;
  return owner.start !== undefined && now.start !== undefined && now.start !== owner.start;
}

/**
 * Whether the lock at `lockDir`, held by `owner` as its owner file says, may
 * be taken over (see STALE_MS): a holder on this host and in this pid
 * namespace only once its process is gone; one that cannot be asked once its
 * lock is untouched for STALE_MS; a lock with no owner file once untouched
 * for ORPHAN_MS.
 */
export function lockAbandoned(lockDir: string, owner: LockOwner | undefined, me: LockOwner = currentOwner()): boolean {
  if (owner && owner.host === me.host && !(owner.ns && me.ns && owner.ns !== me.ns)) return holderGone(owner, me);
  try {
    return Date.now() - fs.statSync(lockDir).mtimeMs > (owner ? STALE_MS : ORPHAN_MS);
  } catch {
    return false; // gone meanwhile: the next attempt takes it
  }
}

/**
 * Removes a lock that lockAbandoned says may be taken over, so that the next
 * attempt takes it. Takeovers are one at a time (an atomic mkdir beside the
 * lock), and the owner is read again under it: a waiter that saw the same
 * dead holder a moment ago must not remove the lock a first taker has just
 * made.
 */
function takeOverIfAbandoned(lockDir: string): boolean {
  const owner = readOwner(lockDir);
  if (!lockAbandoned(lockDir, owner)) return false;
  const mutex = `${lockDir}.takeover`;
  try {
    fs.mkdirSync(mutex, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another waiter is taking over; one that died doing so is cleared after a while.
    try {
      if (Date.now() - fs.statSync(mutex).mtimeMs > TAKEOVER_MS) fs.rmSync(mutex, { recursive: true, force: true });
    } catch {
      // gone already
    }
    return false;
  }
  try {
    const again = readOwner(lockDir);
    if (again?.pid !== owner?.pid || again?.start !== owner?.start || again?.host !== owner?.host || !lockAbandoned(lockDir, again)) return false;
    fs.rmSync(lockDir, { recursive: true, force: true });
    return true;
  } finally {
    fs.rmSync(mutex, { recursive: true, force: true });
  }
}

function hostname(): string {
  return process.getBuiltinModule('node:os').hostname();
}

/** The pid namespace, start time and state of a process, from /proc (empty elsewhere). */
function linuxIdentity(pid: number): { ns?: string; start?: string; state?: string } {
  if (process.platform !== 'linux') return {};
  const out: { ns?: string; start?: string; state?: string } = {};
  try {
    out.ns = fs.readlinkSync(`/proc/${pid === process.pid ? 'self' : pid}/ns/pid`);
  } catch {
    // not readable (another user's process): no namespace to compare
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses): state is field 3, starttime field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.state = fields[0];
    out.start = fields[19];
  } catch {
    // gone
  }
  return out;
}
