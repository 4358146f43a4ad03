// acct exec <ref>... -- cmd: run a command with credentials in its environment,
// secrets masked in its output, stdin passed through, signals forwarded, its
// exit code returned.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { Context } from '../context.js';
import { collectEnv } from '../accounts/envvars.js';
import { Masker } from '../output/masker.js';
import { usageError, AcctError, ExitCode } from '../errors.js';

const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'] as const;

export async function exec(ctx: Context, specs: string[], command: string[], opts: { mask: boolean }): Promise<number> {
  if (!command.length) throw usageError('no command to run', 'put it after --: acct exec github -- ./deploy.sh');
  const { vars, secrets } = await collectEnv(ctx, specs);
  const names = new Map(vars.map(([k, v]) => [v, k]));
  const child = spawn(command[0]!, command.slice(1), {
    env: { ...ctx.env, ...Object.fromEntries(vars) },
    stdio: ['inherit', opts.mask ? 'pipe' : 'inherit', opts.mask ? 'pipe' : 'inherit'],
  });
  if (opts.mask) {
    const list = [...secrets].flatMap((value) => [value, ...value.split(/\r?\n/).filter((l) => l.length >= 4 && l !== value)].map((v) => ({ name: names.get(value) ?? 'SECRET', value: v })));
    child.stdout!.pipe(new Masker(list)).pipe(ctx.io.stdout, { end: false });
    child.stderr!.pipe(new Masker(list)).pipe(ctx.io.stderr, { end: false });
  }
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const handlers = FORWARDED.map((s) => [s, forward(s)] as const);
  for (const [s, h] of handlers) process.on(s, h);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (err: NodeJS.ErrnoException) => reject(cannotRun(command[0]!, err)));
      child.once('close', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
    });
  } finally {
    for (const [s, h] of handlers) process.removeListener(s, h);
  }
}

/** A command that could not be started, with the exit codes shells use: 127 not found, 126 found but not executable. */
function cannotRun(file: string, err: NodeJS.ErrnoException): AcctError {
  if (err.code === 'ENOENT') return new AcctError(127, `cannot run ${file}: command not found`, { hint: 'check the name, or give its path' });
  if (err.code === 'EACCES') return new AcctError(126, `cannot run ${file}: permission denied (not an executable file)`, { hint: `make it executable: chmod +x ${file}` });
  return new AcctError(ExitCode.unexpected, `cannot run ${file}: ${err.message}`);
}
