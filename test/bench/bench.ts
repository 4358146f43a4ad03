// npm run bench: every figure of the spec's Budgets table, measured against a
// baseline taken in the same run so the figures mean the same thing on any
// machine. Start-up figures are the median of alternating runs of the command
// and `node -e 0`, both on a bare Node: NODE_EXTRA_CA_CERTS, NODE_OPTIONS and
// NODE_COMPILE_CACHE are removed from both environments (these machines set
// the first, and parsing a CA bundle at every start pulls every ratio towards
// 1). Tests never assert on time; this prints, and exits 1 when a figure is
// over its budget.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { agentSocket, startKeyringSession, type KeyringSession } from '../support/keyring.js';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { AccountFile, ACCOUNT_FILE_NAME, serializeAccounts } from '../../src/store/account-file.js';
import type { Account } from '../../src/accounts/model.js';
import { startPostgres, type PgCluster } from '../support/postgres.js';

const run = promisify(execFile);
const ROOT = resolve(process.env.ACCT_BENCH_ROOT ?? '.');
const BIN = join(ROOT, 'bin/acct.cjs');
const BROWSER = `${process.execPath} ${join(ROOT, 'test/support/browser.mjs')}`;
const ROUNDS = Number(process.env.ACCT_BENCH_ROUNDS ?? 25);
/** Variables that would make the measured Node starts slower, or faster, than a user's. */
const NOT_BARE = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS', 'NODE_COMPILE_CACHE'];

type Env = Record<string, string | undefined>;

/** A user's environment, minus what is not bare Node: every measured command and its baseline get this. */
function bareEnv(extra: Env): NodeJS.ProcessEnv {
  const env = { PATH: process.env.PATH, LANG: 'C.UTF-8', NO_COLOR: '1', ...extra } as NodeJS.ProcessEnv;
  for (const name of NOT_BARE) delete env[name];
  return env;
}

/** Runs acct without blocking this process: the authorization server lives here too. */
async function acct(args: string[], env: Env, input?: string): Promise<string> {
  const child = execFile(process.execPath, [BIN, ...args], { env: bareEnv(env), maxBuffer: 1 << 28 });
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

interface Ratio {
  baseline: number;
  candidate: number;
  ratio: number;
}

/** Alternates baseline and candidate; returns both medians and their ratio. */
function compare(candidate: string[], env: NodeJS.ProcessEnv): Ratio {
  const base: number[] = [];
  const cand: number[] = [];
  timeOnce(['-e', '0'], env); // warm the file cache (and acct's code cache) for both
  timeOnce(candidate, env);
  for (let i = 0; i < ROUNDS; i++) {
    base.push(timeOnce(['-e', '0'], env));
    cand.push(timeOnce(candidate, env));
  }
  return { baseline: median(base), candidate: median(cand), ratio: median(cand) / median(base) };
}

const results: boolean[] = [];
const pad = (name: string) => name.padEnd(52);

function ratio(name: string, budget: number, r: Ratio): void {
  const ok = r.ratio <= budget;
  results.push(ok);
  console.log(`${pad(name)} ${r.ratio.toFixed(2)}x node -e 0 (budget ${budget}x; ${r.candidate.toFixed(1)} ms vs ${r.baseline.toFixed(1)} ms) ${ok ? 'within budget' : 'OVER BUDGET'}`);
}

function reference(name: string, r: Ratio): void {
  console.log(`${pad(`  ${name}`)} ${r.ratio.toFixed(2)}x node -e 0 (${r.candidate.toFixed(1)} ms; reference, no budget)`);
}

function figure(name: string, ok: boolean, text: string): void {
  results.push(ok);
  console.log(`${pad(name)} ${text} ${ok ? 'within budget' : 'OVER BUDGET'}`);
}

/** Why callers failed, each distinct reason once (with how many), so a figure that is over budget says why. */
function failures(settled: PromiseSettledResult<unknown>[]): void {
  const why = new Map<string, number>();
  for (const r of settled) {
    if (r.status !== 'rejected') continue;
    const e = r.reason as { code?: number; stderr?: string; message?: string };
    const reason = `exit ${e.code ?? '?'}: ${(e.stderr || e.message || String(r.reason)).trim().split('\n')[0]}`;
    why.set(reason, (why.get(reason) ?? 0) + 1);
  }
  for (const [reason, n] of why) console.log(`  ${n} failed: ${reason}`);
}

function notMeasured(name: string, why: string): void {
  console.log(`${pad(name)} not measured: ${why}`);
}

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const fakeId = (i: number) => `acc_${[...i.toString(32).padStart(10, '0')].map((c) => BASE32[parseInt(c, 32)]).join('')}`;

function keyApp(home: string): string {
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
  return app;
}

/** Account metadata with no secret behind it: the accounts of a large store that a command does not touch. */
function fakeAccount(i: number, nickname: string, now: string) {
  return {
    id: fakeId(i),
    app: ['github', 'slack', 'openai', 'stripe'][i % 4],
    nickname,
    auth: i % 2 ? 'keys' : 'oauth2',
    status: 'ok',
    scopes: [],
    fields: ['api_key'],
    identity: null,
    expiresAt: i % 2 ? null : now,
    createdAt: now,
    updatedAt: now,
  };
}

/** Adds metadata-only accounts (never read for secrets) to a store, so it holds `total` accounts. */
function padStore(home: string, total: number): void {
  const path = join(home, ACCOUNT_FILE_NAME);
  const m = AccountFile.parse(path, readFileSync(path)).metadata();
  const now = new Date().toISOString();
  for (let i = m.accounts.length; i < total; i++) m.accounts.push(fakeAccount(1_000_000 + i, `filler-${i}`, now) as Account);
  writeFileSync(path, serializeAccounts(m), { mode: 0o600 });
}

/** The keychain agent serving this session, and its resident memory. */
function agentRss(session: KeyringSession): { pid: number; kib: number } | undefined {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (!cmd.includes('acct-agent') && !cmd.includes('agent.cjs')) continue;
      if (!readFileSync(`/proc/${pid}/environ`, 'utf8').includes(session.env.DBUS_SESSION_BUS_ADDRESS!)) continue;
      const kib = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      return { pid: Number(pid), kib };
    } catch {
      // a process that ended while we looked
    }
  }
  return undefined;
}

async function keychainFigures(server: AuthServer): Promise<void> {
  const session = await startKeyringSession();
  try {
    const home = mkdtempSync(join(tmpdir(), 'acct-bench-'));
    // HOME as every user has it: the code cache lives under it.
    const env: Env = { ...session.env, ACCT_HOME: home, HOME: home };
    await acct(['apps', 'add', 'bench', '--file', keyApp(home)], env);
    const refs: string[] = [];
    for (let i = 0; i < 10; i++) {
      await acct(['connect', 'bench', '--stdin', '--no-verify', '--nickname', `k${i}`], env, `bench_secret_value_${i}`);
      refs.push(`BENCH_${i}=bench/k${i}`);
    }
    await acct(['default', 'bench/k0'], env);
    await acct(['apps', 'add', 'local', '--file', server.appFile('public')], env);
    await acct(['client', 'set', 'local', '--client-id', server.clients.public.clientId, '--no-secret'], { ...env, ACCT_BROWSER: BROWSER });
    await acct(['connect', 'local'], { ...env, ACCT_BROWSER: BROWSER });
    // The first read starts the keychain agent (Linux); later runs go through it, as a user's do.
    await acct(['token', 'bench'], env);
    await agentSocket(session, 10_000);
    const e = bareEnv(env);

    ratio('acct token, key account (keychain, agent running)', 1.3, compare([BIN, 'token', 'bench'], e));
    reference('the same without the agent (ACCT_AGENT=0)', compare([BIN, 'token', 'bench'], bareEnv({ ...env, ACCT_AGENT: '0' })));
    // The floor under those figures: a CommonJS script that loads the keyring addon and reads one item.
    const floor = join(home, 'floor.cjs');
    writeFileSync(floor, `const { AsyncEntry } = require(${JSON.stringify(join(ROOT, 'node_modules/@napi-rs/keyring'))});\nnew AsyncEntry('acct-bench', 'floor').getPassword().then(() => {});\n`);
    reference('floor: a script that reads one keyring item', compare([floor], e));
    ratio('acct token, OAuth account, access token valid', 1.3, compare([BIN, 'token', 'local'], e));
    ratio('acct env, 10 accounts', 1.5, compare([BIN, 'env', ...refs], e));
    ratio('acct exec, 10 accounts -- true', 1.5, compare([BIN, 'exec', ...refs, '--', 'true'], e));
    ratio('acct exec <ref> -- true', 1.4, compare([BIN, 'exec', 'bench/k0', '--', 'true'], e));
    // The floor under the exec figures: a script that only runs `true` with its output piped, as exec must to mask it.
    const spawnFloor = join(home, 'spawn-floor.cjs');
    writeFileSync(spawnFloor, `require('node:child_process').spawn('true', [], { stdio: ['inherit', 'pipe', 'pipe'] }).on('close', (code) => process.exit(code));\n`);
    reference('floor: a script that runs true, output piped', compare([spawnFloor], e));

    const rss = agentRss(session);
    if (rss) figure('the idle keychain agent', rss.kib <= 30 * 1024, `${(rss.kib / 1024).toFixed(1)} MiB resident (budget 30 MiB)`);
    else figure('the idle keychain agent', false, 'no agent process found');
    const idle = await idleNodeRss(e);
    console.log(`${pad('  floor: an idle node that does nothing')} ${(idle / 1024).toFixed(1)} MiB resident (reference, no budget)`);

    masking(env, refs);

    await teamTokenFigure(session);

    padStore(home, 10_000);
    ratio('acct token in a store of 10,000 accounts', 1.5, compare([BIN, 'token', 'bench/k3'], e));
    ratio('acct env, 10 accounts, in a store of 10,000', 1.6, compare([BIN, 'env', ...refs], e));
  } finally {
    await session.stop();
  }
}

/** The resident memory of a bare `node` that waits and does nothing: the floor under the agent's figure. */
async function idleNodeRss(env: NodeJS.ProcessEnv): Promise<number> {
  const child = execFile(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], { env });
  try {
    await new Promise((r) => setTimeout(r, 1500));
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1]);
  } finally {
    child.kill();
  }
}

/** exec's masking throughput: the bytes a child writes, over the time masking adds to passing them through. */
function masking(env: Env, refs: string[]): void {
  const dir = mkdtempSync(join(tmpdir(), 'acct-bench-mask-'));
  const file = join(dir, 'output.txt');
  const MB = 128;
  // Text like a build log, with a secret now and then.
  const line = 'INFO 2026-12-01T08:00:00Z step=deploy target=eu-west-1 status=ok duration=123ms id=0123456789abcdef\n';
  const chunk = Buffer.from(line.repeat(Math.ceil((1 << 20) / line.length)).slice(0, 1 << 20) + '');
  const parts: Buffer[] = [];
  for (let i = 0; i < MB; i++) parts.push(i % 16 === 0 ? Buffer.concat([chunk.subarray(0, 1000), Buffer.from(`token=bench_secret_value_${i % 10} `), chunk.subarray(1000 + 30)]) : chunk);
  writeFileSync(file, Buffer.concat(parts));
  const bytes = MB * (1 << 20);
  const e = bareEnv(env);
  const timed = (args: string[]) => {
    const xs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = process.hrtime.bigint();
      const r = spawnSync(process.execPath, [BIN, 'exec', ...args], { env: e, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 20 });
      if (r.status !== 0) throw new Error(`acct exec failed: ${r.stderr}`);
      xs.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    return median(xs);
  };
  const masked = timed([...refs, '--', 'cat', file]);
  const passed = timed(['--no-mask', ...refs, '--', 'cat', file]);
  const mbs = bytes / (1 << 20) / (Math.max(1, masked - passed) / 1000);
  figure('acct exec masking throughput, 10 secrets', mbs >= 300, `${mbs.toFixed(0)} MB/s (${MB} MB in ${masked.toFixed(0)} ms, ${passed.toFixed(0)} ms unmasked; budget at least 300 MB/s)`);
  // The ceiling over it: masking needs the child's output to come through a
  // pipe, and the time one pipe between two C programs adds bounds the figure.
  const shell = (script: string) => {
    const xs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = process.hrtime.bigint();
      const r = spawnSync('sh', ['-c', script, 'sh', file], { stdio: 'ignore' });
      if (r.status !== 0) throw new Error(`sh -c ${script} failed`);
      xs.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    return median(xs);
  };
  const piped = shell('cat "$1" | cat > /dev/null');
  const direct = shell('cat "$1" > /dev/null');
  const ceiling = bytes / (1 << 20) / (Math.max(1, piped - direct) / 1000);
  console.log(`${pad('  ceiling: the same bytes through cat | cat')} ${ceiling.toFixed(0)} MB/s (${piped.toFixed(0)} ms, ${direct.toFixed(0)} ms without the pipe; reference, no budget)`);
}

function listFigures(): void {
  for (const [count, budget] of [
    [1000, 1.5],
    [10_000, 3],
  ] as const) {
    const home = mkdtempSync(join(tmpdir(), 'acct-bench-'));
    const now = new Date().toISOString();
    const accounts = Array.from({ length: count }, (_, i) => fakeAccount(i, `account-${i}`, now));
    writeFileSync(join(home, ACCOUNT_FILE_NAME), serializeAccounts({ version: 1, accounts: accounts as Account[], defaults: {}, retiredIds: [] }), { mode: 0o600 });
    const env = bareEnv({ ACCT_HOME: home, HOME: home });
    const out = spawnSync(process.execPath, [BIN, 'list'], { env, encoding: 'utf8', maxBuffer: 1 << 26 });
    if (out.status !== 0 || out.stdout.split('\n').length < count) throw new Error(`acct list did not list ${count} accounts: ${out.stderr}`);
    ratio(`acct list, ${count.toLocaleString('en')} accounts`, budget, compare([BIN, 'list'], env));
  }
}

let pg: PgCluster | undefined;
const cluster = async () => (pg ??= await startPostgres());
const memberUrl = (c: PgCluster) => `postgres://${c.host}:${c.port}/acct`;

/**
 * acct token on a team account whose key is valid: a private PostgreSQL
 * cluster on 127.0.0.1 (as a small team runs it), the member's credentials in
 * the keychain (agent running), as a member's machine has them. The warm
 * connection is the agent's (agent/databases.ts): each run reads the member's
 * credentials, resolves the reference (with the member check), reads the
 * sealed secret (the agent opens it) and records the use, three statements on
 * that connection. The references below open their own connection each run:
 * load the driver, start a backend, log in (SCRAM).
 */
async function teamTokenFigure(session: KeyringSession): Promise<void> {
  const c = await cluster();
  const home = mkdtempSync(join(tmpdir(), 'acct-bench-team-'));
  const env: Env = { ...session.env, ACCT_HOME: home, HOME: home, USER: 'bench' };
  await acct(['team', 'create', 'benchteam', c.url], { ...env, PGPASSWORD: c.password });
  await acct(['connect', 'stripe', '--team', 'benchteam', '--nickname', 'live', '--stdin', '--no-verify'], env, 'sk_live_bench_team_value_000000000');
  await acct(['token', 'benchteam:stripe/live'], env);
  ratio('acct token, team account (keychain, agent running)', 2, compare([BIN, 'token', 'benchteam:stripe/live'], bareEnv(env)));
  reference('the same without the agent (ACCT_AGENT=0)', compare([BIN, 'token', 'benchteam:stripe/live'], bareEnv({ ...env, ACCT_AGENT: '0' })));
  // The same account read by a CI member: ACCT_TEAM/ACCT_TEAM_KEY, no local store at all.
  const key = (await acct(['team', 'add-ci', 'benchteam', '--name', 'ci'], env)).trim();
  await acct(['share', 'benchteam:stripe/live', '--with', 'ci'], env);
  const ciHome = mkdtempSync(join(tmpdir(), 'acct-bench-ci-'));
  const ci: Env = { ACCT_HOME: ciHome, HOME: ciHome, ACCT_TEAM: memberUrl(c), ACCT_TEAM_KEY: key };
  await acct(['token', 'benchteam:stripe/live'], ci);
  reference('the same in CI (ACCT_TEAM, ACCT_TEAM_KEY)', compare([BIN, 'token', 'benchteam:stripe/live'], bareEnv(ci)));
}

/** 5 machines (homes, each a member) x 20 concurrent acct token on one expired team account. */
async function teamRefreshFigure(server: AuthServer): Promise<void> {
  const c = await cluster();
  const homes = Array.from({ length: 5 }, (_, i) => {
    const home = mkdtempSync(join(tmpdir(), 'acct-bench-m-'));
    return { ACCT_HOME: home, HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: `bench passphrase ${i}`, USER: `m${i}`, ACCT_BROWSER: BROWSER } as Env;
  });
  const [owner, ...others] = homes;
  await acct(['team', 'create', 'refresh', c.url], { ...owner, PGPASSWORD: c.password });
  for (const m of others) {
    const code = await acct(['team', 'invite', 'refresh', '--name', m.USER!], owner!);
    await acct(['team', 'join', memberUrl(c), '--code-stdin'], m, code);
  }
  const app = server.appFile('public');
  for (const m of homes) await acct(['apps', 'add', 'local', '--file', app], m);
  await acct(['client', 'set', 'local', '--team', 'refresh', '--client-id', server.clients.public.clientId, '--no-secret'], owner!);
  server.setAccessTokenTtl(1);
  await acct(['connect', 'local', '--team', 'refresh', '--nickname', 'bot'], owner!);
  server.setAccessTokenTtl(600);
  await acct(['share', 'refresh:local/bot', '--with', 'team'], owner!);
  await new Promise((r) => setTimeout(r, 1500));
  const before = server.tokenRequests.refresh;
  const start = Date.now();
  const settled = await Promise.allSettled(homes.flatMap((m) => Array.from({ length: 20 }, () => run(process.execPath, [BIN, 'token', 'refresh:local/bot'], { env: bareEnv(m) }))));
  const ok = settled.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ stdout: string }>[];
  const tokens = new Set(ok.map((r) => r.value.stdout));
  const requests = server.tokenRequests.refresh - before;
  failures(settled);
  figure(
    '5 machines x 20 acct token, expired team account',
    requests === 1 && tokens.size === 1 && ok.length === 100,
    `${requests} token request${requests === 1 ? '' : 's'}, ${ok.length}/100 succeeded, ${tokens.size} distinct token${tokens.size === 1 ? '' : 's'}, ${Date.now() - start} ms (budget: exactly one request, all succeed)`,
  );
}

async function refreshFigures(server: AuthServer): Promise<void> {
  for (const callers of [50, 200]) {
    const home = mkdtempSync(join(tmpdir(), 'acct-bench-'));
    const env: Env = { ACCT_HOME: home, HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'bench passphrase', ACCT_BROWSER: BROWSER };
    await acct(['apps', 'add', 'local', '--file', server.appFile('public')], env);
    await acct(['client', 'set', 'local', '--client-id', server.clients.public.clientId, '--no-secret'], env);
    server.setAccessTokenTtl(1);
    await acct(['connect', 'local'], env);
    // A lifetime longer than the run, so every caller must get the one new token.
    server.setAccessTokenTtl(600);
    await new Promise((r) => setTimeout(r, 1500));
    const before = server.tokenRequests.refresh;
    const start = Date.now();
    // When the token request came, against each caller's 30 s refresh deadline: what makes callers fail on a slow machine.
    let requestedAt: number | undefined;
    const watch = setInterval(() => {
      if (requestedAt === undefined && server.tokenRequests.refresh > before) requestedAt = Date.now() - start;
    }, 20);
    const settled = await Promise.allSettled(Array.from({ length: callers }, () => run(process.execPath, [BIN, 'token', 'local'], { env: bareEnv(env) })));
    clearInterval(watch);
    const ok = settled.filter((r) => r.status === 'fulfilled') as PromiseFulfilledResult<{ stdout: string }>[];
    const tokens = new Set(ok.map((r) => r.value.stdout));
    const requests = server.tokenRequests.refresh - before;
    failures(settled);
    figure(
      `${callers} concurrent acct token, expired token`,
      requests === 1 && tokens.size === 1 && ok.length === callers,
      `${requests} token request${requests === 1 ? '' : 's'} (the first at ${requestedAt ?? '-'} ms), ${ok.length}/${callers} succeeded, ${tokens.size} distinct token${tokens.size === 1 ? '' : 's'}, ${Date.now() - start} ms (budget: exactly one request, all succeed)`,
    );
  }
}

console.log(`acct ${JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version}, node ${process.version}, ${ROUNDS} alternating rounds, bare Node (${NOT_BARE.join(', ')} unset)`);
// ACCT_BENCH_ONLY=refresh,team (keychain, list, refresh, team): only those groups of figures, for working on one.
const only = process.env.ACCT_BENCH_ONLY?.split(',');
const wanted = (group: string) => !only || only.includes(group);
const server = await startAuthServer({ accessTokenTtl: 600 });
try {
  if (wanted('keychain')) await keychainFigures(server);
  if (wanted('list')) listFigures();
  if (wanted('refresh')) await refreshFigures(server);
  if (wanted('team')) await teamRefreshFigure(server);
} finally {
  await server.close();
  pg?.destroy();
}
process.exitCode = results.every(Boolean) ? 0 : 1;
