import { readFileSync } from 'node:fs';
import { usageError } from '../errors.js';

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

/** A file the user named (an app definition, a bundle, request data); a missing or unreadable one is bad input. */
export function readInputFile(path: string, hint?: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw usageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, hint);
  }
}
