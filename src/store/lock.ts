// Cross-process locks. proper-lockfile uses an atomic mkdir with mtime updates,
// so a crashed holder's lock turns stale and is taken over instead of wedging acct.
//
// The lock folder also names its holder (pid, host, pid namespace and the
// process's start time, in an `owner` file written as the folder is made). A
// waiter on the same host whose holder's process is gone (killed with -9,
// say) takes the lock over at once instead of after the stale window; a
// holder on another host (a home shared over NFS) is left to the window.
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

// A live holder refreshes the lock's mtime every UPDATE_MS; only a lock left
// untouched for STALE_MS (its holder crashed) is taken over. The margin is
// wide because a holder starved of CPU (dozens of acct processes on two cores)
// must never lose its lock: two refreshes at once would spend a rotated
// refresh token twice. A holder known dead does not wait for it.
const STALE_MS = 30_000;
const UPDATE_MS = 3_000;
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
        stale: STALE_MS,
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
      if (takeOverIfHolderGone(lockDir)) continue;
      const instead = await options.meanwhile?.();
      if (instead !== undefined) return instead;
      if (Date.now() - started >= waitMs) throw new LockBusyError(lockPath);
      // Back off (10 ms growing to 100 ms, jittered) so many waiters do not starve the holder.
      const delay = Math.min(100, 10 * 1.5 ** attempt, Math.max(1, waitMs - (Date.now() - started)));
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
 * Removes a lock whose holder is gone, so that the next attempt takes it.
 * Takeovers are one at a time (an atomic mkdir beside the lock), and the
 * owner is read again under it: a waiter that saw the same dead holder a
 * moment ago must not remove the lock a first taker has just made.
 */
function takeOverIfHolderGone(lockDir: string): boolean {
  const owner = readOwner(lockDir);
  if (!owner || !holderGone(owner)) return false;
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
    if (!again || again.pid !== owner.pid || again.start !== owner.start || again.host !== owner.host || !holderGone(again)) return false;
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
