// Runs one acct command line: builds the context, parses argv with the
// command tree (program.ts), and is the one place where errors become exit
// codes.
import { parseArgs } from 'node:util';
import { createContext, type Context, type ContextOverrides, type IO } from './context.js';
import { AcctError, ExitCode } from './errors.js';
import { out } from './output/format.js';
import type { TokenOptions } from './commands/token.js';

/** Runs acct with argv (without node and script) and returns the exit code. */
export async function main(argv: string[], io: IO, env: NodeJS.ProcessEnv, overrides: ContextOverrides = {}): Promise<number> {
  let code: number = ExitCode.ok;
  let ctx: Context;
  try {
    ctx = createContext(env, io, overrides);
  } catch (err) {
    return report(io, err);
  }
  const token = plainToken(argv);
  if (token) {
    try {
      await (await import('./commands/token.js')).token(ctx, token.ref, token.opts);
      return ExitCode.ok;
    } catch (err) {
      return report(io, err);
    }
  }
  // `acct exec refs -- cmd args`: everything after the first -- belongs to the command.
  const dd = argv.indexOf('--');
  const afterDashDash = dd >= 0 ? argv.slice(dd + 1) : [];
  if (dd >= 0) argv = argv.slice(0, dd);
  const { buildProgram, CommanderError } = await import('./program.js');
  const program = buildProgram(
    ctx,
    async (loader) => {
      const result = await loader(ctx);
      if (typeof result === 'number') code = result;
    },
    afterDashDash,
  );
  program.exitOverride();
  program.configureOutput({ writeOut: (s) => out(io, s), writeErr: (s) => io.stderr.write(s) });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return 0;
      return ExitCode.usage;
    }
    return report(io, err);
  }
  return code;
}

// The options of `acct token` as program.ts declares them.
const TOKEN_OPTIONS = {
  field: { type: 'string' },
  'min-ttl': { type: 'string', default: '60' },
  refresh: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

/**
 * `acct token <ref>` is what scripts run most, often in loops, and setting up
 * commander's whole command tree is a third of acct's own start-up. The
 * plain forms of `token` are parsed with Node's util.parseArgs instead. Any
 * other form (help, short or unknown options, a missing value) returns
 * undefined and goes through commander, which reports what is wrong.
 */
export function plainToken(argv: string[]): { ref: string; opts: TokenOptions } | undefined {
  if (argv[0] !== 'token') return undefined;
  let parsed;
  try {
    parsed = parseArgs({ args: argv.slice(1), options: TOKEN_OPTIONS, allowPositionals: true, strict: true });
  } catch {
    return undefined; // commander parses it again and explains the mistake
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) return undefined;
  return { ref: positionals[0]!, opts: { field: values.field, minTtl: values['min-ttl'], refresh: values.refresh, json: values.json } };
}

function report(io: IO, err: unknown): number {
  if (err instanceof AcctError) {
    io.stderr.write(`acct: ${err.message}\n`);
    if (err.hint) io.stderr.write(`  ${err.hint}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  io.stderr.write(`acct: unexpected error: ${e?.message ?? String(err)}\n`);
  if (process.env.ACCT_DEBUG && e?.stack) io.stderr.write(`${e.stack}\n`);
  io.stderr.write('  this is a bug in acct; please report it with the command you ran (never include secrets)\n');
  return ExitCode.unexpected;
}
