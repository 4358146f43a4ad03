// dist/plain.cjs: the plain forms of token, list and env (plain.ts) and only the
// code they need. Without the command tree and commander it is a third the
// size of dist/acct.cjs, which is a few milliseconds of every `acct token`.

import { parsePlain, runPlain } from './plain.js';
import { runProcess } from './run.js';

/** Runs argv if it is a plain form and says so; bin/acct.cjs runs dist/acct.cjs when it is not. */
export function start(argv: string[]): boolean {
  const call = parsePlain(argv);
  if (!call) return false;
  void runProcess((_, io, env) => runPlain(call, io, env));
  return true;
}
