// Runs one acct command line: a plain form (plain.ts) directly, anything
// else through the command tree (program.ts).
import { createContext, type Context, type ContextOverrides, type IO } from './context.js';
import { AcctError, ExitCode, usageError } from './errors.js';
import { closest, didYouMean } from './suggest.js';
import { out } from './output/format.js';
import { report, reportWarnings } from './run.js';
import { parsePlain, runPlain } from './plain.js';
import type { Loader } from './program.js';
import type { Command } from 'commander';

/** Runs acct with argv (without node and script) and returns the exit code. */
export async function main(argv: string[], io: IO, env: NodeJS.ProcessEnv, overrides: ContextOverrides = {}): Promise<number> {
  const plain = parsePlain(argv);
  if (plain) return runPlain(plain, io, env, overrides);
  let code: number = ExitCode.ok;
  let ctx: Context;
  // Asked for before commander parses, so that its errors are JSON too.
  const json = wantsJson(argv);
  try {
    ctx = createContext(env, io, overrides, { json });
    ctx.command = argv.find((a) => !a.startsWith('-')) ?? '';
  } catch (err) {
    return report(io, err, { json });
  }
  // `acct exec refs -- cmd args`: everything after the first -- belongs to the command.
  const dd = argv.indexOf('--');
  const afterDashDash = dd >= 0 ? argv.slice(dd + 1) : [];
  if (dd >= 0) argv = argv.slice(0, dd);
  const { buildProgram, CommanderError } = await import('./program.js');
  const runner = async (loader: Loader) => {
    const result = await loader(ctx);
    if (typeof result === 'number') code = result;
  };
  // The one command the line names, alone; the whole tree for help, for a root option, or when it names none.
  const named = argv[0] !== undefined && !argv[0].startsWith('-') && argv[0] !== 'help' ? argv[0] : undefined;
  let program = buildProgram(ctx, runner, afterDashDash, named, { json });
  if (named !== undefined && program.commands.length === 0) program = buildProgram(ctx, runner, afterDashDash, undefined, { json });
  program.configureOutput({ writeOut: (s) => out(io, s), writeErr: (s) => io.stderr.write(s) });
  // commander answers `acct help nope` with the general help and exit 0.
  if (argv[0] === 'help' && argv[1] !== undefined && !argv[1].startsWith('-')) {
    const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    if (!names.includes(argv[1])) return report(io, usageError(`unknown command "${argv[1]}"`, didYouMean(closest(argv[1], names)) ?? 'see the commands with: acct help'), { json });
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    await ctx.teams.close();
  } catch (err) {
    // A team store's connections would keep the process alive; the command's own error is the one to report.
    await ctx.teams.close().catch(() => undefined);
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      // Without --json commander has said what is wrong already; with it, it said nothing (buildProgram) and this says it.
      if (!json) return ExitCode.usage;
      return report(io, parseError(err.message, commandPath(program, argv)), { json, warnings: ctx.warnings });
    }
    return report(io, err, { json, warnings: ctx.warnings });
  }
  reportWarnings(io, ctx.warnings);
  return code;
}

/**
 * A commander error as acct's: `error: unknown option '--bogus'` and its
 * suggestion, `(Did you mean --json?)`, become the message and the hint; without
 * a suggestion the hint is the command's help.
 */
function parseError(text: string, path: string): AcctError {
  const [first = '', ...rest] = text.replace(/^error: /, '').split('\n');
  const suggestion = rest.map((l) => /^\(Did you mean (.+)\?\)$/.exec(l.trim())?.[1]).find((s) => s !== undefined);
  return usageError(first, suggestion ? `did you mean ${suggestion}?` : `run acct ${path ? `${path} ` : ''}--help`);
}

/** The (sub)command the command line names, `team invite`, as far as it names one. */
function commandPath(program: Command, argv: string[]): string {
  const names: string[] = [];
  let cmd = program;
  for (const arg of argv) {
    const sub = cmd.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (!sub) break;
    names.push(sub.name());
    cmd = sub;
  }
  return names.join(' ');
}

/** Whether the command line asks for JSON (before any `--`, where a command's own arguments start). */
function wantsJson(argv: string[]): boolean {
  const dd = argv.indexOf('--');
  return (dd >= 0 ? argv.slice(0, dd) : argv).includes('--json');
}
