// Nicknames that keep references working: a bare nickname and a bare app slug
// are both references, so a nickname that is an app's slug (built in or added)
// is refused wherever a nickname is picked, one that another app's account has
// too is allowed with a note, and an automatic one never takes a nickname in
// use. Stores that already hold such nicknames keep resolving as before.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { startApiServer, type ApiServer } from '../support/api-server.js';
import { listJson } from '../support/oauth-cli.js';

type Env = Record<string, string | undefined>;
const input = (text: string) => ({ input: text, stdin: undefined });

const STRIPE_LIVE = 'sk_test_NICKlive00000000000000000';
const STRIPE_OTHER = 'sk_test_NICKother0000000000000000';
const OPENAI = 'sk-NICKopenai000000000000000000000000000000000000';
const TWILIO = JSON.stringify({ account_sid: 'AC0123456789abcdef0123456789abcdef', auth_token: 'NICKtwilio0000000000000000000000' });
const SECRETS = [STRIPE_LIVE, STRIPE_OTHER, OPENAI, TWILIO, 'NICKtwilio0000000000000000000000'];

/** The identity the key API names for any key: set per test. */
let login = 'kim';
let api: ApiServer;
beforeAll(async () => {
  api = await startApiServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ user: { login } }));
  });
});
afterAll(async () => {
  await api?.close();
});

function home(): Env {
  return baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'nickname tests' });
}

async function run(args: string[], env: Env, stdin?: string) {
  const r = await acct(args, env, stdin === undefined ? {} : input(stdin));
  for (const s of SECRETS) expect(r.stdout.includes(s) || r.stderr.includes(s), 'a secret leaked').toBe(false);
  return r;
}

async function connect(env: Env, app: string, key: string, ...flags: string[]) {
  const r = await run(['connect', app, '--stdin', '--no-verify', ...flags], env, key);
  expect(r.exitCode, r.stderr).toBe(0);
  return { id: r.stdout.trim(), stderr: r.stderr };
}

const nicknames = async (env: Env) => (await listJson(env)).map((a) => `${a.app}/${a.nickname}`).sort();

describe('a nickname that is an app slug', () => {
  it('is refused at connect (exit 2, a hint, nothing stored), so the app slug keeps naming the account', async () => {
    const env = home();
    await connect(env, 'stripe', STRIPE_LIVE, '--nickname', 'live');
    const r = await run(['connect', 'stripe', '--stdin', '--no-verify', '--nickname', 'stripe'], env, STRIPE_OTHER);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('"stripe" is the name of an app, so it cannot be a nickname');
    expect(r.stderr).toContain('pick another nickname');
    expect(r.stdout).toBe('');
    expect(await nicknames(env)).toEqual(['stripe/live']);
    // Another app's slug would make that slug ambiguous as soon as it has an account.
    const other = await run(['connect', 'openai', '--stdin', '--no-verify', '--nickname', 'github'], env, OPENAI);
    expect(other.exitCode).toBe(2);
    expect(other.stderr).toContain('"github" is the name of an app');
    expect(await nicknames(env)).toEqual(['stripe/live']);

    const token = await acct(['token', 'stripe'], env);
    expect(token.exitCode, token.stderr).toBe(0);
    expect(token.stdout.trim()).toBe(STRIPE_LIVE);
  });

  it('a user-added app slug counts too', async () => {
    const env = home();
    const added = await acct(['apps', 'add', 'svc', '--file', keyAppFile(api.url)], env);
    expect(added.exitCode, added.stderr).toBe(0);
    const r = await run(['connect', 'stripe', '--stdin', '--no-verify', '--nickname', 'svc'], env, STRIPE_LIVE);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toContain('"svc" is the name of an app');
    expect(await nicknames(env)).toEqual([]);
  });

  it('is refused by rename, which leaves the nickname as it was', async () => {
    const env = home();
    await connect(env, 'stripe', STRIPE_LIVE, '--nickname', 'live');
    for (const slug of ['stripe', 'twilio']) {
      const r = await run(['rename', 'stripe/live', slug], env);
      expect(r.exitCode).toBe(2);
      expect(r.stderr).toContain(`"${slug}" is the name of an app`);
    }
    expect(await nicknames(env)).toEqual(['stripe/live']);
    expect((await acct(['token', 'stripe'], env)).stdout.trim()).toBe(STRIPE_LIVE);
  });

  it('in a store that already has one (the app was added after), references resolve as before', async () => {
    const env = home();
    const { id } = await connect(env, 'stripe', STRIPE_LIVE, '--nickname', 'billing');
    // A nickname that was free when chosen, and is an app's slug now.
    const added = await acct(['apps', 'add', 'billing', '--file', keyAppFile(api.url)], env);
    expect(added.exitCode, added.stderr).toBe(0);
    for (const ref of ['billing', 'stripe/billing', 'stripe', id]) {
      const r = await acct(['token', ref], env);
      expect(r.exitCode, `${ref}: ${r.stderr}`).toBe(0);
      expect(r.stdout.trim()).toBe(STRIPE_LIVE);
    }
    // The account keeps working: reconnect keeps its nickname.
    const re = await run(['reconnect', 'stripe/billing', '--stdin', '--no-verify'], env, STRIPE_OTHER);
    expect(re.exitCode, re.stderr).toBe(0);
    expect(await nicknames(env)).toEqual(['stripe/billing']);
    expect((await acct(['token', 'billing'], env)).stdout.trim()).toBe(STRIPE_OTHER);
  });
});

describe('a nickname another app has too', () => {
  it('is allowed, with a note naming the accounts the bare nickname names now', async () => {
    const env = home();
    const twilio = await connect(env, 'twilio', TWILIO);
    expect(await nicknames(env)).toEqual(['twilio/twilio-1']);
    expect(twilio.stderr).not.toContain('Note:');
    const openai = await connect(env, 'openai', OPENAI, '--nickname', 'twilio-1');
    expect(openai.stderr).toContain(
      `Note: "twilio-1" now names 2 accounts (openai/twilio-1 (${openai.id}), twilio/twilio-1 (${twilio.id})), so it is ambiguous alone; name one as app/nickname: openai/twilio-1`,
    );
    // Ambiguous, as the note said; app/nickname names each.
    expect((await acct(['token', 'twilio-1'], env)).exitCode).toBe(3);
    expect((await acct(['token', 'openai/twilio-1'], env)).stdout.trim()).toBe(OPENAI);

    // rename says so too; a nickname no other account has says nothing.
    const stripe = await connect(env, 'stripe', STRIPE_LIVE, '--nickname', 'work');
    expect(stripe.stderr).not.toContain('Note:');
    const r = await run(['rename', 'openai/twilio-1', 'work'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain(`Note: "work" now names 2 accounts (openai/work (${openai.id}), stripe/work (${stripe.id}))`);
    expect(r.stderr).toContain('name one as app/nickname: openai/work');
    // twilio-1 names one account again.
    expect((await acct(['token', 'twilio-1', '--field', 'account_sid'], env)).stdout.trim()).toBe('AC0123456789abcdef0123456789abcdef');
  });

  it('an automatic nickname skips one another app took, so the bare nickname still names one account', async () => {
    const env = home();
    const openai = await connect(env, 'openai', OPENAI, '--nickname', 'twilio-1');
    const twilio = await connect(env, 'twilio', TWILIO);
    expect(twilio.stderr).toContain(`Connected twilio/twilio-2 (${twilio.id})`);
    expect(twilio.stderr).not.toContain('Note:');
    const r = await acct(['token', 'twilio-1'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(OPENAI);
    expect(openai.id).not.toBe(twilio.id);
  });

  it('an identity that is an app slug is numbered; the same identity at two apps is noted', async () => {
    const env = home();
    for (const slug of ['svc', 'old']) {
      const added = await acct(['apps', 'add', slug, '--file', keyAppFile(api.url)], env);
      expect(added.exitCode, added.stderr).toBe(0);
    }
    login = 'github';
    const gh = await run(['connect', 'svc', '--stdin'], env, 'lk_nick_first_key_0001');
    expect(gh.exitCode, gh.stderr).toBe(0);
    expect(gh.stderr).toContain('Connected svc/github-2');
    expect((await acct(['token', 'github-2'], env)).exitCode).toBe(0);

    login = 'kim';
    const a = await run(['connect', 'svc', '--stdin'], env, 'lk_nick_second_key_002');
    expect(a.exitCode, a.stderr).toBe(0);
    expect(a.stderr).not.toContain('Note:');
    const b = await run(['connect', 'old', '--stdin'], env, 'lk_nick_third_key_0003');
    expect(b.exitCode, b.stderr).toBe(0);
    expect(b.stderr).toContain('Connected old/kim');
    expect(b.stderr).toContain('Note: "kim" now names 2 accounts');
    expect(b.stderr).toContain('name one as app/nickname: old/kim');
  });
});
