// The plain forms of the commands scripts run most, parsed without
// commander. dist/plain.cjs holds this and what these commands need, nothing
// of the command tree; bin/acct.cjs runs it for them (see main.ts for the rest).
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createContext, type Context, type ContextOverrides, type IO } from './context.js';
import { ExitCode } from './errors.js';
import { report } from './run.js';

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

export interface PlainCall {
  form: PlainForm;
  positionals: string[];
  values: Values;
}

/** argv as a plain form of a command in PLAIN_FORMS; undefined sends it to commander. */
export function parsePlain(argv: string[]): PlainCall | undefined {
  const form = PLAIN_FORMS[argv[0] ?? ''];
  if (!form) return undefined;
  let parsed;
  try {
    parsed = parseArgs({ args: argv.slice(1), options: form.options, allowPositionals: true, strict: true });
  } catch {
    return undefined; // commander parses it again and explains the mistake
  }
  if (parsed.positionals.length !== form.positionals) return undefined;
  return { form, positionals: parsed.positionals, values: parsed.values };
}

/** Runs a plain call and returns the exit code. */
export async function runPlain(call: PlainCall, io: IO, env: NodeJS.ProcessEnv, overrides: ContextOverrides = {}): Promise<number> {
  try {
    const ctx = createContext(env, io, overrides);
    return (await call.form.run(ctx, call.positionals, call.values)) ?? ExitCode.ok;
  } catch (err) {
    return report(io, err);
  }
}
