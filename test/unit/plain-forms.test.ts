// cli.ts parses the plain forms of a few commands without commander; their
// options must stay the ones program.ts declares for those commands.
import { describe, it, expect } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../src/program.js';
import { PLAIN_FORMS, parsePlain } from '../../src/plain.js';
import { parseArgs } from 'node:util';
import type { Context } from '../../src/context.js';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

function declared(cmd: Command) {
  return cmd.options
    .map((o) => ({ name: o.long!.slice(2), takesValue: o.required || o.optional, default: o.defaultValue as unknown }))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
}

describe('plain forms', () => {
  const program = buildProgram({} as Context, async () => {});

  for (const [name, form] of Object.entries(PLAIN_FORMS)) {
    it(`${name}: the same options and arguments as the command tree declares`, () => {
      const cmd = program.commands.find((c) => c.name() === name)!;
      expect(cmd).toBeDefined();
      const plain = Object.entries(form.options!)
        .map(([n, o]) => ({ name: n, takesValue: o.type === 'string', default: o.default as unknown }))
        .sort((a, b) => (a.name < b.name ? -1 : 1));
      expect(plain).toEqual(declared(cmd));
      expect(form.positionals).toBe(cmd.registeredArguments.filter((a) => a.required).length);
      expect(form.variadic).toBe(cmd.registeredArguments.at(-1)?.variadic === true);
      // The same choices, where an option has them.
      for (const o of cmd.options) expect({ name: o.long, choices: form.options[o.long!.slice(2)]!.choices }).toEqual({ name: o.long, choices: o.argChoices });
    });
  }

  it('parses what util.parseArgs parses, and declines the rest', () => {
    const argvs = [
      ['token', 'github'],
      ['token', 'github', '--json'],
      ['token', '--json', 'github'],
      ['token', 'github', '--field', 'api_key'],
      ['token', 'github', '--field=api_key'],
      ['token', 'github', '--field='],
      ['token', 'github', '--min-ttl', '300', '--refresh'],
      ['token', 'stripe/live', '--min-ttl=0'],
      ['token', '-'],
      ['list'],
      ['list', '--app', 'slack', '--json'],
      ['list', '--app=slack'],
      ['env', 'github'],
      ['env', 'GH=github', 'OPENAI_API_KEY=openai/work.api_key', '--format', 'json'],
      ['env', '--format=github', 'stripe/live'],
      ['env', 'github', '--json'],
      // Declined: commander parses these and says what is wrong, or does what they ask.
      ['token'],
      ['token', 'a', 'b'],
      ['token', 'github', '-h'],
      ['token', 'github', '--help'],
      ['token', 'github', '--field'],
      ['token', 'github', '--field', '--json'],
      ['token', 'github', '--json=yes'],
      ['token', 'github', '--json', '--json'],
      ['token', 'github', '--nope'],
      ['token', '--', 'github'],
      ['token', 'github', '--constructor'],
      ['list', 'extra'],
      ['env'],
      ['env', '--format', 'json'],
      ['env', 'github', '--format', 'yaml'],
      ['env', 'github', '--format'],
      ['list', '--app'],
      ['show', 'github'],
      ['constructor'],
    ];
    for (const argv of argvs) {
      const form = Object.hasOwn(PLAIN_FORMS, argv[0]!) ? PLAIN_FORMS[argv[0]!] : undefined;
      let expected: { positionals: string[]; values: Record<string, unknown> } | undefined;
      try {
        const parsed = form && parseArgs({ args: argv.slice(1), options: form.options, allowPositionals: true, strict: true });
        const count = parsed?.positionals.length ?? 0;
        const fits = form?.variadic ? count >= form.positionals : count === form?.positionals;
        // parseArgs knows no choices: a value outside them is for commander to refuse.
        const chosen = Object.entries(form?.options ?? {}).every(([n, o]) => !o.choices || typeof parsed?.values[n] !== 'string' || o.choices.includes(parsed.values[n] as string));
        if (parsed && fits && chosen && !argv.includes('--')) expected = { positionals: parsed.positionals, values: { ...parsed.values } };
      } catch {
        expected = undefined;
      }
      const got = parsePlain(argv);
      // Declining a form parseArgs takes is allowed (commander parses it then); the reverse, or a different reading, is not.
      if (got) expect({ argv, positionals: got.positionals, values: got.values }).toEqual({ argv, ...expected });
      if (!expected) expect({ argv, got }).toEqual({ argv, got: undefined });
    }
    // The forms scripts use are all taken.
    expect(parsePlain(['token', 'github', '--json'])?.values).toEqual({ json: true, 'min-ttl': '60' });
    expect(parsePlain(['token', 'github', '--field=api_key', '--min-ttl', '0'])?.values).toEqual({ field: 'api_key', 'min-ttl': '0' });
    expect(parsePlain(['list', '--app', 'slack'])?.values).toEqual({ app: 'slack' });
    expect(parsePlain(['env', 'A=github', 'B=openai', '--format=shell'])).toMatchObject({ positionals: ['A=github', 'B=openai'], values: { format: 'shell' } });
    expect(parsePlain(['env', 'github'])?.values).toEqual({ format: 'dotenv' });
    expect(parsePlain(['token', 'github', '--json', '--json'])).toBeUndefined();
  });

  it('bin/acct.cjs sends exactly these commands to dist/plain.cjs', () => {
    const bin = readFileSync(resolve(import.meta.dirname, '../../bin/acct.cjs'), 'utf8');
    const list = /const PLAIN = \[([^\]]*)\];/.exec(bin)![1]!;
    expect(list.split(',').map((s) => s.trim().replace(/'/g, '')).sort()).toEqual(Object.keys(PLAIN_FORMS).sort());
  });
});
