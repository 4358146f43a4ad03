// Formats for `acct env`. Each must round-trip any value through its real consumer.
import { nodeCrypto } from '../store/node-crypto.js';
import { usageError } from '../errors.js';

export type EnvVars = [name: string, value: string][];
export const ENV_FORMATS = ['dotenv', 'shell', 'json', 'github', 'gitlab'] as const;
export type EnvFormat = (typeof ENV_FORMATS)[number];

/** POSIX shell: single quotes keep everything literal; a quote is closed, escaped, reopened. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export function formatShell(vars: EnvVars): string {
  return vars.map(([k, v]) => `export ${k}=${shellQuote(v)}\n`).join('');
}

/**
 * dotenv has no escape for its quote characters, so each value gets the quote
 * that does not occur in it: single quotes (fully literal), then backticks,
 * then double quotes (only when the value has no backslash-n or backslash-r
 * sequence that dotenv would rewrite; a carriage return is written as \r there,
 * since dotenv turns a raw one into a newline). dotenv reads a backslash before
 * the closing quote as an escaped quote and runs on to a later quote that ends
 * a line, so a value ending in a backslash is followed by a comment that holds
 * the quote mid-line, where dotenv's search for the closing quote stops.
 */
export function formatDotenv(vars: EnvVars): string {
  return vars
    .map(([k, v]) => {
      const quote = (q: string, body: string) => `${k}=${q}${body}${q}\n${body.endsWith('\\') ? `# ${q}${k}${q} ends with a backslash\n` : ''}`;
      if (!v.includes("'") && !v.includes('\r')) return quote("'", v);
      if (!v.includes('`') && !v.includes('\r')) return quote('`', v);
      if (!v.includes('"') && !/\\[nr]/.test(v)) return quote('"', v.replace(/\r/g, '\\r'));
      throw usageError(`the value of ${k} cannot be written in dotenv syntax without changing it`, 'use --format shell or --format json');
    })
    .join('');
}

export function formatJson(vars: EnvVars): string {
  return JSON.stringify(Object.fromEntries(vars), null, 2) + '\n';
}

/**
 * GitLab's dotenv report artifact: one KEY=value per line, no multi-line values.
 * GitLab strips blanks around the value and the runner expands $NAME in it, so
 * a $ is written as $$ (which expands to $) and surrounding blanks are refused.
 */
export function formatGitlab(vars: EnvVars): string {
  return vars
    .map(([k, v]) => {
      if (/[\r\n]/.test(v)) throw usageError(`the value of ${k} spans several lines, which a GitLab dotenv report cannot hold`, 'use --format shell or json');
      if (/^[\0\t\v\f ]|[\0\t\v\f ]$/.test(v))
        throw usageError(`the value of ${k} starts or ends with a blank, which GitLab would strip from a dotenv report`, 'use --format shell or json');
      return `${k}=${v.replace(/\$/g, '$$$$')}\n`;
    })
    .join('');
}

/** Workflow-command data escaping (%, CR, LF). */
const escapeCommandData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');

/** `::add-mask::` lines for stdout: one per line of each value, so multi-line secrets are masked line by line. */
export function githubMasks(vars: EnvVars): string {
  const lines = new Set<string>();
  for (const [, v] of vars) for (const line of v.split(/\r?\n/)) if (line.trim()) lines.add(line);
  return [...lines].map((l) => `::add-mask::${escapeCommandData(l)}\n`).join('');
}

/** The $GITHUB_ENV file syntax: NAME<<DELIMITER, the value, DELIMITER, with a delimiter absent from the value. */
export function githubEnvFile(vars: EnvVars, random: () => string = () => nodeCrypto().randomBytes(16).toString('hex')): string {
  return vars
    .map(([k, v]) => {
      let delimiter: string;
      do delimiter = `ACCT_EOF_${random()}`;
      while (v.includes(delimiter));
      return `${k}<<${delimiter}\n${v}\n${delimiter}\n`;
    })
    .join('');
}
