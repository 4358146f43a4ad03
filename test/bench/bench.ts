// npm run bench: the spec's budgets, measured against a baseline taken in the
// same run so the figures mean the same thing on any machine.
//   token: `acct token <ref>` with a valid stored credential (keychain store,
//          real Secret Service, keychain agent running), median within 1.3x
//          of `node -e 0`
//   list:  `acct list` with 1,000 accounts, median within 1.5x of `node -e 0`
//   refresh: 50 concurrent `acct token` on an expired token → one token request
// The two commands of each pair are run alternately so drift hits both alike.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { agentSocket, startKeyringSession } from '../support/keyring.js';
import { startAuthServer } from '../support/oauth-server.js';

const run = promisify(execFile);
const ROOT = resolve(process.env.ACCT_BENCH_ROOT ?? '.');
const BIN = join(ROOT, 'bin/acct.cjs');
const BROWSER = `${process.execPath} ${join(ROOT, 'test/support/browser.mjs')}`;
const ROUNDS = Number(process.env.ACCT_BENCH_ROUNDS ?? 25);

type Env = Record<string, string | undefined>;

function baseEnv(extra: Env): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, LANG: 'C.UTF-8', NO_COLOR: '1', ...extra } as NodeJS.ProcessEnv;
}

/** Runs acct without blocking this process: the authorization server lives here too. */
async function acct(args: string[], env: Env, input?: string): Promise<string> {
  const child = execFile(process.execPath, [BIN, ...args], { env: baseEnv(env) });
  child.stdin!.end(input ?? '');
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) throw new Error(`acct ${args.join(' ')} failed (${code}): ${stderr}`);
  return stdout;
}

function timeOnce(args: string[], env: NodeJS.ProcessEnv): number {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  return ms;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

/** Alternates baseline and candidate; returns both medians and their ratio. */
function compare(candidate: string[], env: NodeJS.ProcessEnv) {
  const base: number[] = [];
  const cand: number[] = [];
  timeOnce(['-e', '0'], env); // warm the file cache for both
  timeOnce(candidate, env);
  for (let i = 0; i < ROUNDS; i++) {
    base.push(timeOnce(['-e', '0'], env));
    cand.push(timeOnce(candidate, env));
  }
  return { baseline: median(base), candidate: median(cand), ratio: median(cand) / median(base) };
}

function report(name: string, budget: number, r: { baseline: number; candidate: number; ratio: number }) {
  const verdict = r.ratio <= budget ? 'within budget' : 'OVER BUDGET';
  console.log(`${name.padEnd(34)} ${r.ratio.toFixed(2)}x node -e 0 (budget ${budget}x; ${r.candidate.toFixed(1)} ms vs ${r.baseline.toFixed(1)} ms) ${verdict}`);
  return r.ratio <= budget;
}

async function benchToken(): Promise<boolean> {
  const session = await startKeyringSession();
  try {
    const home = mkdtempSync(join(tmpdir(), 'acct-bench-'));
    const env: Env = { ...session.env, ACCT_HOME: home };
    const app = join(home, 'app.json');
    writeFileSync(
      app,
      JSON.stringify({
        name: 'Bench',
        auth: 'keys',
        api: { baseUrl: 'https://api.bench.example', auth: { type: 'header', name: 'Authorization', value: 'Bearer {api_key}' } },
        fields: [{ name: 'api_key', label: 'API key' }],
        env: { api_key: 'BENCH_API_KEY' },
        test: { path: '/me' },
      }),
    );
    await acct(['apps', 'add', 'bench', '--file', app], env);
    await acct(['connect', 'bench', '--stdin', '--no-verify'], env, 'bench_secret_value');
    // The first read starts the keychain agent (Linux); later runs go through it, as a user's do.
    await acct(['token', 'bench'], env);
    await agentSocket(session, 10_000);
    const ok = report('acct token (keychain store)', 1.3, compare([BIN, 'token', 'bench'], baseEnv(env)));
    const direct = compare([BIN, 'token', 'bench'], baseEnv({ ...env, ACCT_AGENT: '0' }));
    console.log(`${'  without the agent (ACCT_AGENT=0)'.padEnd(34)} ${direct.ratio.toFixed(2)}x node -e 0 (${direct.candidate.toFixed(1)} ms; reference, no budget)`);
    // For reference, the floor under that figure: a CommonJS script (as
    // bin/acct.cjs is) that loads the keyring addon and reads one Secret
    // Service item, and nothing else.
    const floor = join(home, 'floor.cjs');
    writeFileSync(
      floor,
      `const { AsyncEntry } = require(${JSON.stringify(join(ROOT, 'node_modules/@napi-rs/keyring'))});\nnew AsyncEntry('acct-bench', 'floor').getPassword().then(() => {});\n`,
    );
    const f = compare([floor], baseEnv(env));
    console.log(`${'  floor: one keyring read'.padEnd(34)} ${f.ratio.toFixed(2)}x node -e 0 (${f.candidate.toFixed(1)} ms; reference, no budget)`);
    return ok;
  } finally {
    await session.stop();
  }
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

function benchList(): boolean {
  const home = mkdtempSync(join(tmpdir(), 'acct-bench-'));
  const now = new Date().toISOString();
  const accounts = Array.from({ length: 1000 }, (_, i) => ({
    id: `acc_${[...i.toString(32).padStart(10, '0')].map((c) => BASE32[parseInt(c, 32)]).join('')}`,
    app: ['github', 'slack', 'openai', 'stripe'][i % 4],
    nickname: `account-${i}`,
    auth: i % 2 ? 'keys' : 'oauth2',
    status: 'ok',
    scopes: [],
    fields: ['api_key'],
    identity: null,
    expiresAt: i % 2 ? null : now,
    createdAt: now,
    updatedAt: now,
  }));
  writeFileSync(join(home, 'accounts.json'), JSON.stringify({ version: 1, accounts, defaults: {}, retiredIds: [] }), { mode: 0o600 });
  // HOME as every user has it (without it acct asks node:os where home is); the code cache goes there too.
  const env = baseEnv({ ACCT_HOME: home, HOME: home });
  const out = spawnSync(process.execPath, [BIN, 'list'], { env, encoding: 'utf8' });
  if (out.status !== 0 || out.stdout.split('\n').length < 1000) throw new Error(`acct list did not list 1,000 accounts: ${out.stderr}`);
  return report('acct list (1,000 accounts)', 1.5, compare([BIN, 'list'], env));
}

async function benchRefresh(): Promise<boolean> {
  const server = await startAuthServer({ accessTokenTtl: 300 });
  try {
    const home = mkdtempSync(join(tmpdir(), 'acct-bench-'));
    const env: Env = { ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'bench passphrase', ACCT_BROWSER: BROWSER };
    await acct(['apps', 'add', 'local', '--file', server.appFile('public')], env);
    await acct(['client', 'set', 'local', '--client-id', server.clients.public.clientId, '--no-secret'], env);
    server.setAccessTokenTtl(1);
    await acct(['connect', 'local'], env);
    server.setAccessTokenTtl(300);
    await new Promise((r) => setTimeout(r, 1500));
    const before = server.tokenRequests.refresh;
    const start = Date.now();
    const results = await Promise.all(Array.from({ length: 50 }, () => run(process.execPath, [BIN, 'token', 'local'], { env: baseEnv(env) })));
    const tokens = new Set(results.map((r) => r.stdout));
    const requests = server.tokenRequests.refresh - before;
    const ok = requests === 1 && tokens.size === 1;
    console.log(
      `${'50 concurrent acct token, expired'.padEnd(34)} ${requests} token request${requests === 1 ? '' : 's'}, ${tokens.size} distinct token${tokens.size === 1 ? '' : 's'}, ${Date.now() - start} ms ${ok ? 'within budget' : 'OVER BUDGET'}`,
    );
    return ok;
  } finally {
    await server.close();
  }
}

console.log(`acct ${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}, node ${process.version}, ${ROUNDS} alternating rounds`);
const results = [await benchToken(), benchList(), await benchRefresh()];
process.exitCode = results.every(Boolean) ? 0 : 1;
