// vitest globalSetup: every temporary folder the tests make (os.tmpdir()) goes
// into one folder of this run's, removed when the run ends, instead of the
// thousands a run used to leave in /tmp. The acct processes the tests start get
// no TMPDIR (their environments are built from scratch), as a user's would not.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): () => void {
  // Short: socket paths made under it must stay within a unix socket's 108 bytes.
  const root = mkdtempSync(join(tmpdir(), 'acct-t-'));
  // Others may pass through (not list): the private PostgreSQL clusters run as the postgres user.
  chmodSync(root, 0o711);
  process.env.TMPDIR = root;
  return () => {
    try {
      rmSync(root, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      console.warn(`could not remove the tests' temporary folder ${root}: ${(err as Error).message}`);
    }
  };
}
