import { readFileSync, openSync, fstatSync, closeSync, constants } from 'node:fs';
import { AcctError, usageError } from '../errors.js';

/** All of stdin as bytes (a request body may be binary). Refuses a terminal: `flag` means piped input. */
export async function readStdinBytes(stdin: NodeJS.ReadStream, flag: string, hint = `pipe the value in: printf '%s' "$VALUE" | acct … ${flag}`): Promise<Buffer> {
  if (stdin.isTTY) throw usageError(`${flag} reads from a pipe, but stdin is a terminal`, hint);
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** Reads all of stdin as UTF-8. Refuses a terminal: --stdin means piped input. */
export async function readStdin(stdin: NodeJS.ReadStream, flag: string): Promise<string> {
  return (await readStdinBytes(stdin, flag)).toString('utf8');
}

/** One value from stdin (a secret, a passphrase): the newline `echo` adds is not part of it. */
export async function readStdinValue(stdin: NodeJS.ReadStream, flag: string): Promise<string> {
  return (await readStdin(stdin, flag)).replace(/\r?\n$/, '');
}

export interface InputFileLimits {
  /** Refuse anything but a regular file (a FIFO or a device would be read forever, or block at open). */
  regularFile?: boolean;
  /** Refuse a larger file at once instead of reading it. */
  maxBytes?: number;
}

/** A file the user named (an app definition, a bundle, request data); a missing or unreadable one is bad input. */
export function readInputFile(path: string, hint?: string, limits: InputFileLimits = {}): Buffer {
  if (!limits.regularFile && !limits.maxBytes) {
    try {
      return readFileSync(path);
    } catch (err) {
      throw usageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, hint);
    }
  }
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOCTTY ?? 0));
  } catch (err) {
    throw usageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, hint);
  }
  try {
    const st = fstatSync(fd);
    if (limits.regularFile && !st.isFile()) throw usageError(`${path} is not a regular file (${kindOf(st)})`, hint);
    if (limits.maxBytes && st.size > limits.maxBytes)
      throw usageError(`${path} is too large (${st.size} bytes; at most ${limits.maxBytes})`, hint);
    return readFileSync(fd);
  } catch (err) {
    if (err instanceof AcctError) throw err;
    throw usageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, hint);
  } finally {
    closeSync(fd);
  }
}

function kindOf(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a pipe';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}
