import { writeSync, fstatSync, statSync } from 'node:fs';
import { main } from './cli.js';
import { AcctError, ExitCode } from './errors.js';
import type { IO } from './context.js';

export async function run(): Promise<void> {
  // process.stdout, stderr and stdin each build a stream (and pull in the
  // net and stream modules) on first access: about 9 ms that acct token would
  // spend to print one line. They are left untouched until a command needs
  // them; plain text output goes straight to the file descriptor.
  const io: IO = {
    get stdout() {
      return process.stdout;
    },
    get stderr() {
      return process.stderr;
    },
    get stdin() {
      return process.stdin;
    },
    writeOut: (text) => writeAll(1, text),
    get stdoutIsTTY() {
      return isTerminal(1);
    },
  };
  const code = await main(process.argv.slice(2), io, process.env);
  process.exitCode = code;
  // A keychain call that timed out may leave a native worker blocked; do not wait for it.
  setTimeout(() => process.exit(code), 500).unref();
}

/** Writes all of text to fd, as process.stdout does on Linux (synchronously). */
function writeAll(fd: number, text: string): void {
  let buf = Buffer.from(text, 'utf8');
  while (buf.length) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // A non-blocking pipe that is full: wait a moment and go on.
      if (code === 'EAGAIN') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
      // The reader went away (acct list | head -1): like any filter, stop writing.
      else if (code === 'EPIPE') return;
      else throw new AcctError(ExitCode.unexpected, `cannot write the output: ${(err as Error).message}`, { hint: 'check where stdout goes (a full disk, a file you cannot write)' });
    }
  }
}

/** A terminal is a character device other than /dev/null (without loading node:tty, which pulls in net). */
function isTerminal(fd: number): boolean {
  if (process.platform === 'win32') return Boolean(process.stdout.isTTY);
  try {
    const st = fstatSync(fd);
    return st.isCharacterDevice() && st.rdev !== statSync('/dev/null').rdev;
  } catch {
    return false; // a closed descriptor is no terminal
  }
}
