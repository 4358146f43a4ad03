// dist/plain.cjs: the plain forms of token and list (plain.ts) and only the
// code they need. Without the command tree and commander it is a third the
// size of dist/acct.cjs, which is a few milliseconds of every `acct token`.
// bin/acct.cjs asks accepts() first and runs dist/acct.cjs for anything else.
import { parsePlain, runPlain } from './plain.js';
import { runProcess } from './run.js';

export const accepts = (argv: string[]): boolean => parsePlain(argv) !== undefined;

export const run = (): Promise<void> =>
  runProcess((argv, io, env) => {
    const call = parsePlain(argv);
    if (!call) throw new Error(`not a plain form: acct ${argv[0]}`); // bin/acct.cjs asked accepts() first
    return runPlain(call, io, env);
  });
