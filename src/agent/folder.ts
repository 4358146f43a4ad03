// The agent's folder check, for its socket (client.ts, control.ts, main.ts)
// and its lanes (lanes.ts), and acct serve's for its default socket folder
// (commands/serve.ts): only a folder that is the user's own and closed to
// everyone else is used.
import { lstatSync } from 'node:fs';

/** What keeps `dir` from being a private folder of this user's; undefined when it is one. */
export type DirFault = { kind: 'missing' } | { kind: 'symlink' } | { kind: 'not-folder' } | { kind: 'owner'; uid: number } | { kind: 'open'; mode: number };

export function privateDirFault(dir: string): DirFault | undefined {
  let st;
  try {
    st = lstatSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw err;
  }
  if (st.isSymbolicLink()) return { kind: 'symlink' };
  if (!st.isDirectory()) return { kind: 'not-folder' };
  if (st.uid !== process.getuid!()) return { kind: 'owner', uid: st.uid };
  if (st.mode & 0o077) return { kind: 'open', mode: st.mode & 0o777 };
  return undefined;
}

/** Whether `dir` is a folder (not a link) of this user's that no one else may enter; 'missing' when there is none. */
export function isPrivateDir(dir: string): boolean | 'missing' {
  const fault = privateDirFault(dir);
  return fault === undefined ? true : fault.kind === 'missing' ? 'missing' : false;
}
