// Every `acct env` format either round-trips a value through its real consumer
// or refuses it with a usage error: never a silently different value.
import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { parse as dotenvParse } from 'dotenv';
import { formatDotenv, formatGitlab, formatJson, formatShell, githubEnvFile, githubMasks, shellQuote, type EnvVars } from '../../src/output/envfmt.js';
import { AcctError } from '../../src/errors.js';
import { githubMaskValues, goExpand, readGithubEnvFile, readGitlabDotenv } from '../support/consumers.js';

/** Deterministic PRNG (mulberry32), so a failure names a reproducible case. */
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = ["'", '"', '`', '\\', 'n', 'r', '\n', '\r', '#', ' ', '\t', '=', '$', '{', '}', 'a', 'Z', '%', ':', '\u2028', 'é'];

function randomVars(next: () => number): EnvVars {
  const count = 1 + Math.floor(next() * 4);
  return Array.from({ length: count }, (_, i) => {
    const len = Math.floor(next() * 9);
    let v = '';
    for (let j = 0; j < len; j++) v += ALPHABET[Math.floor(next() * ALPHABET.length)];
    return [`VAR_${i}`, v] as [string, string];
  });
}

/** Runs format; returns the parsed result, or 'refused' for a usage error (any other error fails the test). */
function roundTrip(format: (vars: EnvVars) => string, read: (text: string) => Record<string, string>, vars: EnvVars): Record<string, string> | 'refused' {
  let text: string;
  try {
    text = format(vars);
  } catch (err) {
    if (err instanceof AcctError && err.exitCode === 2) return 'refused';
    throw err;
  }
  return read(text);
}

const NASTY = [
  'plain',
  'with spaces inside',
  "it's single",
  'say "double"',
  'run `backticks` and $(subshell)',
  '$HOME ${PATH} $1 $$ $',
  'back\\slash \\n \\r \\\\',
  'hash # not a comment #',
  'a=b=c',
  'line one\nline two',
  '\nleading newline',
  'trailing newline\n',
  'crlf\r\nline',
  '%25 %0A percent',
  'ends with backslash\\',
  '#starts with hash',
  '',
  'ünïcödé ✓',
];

describe('shell', () => {
  it('single-quotes every value so bash reads it back exactly', () => {
    const vars: EnvVars = NASTY.map((v, i) => [`V${i}`, v]);
    const script = formatShell(vars);
    for (const shell of ['bash', 'sh']) {
      const out = execFileSync(shell, ['-c', `eval "$1"; printf '%s\\0' ${vars.map(([k]) => `"$${k}"`).join(' ')}`, 'x', script], { encoding: 'utf8' });
      expect(out.split('\0').slice(0, -1), shell).toEqual(NASTY);
    }
  });

  it('quotes a single quote by closing, escaping and reopening', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(formatShell([['A', 'x y']])).toBe("export A='x y'\n");
  });
});

describe('dotenv', () => {
  it('round-trips the nasty values that dotenv can hold through dotenv.parse', () => {
    for (const v of NASTY) {
      const result = roundTrip(formatDotenv, dotenvParse, [['V', v]]);
      expect(result, JSON.stringify(v)).toEqual({ V: v });
    }
  });

  it('refuses a value with all three quote characters', () => {
    expect(() => formatDotenv([['V', `'"\``]])).toThrow(/cannot be written in dotenv/);
  });

  it('writes a carriage return as \\r inside double quotes (dotenv turns a raw one into a newline)', () => {
    const text = formatDotenv([['V', 'a\rb']]);
    expect(text).toBe('V="a\\rb"\n');
    expect(dotenvParse(text)).toEqual({ V: 'a\rb' });
    expect(() => formatDotenv([['V', `'\`"\r`]])).toThrow(AcctError);
  });

  it('a value ending in a backslash does not swallow the next value when that one starts with #', () => {
    for (const vars of [
      [
        ['KEY', 'abc\\'],
        ['SECRET', '#hash'],
      ],
      [
        ['KEY', 'abc\\'],
        ['NEXT', '\nnewline first'],
      ],
      // The run-on can end at a quote inside a later value in other quotes.
      [
        ['KEY', 'Z`\\'],
        ['A', '#r'],
        ['B', "'\n$x"],
      ],
    ] as EnvVars[])
      expect(dotenvParse(formatDotenv(vars)), JSON.stringify(vars)).toEqual(Object.fromEntries(vars));
  });

  it('random values: dotenv.parse gives back exactly what was written, or the writer refuses', () => {
    const next = rng(20240601);
    let refused = 0;
    for (let n = 0; n < 4000; n++) {
      const vars = randomVars(next);
      const result = roundTrip(formatDotenv, dotenvParse, vars);
      if (result === 'refused') refused++;
      else expect(result, JSON.stringify(vars)).toEqual(Object.fromEntries(vars));
    }
    // Refusals are the exception, not a way to pass.
    expect(refused).toBeLessThan(400);
  });
});

describe('json', () => {
  it('JSON.parse gives back every value', () => {
    const vars: EnvVars = NASTY.map((v, i) => [`V${i}`, v]);
    expect(JSON.parse(formatJson(vars))).toEqual(Object.fromEntries(vars));
  });
});

describe('gitlab dotenv report', () => {
  it('round-trips single-line values through GitLab parsing and the runner expansion ($ as $$)', () => {
    const single = NASTY.filter((v) => !/[\r\n]/.test(v) && v.trim() === v);
    const vars: EnvVars = single.map((v, i) => [`V${i}`, v]);
    const text = formatGitlab(vars);
    expect(text.split('\n')).toHaveLength(vars.length + 1);
    expect(readGitlabDotenv(text, { HOME: '/root', PATH: '/bin' })).toEqual(Object.fromEntries(vars));
  });

  it('refuses multi-line values and values GitLab would strip', () => {
    for (const v of ['a\nb', 'a\rb', ' lead', 'trail ', '\ttab'])
      expect(() => formatGitlab([['V', v]]), JSON.stringify(v)).toThrow(AcctError);
  });

  it('random values: GitLab reads back exactly what was written, or the writer refuses', () => {
    const next = rng(7);
    let refused = 0;
    for (let n = 0; n < 3000; n++) {
      const vars = randomVars(next);
      const result = roundTrip(formatGitlab, (t) => readGitlabDotenv(t, { a: 'EXPANDED' }), vars);
      if (result === 'refused') refused++;
      else expect(result, JSON.stringify(vars)).toEqual(Object.fromEntries(vars));
    }
    expect(3000 - refused).toBeGreaterThan(300);
  });

  it('the expansion helper follows os.Expand', () => {
    const get = (n: string) => (n === '$' ? '$' : ({ A: 'x', B: 'y' } as Record<string, string>)[n] ?? '');
    expect(goExpand('$A-${B}-$$-$-${}-$', get), 'a trailing $ stays; $- and ${} vanish').toBe('x-y-$--$');
  });
});

describe('github', () => {
  it('appends heredoc entries the runner reads back exactly', () => {
    const vars: EnvVars = NASTY.map((v, i) => [`V${i}`, v]);
    const text = githubEnvFile(vars);
    expect(readGithubEnvFile(`EARLIER=1\n${text}`)).toEqual({ EARLIER: '1', ...Object.fromEntries(vars) });
  });

  it('picks another delimiter when the first one occurs in the value', () => {
    const tokens = ['clash', 'fresh'];
    const value = 'x\nACCT_EOF_clash\ny';
    const text = githubEnvFile([['V', value]], () => tokens.shift()!);
    expect(text).toBe(`V<<ACCT_EOF_fresh\n${value}\nACCT_EOF_fresh\n`);
    expect(readGithubEnvFile(text)).toEqual({ V: value });
  });

  it('masks every non-blank line of every value, escaped as workflow-command data', () => {
    const vars: EnvVars = [
      ['A', 'one\ntwo\r\n\n  \nthree%0A'],
      ['B', 'one'],
      ['C', 'lone\rcr'],
    ];
    const out = githubMasks(vars);
    expect(out.endsWith('\n')).toBe(true);
    expect(out.split('\n').slice(0, -1).every((l) => l.startsWith('::add-mask::'))).toBe(true);
    expect(githubMaskValues(out).sort()).toEqual(['lone\rcr', 'one', 'three%0A', 'two'].sort());
  });

  it('random values: the runner reads back exactly what was written', () => {
    const next = rng(99);
    for (let n = 0; n < 2000; n++) {
      const vars = randomVars(next);
      expect(readGithubEnvFile(githubEnvFile(vars)), JSON.stringify(vars)).toEqual(Object.fromEntries(vars));
    }
  });
});
