// The commands that have a fast path (src/plain.ts), declared once: the
// command tree (program.ts) and the plain parser both build from these, so
// their options and defaults cannot drift apart. Nothing here loads
// commander; each command's code is loaded when it runs.
import type { Context } from '../context.js';

export interface DeclaredOption {
  /** The long name, without dashes. */
  name: string;
  /** The placeholder of its value (`seconds`); absent for a flag. */
  value?: string;
  description: string;
  default?: string;
  /** The values it takes, when they are few (anything else is commander's to refuse). */
  choices?: readonly string[];
}

export interface Declared {
  name: string;
  alias?: string;
  description: string;
  /** Required arguments, in order; the last may be variadic (one or more). */
  args: { name: string; description: string; variadic?: boolean }[];
  options: DeclaredOption[];
  /** args flat (a variadic one's values last); opts as commander hands them over: camelCase names (`min-ttl` → minTtl), defaults filled in. */
  run(ctx: Context, args: string[], opts: Record<string, unknown>): Promise<void | number>;
}

const json: DeclaredOption = { name: 'json', description: 'print one JSON value' };

export const FAST: Record<string, Declared> = {
  list: {
    name: 'list',
    alias: 'ls',
    description: 'list accounts (reads no secrets)',
    args: [],
    options: [{ name: 'app', value: 'slug', description: 'only accounts of this app' }, json],
    run: async (ctx, _, opts) => (await import('./list.js')).list(ctx, opts as { app?: string; json?: boolean }),
  },
  token: {
    name: 'token',
    description: 'print the primary secret, refreshed first when it is about to expire',
    args: [{ name: 'ref', description: 'account reference' }],
    options: [
      { name: 'field', value: 'name', description: 'print this field instead' },
      { name: 'min-ttl', value: 'seconds', description: 'refresh when the token expires within this many seconds', default: '60' },
      { name: 'refresh', description: 'force a refresh (OAuth)' },
      json,
    ],
    run: async (ctx, [ref], opts) => (await import('./token.js')).token(ctx, ref!, opts as { field?: string; minTtl: string; refresh?: boolean; json?: boolean }),
  },
  env: {
    name: 'env',
    description: 'print credentials as environment variables',
    args: [{ name: 'refs', description: 'account references, or NAME=ref[.field]', variadic: true }],
    options: [{ name: 'format', value: 'format', description: 'output format', default: 'dotenv', choices: ['dotenv', 'shell', 'json', 'github', 'gitlab'] }, json],
    run: async (ctx, refs, opts) => (await import('./env.js')).env(ctx, refs, opts as { format: string; json?: boolean }),
  },
};

/** `min-ttl` → `minTtl`, as commander names option values. */
export const camelCase = (name: string) => name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
