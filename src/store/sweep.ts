// What interrupted writes leave behind, removed by the next metadata write
// (under the metadata lock, judged by the account metadata, accounts.tsv or
// an old store's accounts.json, as it is before that write):
//
// - an account's sealed secret without the account: a connect (or import)
//   writes the secret first and the metadata that points at it last, so a
//   crash in between leaves secrets/<id>.json alone. Such a file is removed
//   when its id is retired (a delete stopped between its two steps), or when
//   it is older than ORPHAN_GRACE_MS: a writer that is still alive reaches
//   its metadata write within the metadata lock's wait (60 s), so an orphan
//   that young may be one whose metadata is on its way.
// - temporary files of writeFileAtomic (`<file>.<pid>.<hex>.tmp`) whose
//   process is gone; ones whose pid is alive after TEMP_MAX_MS (a pid reused
//   by another process) too.
//
// Client secrets (secrets/client.<app>.json) are left alone: clients.json,
// which would say whether one is in use, is another file under another lock.
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { ACCOUNT_ID_RE, type Metadata } from '../accounts/model.js';
import type { Paths } from '../paths.js';
import { checkFolders } from './trust.js';

export const ORPHAN_GRACE_MS = 10 * 60_000;
const TEMP_MAX_MS = 60 * 60_000;
const TEMP_RE = /^.+\.(\d+)\.[0-9a-f]{8}\.tmp$/;

export interface SweepTarget {
  secretsDir: string;
  storedIds(): string[];
  remove(id: string): void;
}

/** Removes orphaned secrets and dead writers' temporary files; returns what it removed (for the tests' sake, and --debug). */
export function sweep(paths: Paths, secrets: SweepTarget, m: Metadata, now: number): string[] {
  const removed: string[] = [];
  const live = new Set(m.accounts.map((a) => a.id));
  const retired = new Set(m.retiredIds);
  for (const id of secrets.storedIds()) {
    if (!ACCOUNT_ID_RE.test(id) || live.has(id)) continue;
    const path = join(secrets.secretsDir, `${id}.json`);
    if (retired.has(id) || now - mtimeOf(path) > ORPHAN_GRACE_MS) {
      secrets.remove(id);
      removed.push(path);
    }
  }
  for (const dir of new Set([paths.data, secrets.secretsDir, paths.config])) removed.push(...removeDeadTemps(dir, now));
  return removed;
}

function removeDeadTemps(dir: string, now: number): string[] {
  let names: string[];
  try {
    if (!checkFolders(dir)) return []; // never in a folder acct does not trust
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of names) {
    const pid = Number(TEMP_RE.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    const path = join(dir, name);
    if (isAlive(pid) && now - mtimeOf(path) < TEMP_MAX_MS) continue;
    try {
      unlinkSync(path);
      removed.push(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // another sweep took it
    }
  }
  return removed;
}

/** Whether a process with this pid exists (another user's counts). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // someone else's process: alive
  }
}

/** Infinity-old when gone: nothing to keep. */
function mtimeOf(path: string): number {
  try {
    return statSync(path).mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return -Infinity;
    throw err;
  }
}
