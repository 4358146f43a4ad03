// buildProgram(…, only): the command a line names is built alone (cli.ts),
// and must read, parse and help exactly as it does in the whole tree.
import { describe, it, expect } from 'vitest';
import type { Command } from 'commander';
import { buildProgram } from '../../src/program.js';
import type { Context } from '../../src/context.js';

const build = (only?: string) => buildProgram({} as Context, async () => {}, [], only);

/** A command's help and its subcommands', recursively. */
function helps(cmd: Command): string[] {
  return [cmd.helpInformation(), ...cmd.commands.flatMap(helps)];
}

describe('a command built alone', () => {
  const full = build();

  it('is the only one built, under its name or an alias', () => {
    expect(build('exec').commands.map((c) => c.name())).toEqual(['exec']);
    expect(build('ls').commands.map((c) => c.name())).toEqual(['list']);
    expect(build('rm').commands.map((c) => c.name())).toEqual(['delete']);
    // A name that is no command builds nothing (cli.ts then builds the whole tree, whose suggestion needs every name).
    expect(build('exce').commands).toEqual([]);
    // acct completion prints a script of every command.
    expect(build('completion').commands.map((c) => c.name())).toEqual(build().commands.map((c) => c.name()));
  });

  for (const cmd of full.commands.filter((c) => c.name() !== 'completion')) {
    it(`${cmd.name()}: the same help, options and subcommands as in the whole tree`, () => {
      const alone = build(cmd.name());
      expect(alone.commands).toHaveLength(1);
      const [own] = alone.commands;
      expect(helps(own!)).toEqual(helps(cmd));
      expect(own!.options.map((o) => [o.flags, o.defaultValue])).toEqual(cmd.options.map((o) => [o.flags, o.defaultValue]));
      expect(own!.aliases()).toEqual(cmd.aliases());
    });
  }
});
