// `acct run --env-file F… -- cmd` and `acct inject`: credential references
// (`acct://<ref>[/<field>]`) in dotenv files and templates, resolved together
// (src/accounts/references.ts). run behaves as exec does (masking, signals,
// exit code); inject writes the filled-in template to stdout or a 0600 file.
import { statSync, realpathSync, lstatSync } from 'node:fs';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import type { Context } from '../context.js';
import { resolveReferences, SCHEME, type Reference } from '../accounts/references.js';
import { checkChild, runChild, type ChildOptions } from './exec.js';
import { readInputText, readStdin } from '../ui/stdin.js';
import { readJsonIfExists, writeJsonAtomic, isObject, replaceFile } from '../store/files.js';
import { out } from '../output/format.js';
import { usageError, errorMessage } from '../errors.js';

export async function run(ctx: Context, envFiles: string[], command: string[], opts: ChildOptions): Promise<number> {
  if (!envFiles.length) throw usageError('name at least one --env-file', 'acct run --env-file .env -- npm start');
  checkChild(command, opts, 'acct run --env-file .env -- npm start');
  const entries: { name: string; value: string; where: string }[] = [];
  for (const file of envFiles) {
    const text = readInputText(file, 'give the path of a dotenv file');
    for (const [name, value] of Object.entries(parseDotenv(text))) {
      const where = `${file}:${lineOf(text, name)}`;
      // No environment variable can carry a NUL: spawn would fail on it with an error that is no use. The value is not quoted.
      if (value.includes('\0')) throw usageError(`${where}: the value of ${name} holds a NUL character, which no environment variable can carry`, `fix that line of ${file}; nothing was run`);
      entries.push({ name, value, where });
    }
  }
  // A later file overrides an earlier one, as a later line overrides an earlier one within a file.
  const last = new Map(entries.map((e) => [e.name, e]));
  const refs = [...last.values()].filter((e) => e.value.startsWith(SCHEME));
  const { values, secrets } = await resolveReferences(ctx, refs.map((e): Reference => ({ uri: e.value, where: e.where })));
  const resolved = new Map(refs.map((e, i) => [e.name, values[i]!]));
  const vars: [string, string][] = [...last.values()].map((e) => [e.name, resolved.get(e.name) ?? e.value]);
  return runChild(ctx, command, vars, secrets, opts);
}

/** The line on which dotenv took `name` from (its last assignment). */
function lineOf(text: string, name: string): number {
  const lines = text.split(/\r?\n/);
  const assigns = new RegExp(`^\\s*(?:export\\s+)?${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*[=:]`);
  for (let i = lines.length - 1; i >= 0; i--) if (assigns.test(lines[i]!)) return i + 1;
  return 1;
}

const TEMPLATE_RE = /\{\{\s*(acct:\/\/[^\s{}]*)\s*\}\}/g;

export interface InjectOptions {
  input?: string;
  output?: string;
  force?: boolean;
}

export async function inject(ctx: Context, opts: InjectOptions): Promise<void> {
  const source = opts.input && opts.input !== '-' ? opts.input : 'stdin';
  const template =
    source === 'stdin' ? await readStdin(ctx.io.stdin, 'acct inject (without -i)') : readInputText(opts.input!, 'give the path of a template');
  const target = opts.output ? resolvePath(opts.output) : undefined;
  // Checked before any credential is fetched.
  if (target) refuseForeignFile(ctx, target, opts.force);

  const matches = [...template.matchAll(TEMPLATE_RE)];
  const refs = matches.map((m): Reference => ({ uri: m[1]!, where: `${source}:${template.slice(0, m.index).split('\n').length}` }));
  const { values } = await resolveReferences(ctx, refs);
  let i = 0;
  const filled = template.replace(TEMPLATE_RE, () => values[i++]!);

  if (!target) return void out(ctx.io, filled);
  writePrivateFile(target, filled);
  try {
    remember(ctx, target);
  } catch (err) {
    ctx.warn(`wrote ${opts.output}, but could not record that acct wrote it (${errorMessage(err)}); the next inject to it needs --force`);
  }
  ctx.info(`Wrote ${opts.output} (${refs.length} reference${refs.length === 1 ? '' : 's'} filled in, mode 0600)`);
}

// Which files inject wrote, so it overwrites those and only those without
// --force. A file is known by its device, inode, size and modification time:
// edited since, it is the user's again. (No hash of the contents: they hold
// secrets.)
interface Written {
  version: 1;
  files: Record<string, { dev: number; ino: number; size: number; mtimeMs: number }>;
}
const isWritten = (v: unknown): v is Written => isObject(v) && v.version === 1 && isObject(v.files);
const recordPath = (ctx: Context) => join(ctx.paths.data, 'injected.json');

function refuseForeignFile(ctx: Context, target: string, force?: boolean): void {
  let st;
  try {
    st = lstatSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw usageError(`cannot check ${target}: ${errorMessage(err)}`);
  }
  if (!st.isFile()) throw usageError(`${target} is not a regular file`, 'give -o the path of a file (acct replaces it whole)');
  if (force) return;
  const known = readJsonIfExists(recordPath(ctx), isWritten)?.files[canonical(target)];
  if (known && known.dev === st.dev && known.ino === st.ino && known.size === st.size && known.mtimeMs === st.mtimeMs) return;
  throw usageError(`${target} exists and acct did not write it (or it changed since)`, 'pass --force to replace it, or choose another -o');
}

function remember(ctx: Context, target: string): void {
  const st = statSync(target);
  const record = readJsonIfExists(recordPath(ctx), isWritten) ?? { version: 1, files: {} };
  record.files[canonical(target)] = { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
  writeJsonAtomic(recordPath(ctx), record);
}

const canonical = (target: string) => join(realpathSync(dirname(target)), basename(target));

/** A 0600 file, written whole or not at all, without changing its folder's permissions (it is the user's folder). */
function writePrivateFile(target: string, text: string): void {
  try {
    replaceFile(target, text);
  } catch (err) {
    throw usageError(`cannot write ${target}: ${errorMessage(err)}`);
  }
}
