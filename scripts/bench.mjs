// npm run bench: bundles test/bench/bench.ts (it shares the test support for
// the Secret Service and the authorization server) and runs it.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'node_modules', '.cache', 'acct', 'bench.mjs');
mkdirSync(dirname(out), { recursive: true });
await build({ entryPoints: [join(root, 'test/bench/bench.ts')], bundle: true, packages: 'external', platform: 'node', format: 'esm', target: 'node20', outfile: out, logLevel: 'error' });
const r = spawnSync(process.execPath, [out], { stdio: 'inherit', env: { ...process.env, ACCT_BENCH_ROOT: root } });
process.exitCode = r.status ?? 1;
