// Tokens git reported as rejected (`git credential erase` after a 401):
// non-secret state, account ids only, so that the next `get` for such an
// account refreshes its token first instead of handing out the same one.
import { join } from 'node:path';
import type { Paths } from '../paths.js';
import { ensurePrivateDir, isObject, readJsonIfExists, writeJsonAtomic } from '../store/files.js';
import { withLock } from '../store/lock.js';

interface RejectedFile {
  version: 1;
  /** account id → when git rejected its token (ISO time). */
  accounts: Record<string, string>;
}
const isRejectedFile = (v: unknown): v is RejectedFile => isObject(v) && v.version === 1 && isObject(v.accounts);

const file = (paths: Paths) => join(paths.data, 'git-rejected.json');

export function isRejected(paths: Paths, id: string): boolean {
  return readJsonIfExists(file(paths), isRejectedFile)?.accounts[id] !== undefined;
}

export async function setRejected(paths: Paths, id: string, when: Date | null): Promise<void> {
  await withLock(join(paths.data, 'git-rejected'), () => {
    const current = readJsonIfExists(file(paths), isRejectedFile) ?? { version: 1, accounts: {} };
    if (when) current.accounts[id] = when.toISOString();
    else if (current.accounts[id] === undefined) return;
    else delete current.accounts[id];
    ensurePrivateDir(paths.data);
    writeJsonAtomic(file(paths), current);
  });
}
