import { readFileSync, openSync, fstatSync, closeSync, constants } from 'node:fs';
import { AcctError, usageError } from '../errors.js';

/**
 * All of stdin as bytes (a request body may be binary). Refuses a terminal: `flag` means piped input.
 * With a limit, reading stops once more than `maxBytes` have come, so a wrong pipe (a whole file,
 * a device) is refused without being held in memory.
 */
export async function readStdinBytes(
  stdin: NodeJS.ReadStream,
  flag: string,
  hint = `pipe the value in: printf '%s' "$VALUE" | acct … ${flag}`,
  limit?: { maxBytes: number; hint: string },
): Promise<Buffer> {
  if (stdin.isTTY) throw usageError(`${flag} reads from a pipe, but stdin is a terminal`, hint);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const bytes: Buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += bytes.length;
    // Leaving the loop destroys the stream: the rest is never read.
    if (limit && size > limit.maxBytes) throw usageError(`more than ${limit.maxBytes} bytes came on stdin (${flag})`, limit.hint);
    chunks.push(bytes);
  }
  return Buffer.concat(chunks);
}

/**
 * Stdin as UTF-8 text, for a value acct stores (a key, a client secret):
 * bytes that are not UTF-8 are refused, not replaced, and a leading byte
 * order mark is kept as part of the text, for the value's own checks to
 * judge. At most `maxBytes` are read (see readStdinBytes).
 */
export async function readStdinText(stdin: NodeJS.ReadStream, flag: string, maxBytes: number, tooLargeHint: string): Promise<string> {
  const bytes = await readStdinBytes(stdin, flag, undefined, { maxBytes, hint: tooLargeHint });
  return utf8Text(bytes, `what came on stdin (${flag})`, 'nothing was stored; pipe the value itself as UTF-8 text (not UTF-16, not a binary file), as the service issued it');
}

/**
 * Bytes as UTF-8 text, strictly: bytes that are not UTF-8 are refused (exit
 * 2), not replaced with U+FFFD, which would silently make a passphrase, a
 * stored value or the text written out another one. A leading byte order
 * mark is kept as part of the text, as it came. `what` names the input.
 */
function utf8Text(bytes: Uint8Array, what: string, hint: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw usageError(`${what} is not valid UTF-8 text`, hint);
  }
}

/**
 * Reads all of stdin as UTF-8 text (a passphrase, an invitation code, a
 * bundle, a template, an app definition), strictly (utf8Text). Refuses a
 * terminal: the flag means piped input.
 */
export async function readStdin(stdin: NodeJS.ReadStream, flag: string): Promise<string> {
  return utf8Text(await readStdinBytes(stdin, flag), `what came on stdin (${flag})`, 'pipe UTF-8 text (not UTF-16, not a binary file); nothing was changed');
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

/** A text file the user named (a template, a dotenv file, an app definition, a bundle): readInputFile, then UTF-8 strictly (utf8Text). */
export function readInputText(path: string, hint?: string, limits: InputFileLimits = {}): string {
  return utf8Text(readInputFile(path, hint, limits), path, 'save it as UTF-8 text (not UTF-16, not a binary file); nothing was changed');
}

function kindOf(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a pipe';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a file';
}
