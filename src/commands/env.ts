// acct env: credentials as environment variables in several formats.
import { appendFileSync } from 'node:fs';
import { out } from '../output/format.js';
import type { Context } from '../context.js';
import { collectEnv } from '../accounts/envvars.js';
import { ENV_FORMATS, formatDotenv, formatGitlab, formatJson, formatShell, githubEnvFile, githubMasks, type EnvFormat } from '../output/envfmt.js';
import { usageError } from '../errors.js';

export async function env(ctx: Context, specs: string[], opts: { format: string; json?: boolean }) {
  const format = (opts.json ? 'json' : opts.format) as EnvFormat;
  if (!ENV_FORMATS.includes(format)) throw usageError(`unknown format "${opts.format}"`, `use one of: ${ENV_FORMATS.join(', ')}`);
  if (format === 'github' && !ctx.env.GITHUB_ENV)
    throw usageError('--format github appends to $GITHUB_ENV, which is not set', 'run it in a GitHub Actions step, or use --format shell');
  const { vars } = await collectEnv(ctx, specs);
  switch (format) {
    case 'dotenv':
      return void out(ctx.io, formatDotenv(vars));
    case 'shell':
      return void out(ctx.io, formatShell(vars));
    case 'json':
      return void out(ctx.io, formatJson(vars));
    case 'gitlab':
      return void out(ctx.io, formatGitlab(vars));
    case 'github':
      // Masks first, so the runner hides the values before anything else can print them.
      out(ctx.io, githubMasks(vars));
      appendFileSync(ctx.env.GITHUB_ENV!, githubEnvFile(vars));
      ctx.info(`Exported ${vars.map(([k]) => k).join(', ')} to $GITHUB_ENV`);
  }
}
