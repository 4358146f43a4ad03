// Runs one acct command line: builds the context, parses argv with the
// command tree (program.ts), and is the one place where errors become exit
// codes.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createContext, type Context, type ContextOverrides, type IO } from './context.js';
import { AcctError, ExitCode } from './errors.js';
import { out } from './output/format.js';

/** Runs acct with argv (without node and script) and returns the exit code. */
export async function main(argv: string[], io: IO, env: NodeJS.ProcessEnv, overrides: ContextOverrides = {}): Promise<number> {
  let code: number = ExitCode.ok;
  let ctx: Context;
  try {
    ctx = createContext(env, io, overrides);
  } catch (err) {
    return report(io, err);
  }
  const plain = plainCommand(argv, ctx);
  if (plain) {
    try {
      return (await plain()) ?? ExitCode.ok;
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

type Values = Record<string, string | boolean | undefined>;
interface PlainForm {
  /** The command's options, as program.ts declares them (a test compares the two). */
  options: ParseArgsConfig['options'];
  positionals: number;
  run(ctx: Context, positionals: string[], values: Values): Promise<void | number>;
}

/**
 * `acct token <ref>` and `acct list` are what scripts and prompts run most,
 * and setting up commander's whole command tree is a third of acct's own
 * start-up (and much of what list allocates before its 1,000 rows). Their
 * plain forms are parsed with Node's util.parseArgs instead. Any other form
 * (help, short or unknown options, a missing value) goes through commander,
 * which reports what is wrong.
 */
export const PLAIN_FORMS: Record<string, PlainForm> = {
  token: {
    options: { field: { type: 'string' }, 'min-ttl': { type: 'string', default: '60' }, refresh: { type: 'boolean' }, json: { type: 'boolean' } },
    positionals: 1,
    run: async (ctx, [ref], v) =>
      (await import('./commands/token.js')).token(ctx, ref!, { field: v.field as string | undefined, minTtl: v['min-ttl'] as string, refresh: v.refresh as boolean | undefined, json: v.json as boolean | undefined }),
  },
  list: {
    options: { app: { type: 'string' }, json: { type: 'boolean' } },
    positionals: 0,
    run: async (ctx, _, v) => (await import('./commands/list.js')).list(ctx, { app: v.app as string | undefined, json: v.json as boolean | undefined }),
  },
};

/** The command to run when argv is a plain form of a command in PLAIN_FORMS; undefined sends argv to commander. */
function plainCommand(argv: string[], ctx: Context): (() => Promise<void | number>) | undefined {
  const form = PLAIN_FORMS[argv[0] ?? ''];
  if (!form) return undefined;
  let parsed;
  try {
    parsed = parseArgs({ args: argv.slice(1), options: form.options, allowPositionals: true, strict: true });
  } catch {
    return undefined; // commander parses it again and explains the mistake
  }
  if (parsed.positionals.length !== form.positionals) return undefined;
  return () => form.run(ctx, parsed.positionals, parsed.values);
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
