// cli.ts parses the plain forms of a few commands without commander; their
// options must stay the ones program.ts declares for those commands.
import { describe, it, expect } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../src/program.js';
import { PLAIN_FORMS } from '../../src/plain.js';
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
    });
  }

  it('bin/acct.cjs sends exactly these commands to dist/plain.cjs', () => {
    const bin = readFileSync(resolve(import.meta.dirname, '../../bin/acct.cjs'), 'utf8');
    const list = /const PLAIN = \[([^\]]*)\];/.exec(bin)![1]!;
    expect(list.split(',').map((s) => s.trim().replace(/'/g, '')).sort()).toEqual(Object.keys(PLAIN_FORMS).sort());
  });
});
