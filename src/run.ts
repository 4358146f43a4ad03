// Runs acct in this process: stdio for the commands, the exit code, and the
// one place where errors become messages and exit codes. Shared by both
// bundles (main.ts, plain-main.ts).
import { writeSync, fstatSync, statSync } from 'node:fs';
import { AcctError, ExitCode, scrubLibraryText, visibleControls } from './errors.js';
import type { IO } from './context.js';

export type Handler = (argv: string[], io: IO, env: NodeJS.ProcessEnv) => Promise<number>;

export async function runProcess(handler: Handler): Promise<void> {
  // process.stdout, stderr and stdin each build a stream (and pull in the
  // net and stream modules) on first access: about 9 ms that acct token would
  // spend to print one line. They are left untouched until a command needs
  // them; plain text output goes straight to the file descriptor.
  let streams = false;
  const io: IO = {
    get stdout() {
      streams = true;
      return process.stdout;
    },
    get stderr() {
      streams = true;
      return process.stderr;
    },
    get stdin() {
      streams = true;
      return process.stdin;
    },
    writeOut: (text) => writeAll(1, text),
    get stdoutIsTTY() {
      return isTerminal(1);
    },
  };
  // Node exits when nothing is left to wait on, even while a command still
  // awaits a promise that nothing will settle now (a handle unref'd too soon,
  // as the team store's idle pool connections are): such a run must not pass
  // for a success.
  const stalled = () => {
    process.exitCode = report(io, new AcctError('unexpected', 'acct stopped with its work unfinished: nothing was left for it to wait on', { hint: 'run it again; if this happens again, report it with the command line' }));
  };
  process.once('beforeExit', stalled);
  const code = await handler(process.argv.slice(2), io, process.env);
  process.removeListener('beforeExit', stalled);
  // Output that went only through writeAll is written already, so nothing is
  // left to wait for: exit now. Left to itself, Node would first wait for
  // V8 to finish compiling the functions a command made hot, in the
  // background (4-10 ms after the 1,000 rows of acct list). A stream may
  // still be writing (pipes are asynchronous on macOS): then exit as usual.
  if (!streams) process.exit(code);
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
      else throw new AcctError('unexpected', `cannot write the output: ${(err as Error).message}`, { hint: 'check where stdout goes (a full disk, a file you cannot write)' });
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

/**
 * Says what went wrong on stderr and returns the exit code. acct's own
 * messages are written as they are; anything else is a library's or Node's
 * text, which may quote a request, a body or a credential, so it is scrubbed
 * (scrubLibraryText). With --json the error is one JSON object, {code,
 * message, hint}, for scripts to branch on the code rather than the words,
 * with the run's warnings in it (`warnings`, when there were any: under
 * --json they are held, Context.warnings, never written as text before it).
 * ACCT_DEBUG adds where each error in the cause chain came from: names, codes
 * and stack frames, never a library's message as is.
 */
export function report(io: IO, err: unknown, opts: { json?: boolean; warnings?: readonly string[] } = {}): number {
  const debug = Boolean(process.env.ACCT_DEBUG);
  const warnings = opts.warnings?.length ? { warnings: opts.warnings } : {};
  if (err instanceof AcctError) {
    if (opts.json) io.stderr.write(`${JSON.stringify({ code: err.code, message: err.message, hint: err.hint ?? null, ...warnings })}\n`);
    else {
      io.stderr.write(`acct: ${visibleControls(err.message)}\n`);
      if (err.hint) io.stderr.write(`  ${visibleControls(err.hint)}\n`);
    }
    if (debug) io.stderr.write(trace(err));
    return err.exitCode;
  }
  const e = err as Error;
  const text = `unexpected error: ${scrubLibraryText(e instanceof Error ? `${e.name}: ${e.message}` : String(err))}`;
  if (opts.json) {
    io.stderr.write(`${JSON.stringify({ code: 'unexpected', message: text, hint: 'this is a bug in acct; please report it with the command you ran (never include secrets)', ...warnings })}\n`);
    return ExitCode.unexpected;
  }
  io.stderr.write(`acct: ${text}\n`);
  if (debug) io.stderr.write(trace(err));
  io.stderr.write('  this is a bug in acct; please report it with the command you ran (never include secrets)\n');
  return ExitCode.unexpected;
}

/** Under --json, the warnings of a run that did not fail (Context.warnings): one JSON object on stderr, {"warnings": […]}; nothing when there were none. */
export function reportWarnings(io: IO, warnings: readonly string[] | undefined): void {
  if (warnings?.length) io.stderr.write(`${JSON.stringify({ warnings })}\n`);
}

/** The cause chain for ACCT_DEBUG: each error's name, code, scrubbed message and stack frames. */
export function trace(err: unknown): string {
  let out = '';
  for (let e = err as { name?: string; code?: unknown; message?: string; stack?: string; cause?: unknown } | undefined, depth = 0; e && typeof e === 'object' && depth < 8; e = e.cause as typeof e, depth++) {
    const code = typeof e.code === 'string' || typeof e.code === 'number' ? ` [${e.code}]` : '';
    const message = e instanceof AcctError ? e.message : scrubLibraryText(String(e.message ?? ''));
    out += `${depth ? 'caused by: ' : 'debug: '}${e.name ?? 'Error'}${code}: ${message}\n`;
    for (const line of String(e.stack ?? '').split('\n')) if (/^\s+at /.test(line)) out += `${line}\n`;
  }
  return out;
}
