// Cross-process locks. proper-lockfile uses an atomic mkdir with mtime updates,
// so a crashed holder's lock turns stale and is taken over instead of wedging acct.
import { ensurePrivateDir, writeFailure } from './files.js';
import { dirname } from 'node:path';
import { storeError } from '../errors.js';

export interface LockOptions {
  /** How long to keep trying before giving up, in ms. */
  waitMs?: number;
}

// A live holder refreshes the lock's mtime every UPDATE_MS; only a lock left
// untouched for STALE_MS (its holder crashed) is taken over. The margin is
// wide because a holder starved of CPU (dozens of acct processes on two cores)
// must never lose its lock: two refreshes at once would spend a rotated
// refresh token twice.
const STALE_MS = 30_000;
const UPDATE_MS = 3_000;

export async function withLock<T>(lockPath: string, fn: () => Promise<T> | T, options: LockOptions = {}): Promise<T> {
  ensurePrivateDir(dirname(lockPath));
  // Loaded on first use: reads (acct token, acct list) never take a lock.
  const { default: lockfile } = await import('proper-lockfile');
  const waitMs = options.waitMs ?? 60_000;
  const started = Date.now();
  let compromised: Error | undefined;
  let release: () => Promise<void>;
  for (let attempt = 0; ; attempt++) {
    try {
      release = await lockfile.lock(lockPath, {
        realpath: false,
        stale: STALE_MS,
        update: UPDATE_MS,
        lockfilePath: `${lockPath}.lock`,
        // Called from a timer: record it and fail when the work is done.
        onCompromised: (err) => {
          compromised = err;
        },
      });
      break;
    } catch (err) {
      // A full disk or a read-only home: a store error naming the lock, before any work that would need to be stored.
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw writeFailure(`${lockPath}.lock`, err);
      if (Date.now() - started > waitMs)
        throw storeError(
          `timed out waiting for the lock ${lockPath}.lock`,
          'another acct process holds it; if none is running, remove that folder',
        );
      // Back off (10 ms growing to 100 ms, jittered) so many waiters do not starve the holder.
      const delay = Math.min(100, 10 * 1.5 ** attempt);
      await new Promise((r) => setTimeout(r, delay / 2 + Math.random() * delay));
    }
  }
  try {
    return await fn();
  } finally {
    if (compromised) throw storeError(`lost the lock ${lockPath}: ${compromised.message}`, 'another acct process took it over; retry');
    await release();
  }
}
