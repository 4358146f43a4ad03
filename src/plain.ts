// The plain forms of the commands scripts run most, parsed without
// commander. dist/plain.cjs holds this and what these commands need, nothing
// of the command tree; bin/acct.cjs runs it for them (see cli.ts for the rest).
import { createContext, type Context, type ContextOverrides, type IO } from './context.js';
import { ExitCode } from './errors.js';
import { report, reportWarnings } from './run.js';
import { FAST, camelCase } from './commands/declared.js';

type Values = Record<string, string | boolean | undefined>;
interface PlainOption {
  type: 'string' | 'boolean';
  default?: string;
  choices?: readonly string[];
}
interface PlainForm {
  /** The command's name ("token"), as a store records its uses. */
  name: string;
  /** The command's options, from its one declaration (commands/declared.ts). */
  options: Record<string, PlainOption>;
  /** How many arguments it takes: exactly this many, or at least this many when the last is variadic. */
  positionals: number;
  variadic: boolean;
  run(ctx: Context, positionals: string[], values: Values): Promise<void | number>;
}

/**
 * `acct token <ref>`, `acct list` and `acct env` are what scripts, prompts and CI steps run most,
 * and setting up commander's whole command tree is a third of acct's own
 * start-up (and much of what list allocates before its 1,000 rows). Their
 * plain forms are parsed here instead (parsePlain). Any other form
 * (help, short or unknown options, a missing value) goes through commander,
 * which reports what is wrong.
 */
export const PLAIN_FORMS: Record<string, PlainForm> = Object.fromEntries(
  Object.values(FAST).map((d): [string, PlainForm] => [
    d.name,
    {
      name: d.name,
      options: Object.fromEntries(
        d.options.map((o) => [o.name, { type: o.value ? 'string' : 'boolean', ...(o.default !== undefined ? { default: o.default } : {}), ...(o.choices ? { choices: o.choices } : {}) }]),
      ),
      positionals: d.args.length,
      variadic: d.args.at(-1)?.variadic === true,
      run: (ctx, positionals, values) => d.run(ctx, positionals, Object.fromEntries(Object.entries(values).map(([k, v]) => [camelCase(k), v]))),
    },
  ]),
);

export interface PlainCall {
  form: PlainForm;
  positionals: string[];
  values: Values;
}

/**
 * argv as a plain form of a command in PLAIN_FORMS; undefined sends it to
 * commander. A plain form has long options (`--name value`, `--name=value`,
 * `--flag`), each at most once, and the command's arguments. The same as
 * util.parseArgs in strict mode on those forms (a test compares the two), but
 * written out: loading and compiling parseArgs is about 2 ms of every
 * `acct token`, a tenth of what the spec lets acct add to Node's start-up.
 * Anything else (short options, `--`, unknown or repeated options, a value
 * that looks like an option) declines, and commander explains it.
 */
export function parsePlain(argv: string[]): PlainCall | undefined {
  const form = Object.hasOwn(PLAIN_FORMS, argv[0] ?? '') ? PLAIN_FORMS[argv[0]!]! : undefined;
  if (!form) return undefined;
  const values: Values = {};
  const positionals: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') return undefined;
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const option = Object.hasOwn(form.options, name) ? form.options[name]! : undefined;
    if (!option || Object.hasOwn(values, name)) return undefined;
    if (option.type === 'boolean') {
      if (eq >= 0) return undefined;
      values[name] = true;
    } else if (eq >= 0) values[name] = arg.slice(eq + 1);
    else {
      const value = argv[++i];
      if (value === undefined || value.startsWith('-')) return undefined;
      values[name] = value;
    }
  }
  if (form.variadic ? positionals.length < form.positionals : positionals.length !== form.positionals) return undefined;
  // A value that is not one of an option's choices: commander says which are.
  for (const [name, option] of Object.entries(form.options)) if (option.choices && typeof values[name] === 'string' && !option.choices.includes(values[name])) return undefined;
  for (const [name, option] of Object.entries(form.options)) if (option.default !== undefined && !Object.hasOwn(values, name)) values[name] = option.default;
  return { form, positionals, values };
}

/** Runs a plain call and returns the exit code. */
export async function runPlain(call: PlainCall, io: IO, env: NodeJS.ProcessEnv, overrides: ContextOverrides = {}): Promise<number> {
  const json = call.values.json === true;
  let ctx: Context | undefined;
  try {
    ctx = createContext(env, io, overrides, { json });
    ctx.command = call.form.name;
    let code: number;
    try {
      code = (await call.form.run(ctx, call.positionals, call.values)) ?? ExitCode.ok;
    } finally {
      // A team store's connections would keep the process alive.
      await ctx.teams.close();
    }
    reportWarnings(io, ctx.warnings);
    return code;
  } catch (err) {
    return report(io, err, { json, warnings: ctx?.warnings });
  }
}
