// The command tree as plain data for the completion scripts, read off the
// commander program so a new command or option completes without extra work.
import type { Command, Option } from 'commander';

/** What a positional argument or an option value completes to. */
export type ValueKind = { kind: 'refs' } | { kind: 'apps' } | { kind: 'files' } | { kind: 'shells' } | { kind: 'choices'; values: string[] } | { kind: 'none' };

export interface OptionSpec {
  flags: string[];
  description: string;
  /** Undefined when the option takes no value. */
  value?: ValueKind;
}

export interface CommandSpec {
  /** Words that lead here, e.g. ["client", "set"]; the root is []. */
  path: string[];
  names: string[];
  description: string;
  options: OptionSpec[];
  /** What the positional arguments complete to (the last repeats when variadic). */
  args: ValueKind[];
  /** The last positional argument repeats. */
  variadic: boolean;
  subcommands: CommandSpec[];
  /** `exec`: after `--` comes a command line. */
  takesCommand: boolean;
}

const ARGUMENT_KINDS: Record<string, ValueKind> = {
  app: { kind: 'apps' },
  query: { kind: 'apps' },
  ref: { kind: 'refs' },
  refs: { kind: 'refs' },
  file: { kind: 'files' },
  shell: { kind: 'shells' },
};

const OPTION_VALUE_KINDS: Record<string, ValueKind> = {
  '--file': { kind: 'files' },
  '--output': { kind: 'files' },
  '--app': { kind: 'apps' },
};

function optionSpec(o: Option): OptionSpec {
  const flags = [o.short, o.long].filter((f): f is string => Boolean(f));
  const spec: OptionSpec = { flags, description: o.description };
  if (o.required || o.optional)
    spec.value = o.argChoices?.length ? { kind: 'choices', values: o.argChoices } : (OPTION_VALUE_KINDS[o.long ?? ''] ?? { kind: 'none' });
  return spec;
}

export function commandTree(cmd: Command, path: string[] = []): CommandSpec {
  const hidden = (c: Command) => (c as unknown as { _hidden?: boolean })._hidden === true;
  return {
    path,
    names: [cmd.name(), ...cmd.aliases()],
    description: cmd.description(),
    options: [...cmd.options.filter((o) => !o.hidden).map(optionSpec), { flags: ['-h', '--help'], description: 'display help' }],
    args: cmd.registeredArguments.map((a) => ARGUMENT_KINDS[a.name()] ?? { kind: 'none' }),
    variadic: cmd.registeredArguments.some((a) => a.variadic),
    subcommands: cmd.commands.filter((c) => !hidden(c) && c.name() !== 'help').map((c) => commandTree(c, [...path, c.name()])),
    takesCommand: cmd.name() === 'exec',
  };
}

export function allCommands(root: CommandSpec): CommandSpec[] {
  return [root, ...root.subcommands.flatMap(allCommands)];
}
