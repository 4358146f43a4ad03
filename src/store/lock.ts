// Cross-process locks. proper-lockfile uses an atomic mkdir with mtime updates,
// so a crashed holder's lock turns stale and is taken over instead of wedging acct.
import { ensurePrivateDir } from './files.js';
import { dirname } from 'node:path';
import { storeError } from '../errors.js';

export interface LockOptions {
  /** How long to keep trying before giving up, in ms. */
  waitMs?: number;
}

export async function withLock<T>(lockPath: string, fn: () => Promise<T> | T, options: LockOptions = {}): Promise<T> {
  ensurePrivateDir(dirname(lockPath));
  // Loaded on first use: reads (acct token, acct list) never take a lock.
  const { default: lockfile } = await import('proper-lockfile');
  const waitMs = options.waitMs ?? 60_000;
  const started = Date.now();
  let release: () => Promise<void>;
  for (;;) {
    try {
      release = await lockfile.lock(lockPath, {
        realpath: false,
        stale: 10_000,
        lockfilePath: `${lockPath}.lock`,
        onCompromised: (err) => {
          throw storeError(`lost the lock ${lockPath}: ${err.message}`, 'another acct process took it over; retry');
        },
      });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ELOCKED') throw err;
      if (Date.now() - started > waitMs)
        throw storeError(
          `timed out waiting for the lock ${lockPath}.lock`,
          'another acct process holds it; if none is running, remove that folder',
        );
      await new Promise((r) => setTimeout(r, 5 + Math.random() * 25));
    }
  }
  try {
    return await fn();
  } finally {
    await release();
  }
}
