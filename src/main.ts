// dist/acct.cjs: every command. bin/acct.cjs runs the plain forms of token
// and list from dist/plain.cjs instead (plain-main.ts), which starts faster.
import { main } from './cli.js';
import { runProcess } from './run.js';

export const run = (): Promise<void> => runProcess(main);
