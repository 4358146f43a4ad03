// Regenerates the committed completion scripts from the built command tree:
// npm run completions. A test fails when they are stale.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const FILES = { bash: 'acct.bash', zsh: '_acct', fish: 'acct.fish' };
for (const [shell, file] of Object.entries(FILES)) {
  const script = execFileSync(process.execPath, [join(root, 'bin/acct.cjs'), 'completion', shell], { encoding: 'utf8' });
  writeFileSync(join(root, 'completions', file), script);
  console.log(`wrote completions/${file}`);
}
