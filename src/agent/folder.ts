// The agent's folder check, for its socket (client.ts, control.ts, main.ts)
// and its lanes (lanes.ts): only a folder that is the user's own and closed
// to everyone else is used.
import { lstatSync } from 'node:fs';

/** Whether `dir` is a folder (not a link) of this user's that no one else may enter; 'missing' when there is none. */
export function isPrivateDir(dir: string): boolean | 'missing' {
  try {
    const st = lstatSync(dir);
    return st.isDirectory() && st.uid === process.getuid!() && (st.mode & 0o077) === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw err;
  }
}
