// acct exec <ref>... -- cmd: run a command with credentials in its environment,
// secrets masked in its output, stdin passed through, signals forwarded, its
// exit code returned.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { openSync, closeSync } from 'node:fs';
import { constants } from 'node:os';
import type { Context } from '../context.js';
import { collectEnv } from '../accounts/envvars.js';
import { Masker } from '../output/masker.js';
import { usageError, AcctError, ExitCode } from '../errors.js';
import { childEnvironment, isStoreSecretName } from '../store/secret-env.js';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;
/**
 * What a terminal sends to its whole foreground job: Ctrl-C, Ctrl-\ and a
 * hang-up reach the command as they reach acct. Passing them on as well would
 * deliver them twice, and to many programs (terraform, docker compose) a
 * second Ctrl-C means "stop now, skip the cleanup".
 */
const FROM_TERMINAL: ReadonlySet<string> = new Set(['SIGINT', 'SIGQUIT', 'SIGHUP']);

export interface ChildOptions {
  mask: boolean;
  passEnv?: string[];
}

export async function exec(ctx: Context, specs: string[], command: string[], opts: ChildOptions & { serve?: boolean }): Promise<number> {
  checkChild(command, opts, 'acct exec github -- ./deploy.sh');
  const { vars, secrets, named } = await collectEnv(ctx, specs, { offline: !opts.serve });
  if (!opts.serve) return runChild(ctx, command, vars, secrets, opts);
  // A credentials server for this child alone, so a job that outlives a token asks for a fresh one
  // instead of failing hours in. It serves the accounts named here, and of each only the fields
  // put in the environment: the child gets nothing through it that it was not given already.
  const { childServer } = await import('./serve.js');
  const server = await childServer(ctx, named);
  try {
    const served: [string, string][] = [
      ['ACCT_CREDENTIALS_URL', `unix://${server.socket}`],
      ['ACCT_CREDENTIALS_SOCKET', server.socket],
      ['ACCT_CREDENTIALS_TOKEN', server.token],
    ];
    return await runChild(ctx, command, [...vars, ...served], new Set([...secrets, server.token]), opts);
  } finally {
    await server.stop();
  }
}

/** What can be checked before any credential is fetched. */
export function checkChild(command: string[], opts: ChildOptions, example: string): void {
  if (!command.length) throw usageError('no command to run', `put it after --: ${example}`);
  for (const name of opts.passEnv ?? [])
    if (!isStoreSecretName(name))
      throw usageError(`--pass-env ${name}: acct passes ${name} on anyway`, '--pass-env names only acct\'s own store secrets (ACCT_PASSPHRASE, ACCT_BUNDLE, ACCT_BUNDLE_KEY, …)');
}

/**
 * Runs a command with `vars` in its environment, every value in `secrets`
 * masked in its output unless opts.mask is false, stdin and signals passed
 * through; resolves with its exit code. Shared by exec and run.
 */
export async function runChild(ctx: Context, command: string[], vars: [string, string][], secrets: Set<string>, opts: ChildOptions): Promise<number> {
  const passEnv = opts.passEnv ?? [];
  const names = new Map(vars.map(([k, v]) => [v, k]));
  // The child gets the accounts it was given, not the keys to every other one.
  const env = { ...childEnvironment(ctx.env, passEnv), ...Object.fromEntries(vars) };
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(command[0]!, command.slice(1), { env, stdio: ['inherit', opts.mask ? 'pipe' : 'inherit', opts.mask ? 'pipe' : 'inherit'] });
  } catch (err) {
    // Node throws some failures to start (E2BIG) at once and reports the others ('error', below).
    throw cannotRun(command[0]!, err as NodeJS.ErrnoException, env);
  }
  const unpipe: (() => void)[] = [];
  if (opts.mask) {
    const list = [...secrets].flatMap((value) => [value, ...value.split(/\r?\n/).filter((l) => l.length >= 4 && l !== value)].map((v) => ({ name: names.get(value) ?? 'SECRET', value: v })));
    unpipe.push(pipeMasked(child.stdout!, ctx.io.stdout, list, child), pipeMasked(child.stderr!, ctx.io.stderr, list, child));
  }
  // acct keeps running until the command ends, whatever the signal; it passes
  // a signal on unless the terminal has already delivered it to the command.
  const terminal = hasTerminal();
  const forward = (signal: NodeJS.Signals) => () => {
    if (!(terminal && FROM_TERMINAL.has(signal))) child.kill(signal);
  };
  const handlers = FORWARDED.map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) => reject(cannotRun(command[0]!, err, env)));
      child.once('close', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  } finally {
    for (const [s, h] of handlers) process.removeListener(s, h);
    for (const done of unpipe) done();
  }
}

/**
 * The child's output through a masker to acct's own stdout or stderr. When
 * that stops taking writes (the reader went away: `acct exec … | head -1`
 * gives EPIPE), acct stops writing but goes on reading, and the child meets
 * the broken pipe as it would with no acct in between: the next time it
 * writes, it gets SIGPIPE (which ends it, unless it ignores the signal), and
 * a write after that fails (acct closes its end: EPIPE, or ECONNRESET, the
 * pipe being a socket pair). acct then exits with the child's code: 141
 * (128 + SIGPIPE) when the signal ended it, as a shell reports it. Reading
 * on without telling the child would keep a command that writes until it is
 * stopped (`yes`, `tail -f`) running for ever; closing acct's end at once
 * would fail its next write with ECONNRESET rather than end it as a pipe
 * does. Returns the undo.
 */
function pipeMasked(from: Readable, to: NodeJS.WriteStream, list: ConstructorParameters<typeof Masker>[0], child: ChildProcess): () => void {
  const masker = new Masker(list);
  from.pipe(masker).pipe(to, { end: false });
  let broken = false;
  const onError = () => {
    if (broken) return;
    broken = true;
    masker.unpipe(to);
    from.unpipe(masker);
    let writes = 0;
    from.on('data', () => {
      if (writes++ === 0) child.kill('SIGPIPE');
      else from.destroy();
    });
    from.resume(); // unpiped from its last destination, the stream was paused
  };
  to.on('error', onError);
  return () => to.removeListener('error', onError);
}

/**
 * A command that could not be started, with the exit codes shells use: 127 not found, 126 found but not
 * executable, or (E2BIG) more arguments and environment than the system starts a program with.
 */
function cannotRun(file: string, err: NodeJS.ErrnoException, env: Record<string, string | undefined>): AcctError {
  if (err.code === 'ENOENT') return new AcctError('command_not_found', `cannot run ${file}: command not found`, { hint: 'check the name, or give its path' });
  if (err.code === 'EACCES') return new AcctError('command_not_executable', `cannot run ${file}: permission denied (not an executable file)`, { hint: `make it executable: chmod +x ${file}` });
  if (err.code === 'E2BIG') {
    // Names only, never values: the largest variables are where the room went.
    const largest = Object.entries(env)
      .filter((e): e is [string, string] => e[1] !== undefined)
      .sort((a, b) => b[1].length - a[1].length)
      .slice(0, 3)
      .map(([name]) => name);
    return new AcctError('command_too_large', `cannot run ${file}: its environment and arguments are larger than the system allows a command to start with (E2BIG)`, {
      hint: `nothing was run; the largest variables are ${largest.join(', ')}: unset large variables you do not need, or give the command fewer accounts or fields`,
    });
  }
  return new AcctError('unexpected', `cannot run ${file}: ${err.message}`);
}

/**
 * Whether acct has a controlling terminal, whose signals reach the whole job
 * (a console on Windows delivers Ctrl-C to every process attached to it).
 * Without one (CI runners, services) every signal comes from a kill aimed at
 * acct alone, and is passed on.
 */
function hasTerminal(): boolean {
  if (process.platform === 'win32') return true;
  try {
    closeSync(openSync('/dev/tty', 'r'));
    return true;
  } catch {
    return false; // ENXIO: no controlling terminal (or no /dev/tty at all)
  }
}
