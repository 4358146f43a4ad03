// Runs one acct command line: a plain form (plain.ts) directly, anything
// else through the command tree (program.ts).
import { createContext, type Context, type ContextOverrides, type IO } from './context.js';
import { ExitCode, usageError } from './errors.js';
import { closest, didYouMean } from './suggest.js';
import { out } from './output/format.js';
import { report } from './run.js';
import { parsePlain, runPlain } from './plain.js';
import type { Loader } from './program.js';

/** Runs acct with argv (without node and script) and returns the exit code. */
export async function main(argv: string[], io: IO, env: NodeJS.ProcessEnv, overrides: ContextOverrides = {}): Promise<number> {
  const plain = parsePlain(argv);
  if (plain) return runPlain(plain, io, env, overrides);
  let code: number = ExitCode.ok;
  let ctx: Context;
  try {
    ctx = createContext(env, io, overrides);
    ctx.command = argv.find((a) => !a.startsWith('-')) ?? '';
  } catch (err) {
    return report(io, err, { json: wantsJson(argv) });
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
  let program = buildProgram(ctx, runner, afterDashDash, named);
  if (named !== undefined && program.commands.length === 0) program = buildProgram(ctx, runner, afterDashDash);
  program.configureOutput({ writeOut: (s) => out(io, s), writeErr: (s) => io.stderr.write(s) });
  // commander answers `acct help nope` with the general help and exit 0.
  if (argv[0] === 'help' && argv[1] !== undefined && !argv[1].startsWith('-')) {
    const names = program.commands.flatMap((c) => [c.name(), ...c.aliases()]);
    if (!names.includes(argv[1])) return report(io, usageError(`unknown command "${argv[1]}"`, didYouMean(closest(argv[1], names)) ?? 'see the commands with: acct help'));
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    await ctx.teams.close();
  } catch (err) {
    // A team store's connections would keep the process alive; the command's own error is the one to report.
    await ctx.teams.close().catch(() => undefined);
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return ExitCode.usage;
    }
    return report(io, err, { json: wantsJson(argv) });
  }
  return code;
}

/** Whether the command line asks for JSON (before any `--`, where a command's own arguments start). */
function wantsJson(argv: string[]): boolean {
  const dd = argv.indexOf('--');
  return (dd >= 0 ? argv.slice(0, dd) : argv).includes('--json');
}
