import { usageError } from '../errors.js';

/** Reads all of stdin as UTF-8. Refuses a terminal: --stdin means piped input. */
export async function readStdin(stdin: NodeJS.ReadStream, flag: string): Promise<string> {
  if (stdin.isTTY) throw usageError(`${flag} reads from a pipe, but stdin is a terminal`, `pipe the value in: printf '%s' "$VALUE" | acct … ${flag}`);
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
