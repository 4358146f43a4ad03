// Prompts behind a small interface. The real one loads @inquirer/prompts only
// when a prompt is actually shown, and refuses without a terminal.
import { usageError, cancelled } from '../errors.js';

export interface Prompter {
  /** True when stdin and stderr are terminals. */
  readonly interactive: boolean;
  /** Hidden input. `instead` names the flag or variable to use without a terminal. */
  secret(message: string, instead: string): Promise<string>;
  input(message: string, instead: string, defaultValue?: string): Promise<string>;
  confirm(message: string, instead: string): Promise<boolean>;
}

export function terminalPrompter(io: { stdin: NodeJS.ReadStream; stderr: NodeJS.WriteStream }): Prompter {
  // Looked at on first use: touching process.stdin sets up a stream, which
  // commands that never read it (acct token) should not pay for.
  const isInteractive = () => Boolean(io.stdin.isTTY && io.stderr.isTTY);
  const guard = (instead: string) => {
    if (!isInteractive()) throw usageError(`cannot prompt without a terminal`, `use ${instead}`);
  };
  const context = () => ({ input: io.stdin, output: io.stderr, clearPromptOnDone: false });
  const run = async <T>(p: () => Promise<T>): Promise<T> => {
    try {
      return await p();
    } catch (err) {
      if ((err as Error)?.name === 'ExitPromptError') throw cancelled();
      throw err;
    }
  };
  return {
    get interactive() {
      return isInteractive();
    },
    async secret(message, instead) {
      guard(instead);
      const { password } = await import('@inquirer/prompts');
      return run(() => password({ message, mask: false }, context()));
    },
    async input(message, instead, defaultValue) {
      guard(instead);
      const { input } = await import('@inquirer/prompts');
      return run(() => input({ message, default: defaultValue }, context()));
    },
    async confirm(message, instead) {
      guard(instead);
      const { confirm } = await import('@inquirer/prompts');
      return run(() => confirm({ message, default: false }, context()));
    },
  };
}
