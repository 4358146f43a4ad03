// A key its service rejects becomes needs-reconnect, as a refused OAuth grant
// does: `acct test` and `acct status --check` record a confirmed rejection
// (the test request answered 401) the way they record a pass, and only that.
// A 5xx or an unreachable service changes no status; a later passing test, or
// a reconnect, clears it. Against a real HTTP server on 127.0.0.1 whose answer
// each step sets.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { startApiServer, type ApiServer } from '../support/api-server.js';
import { listJson } from '../support/oauth-cli.js';

type Env = Record<string, string | undefined>;
const KEY = 'lk_rejected_key_0123456789';
const NEW_KEY = 'lk_replacement_key_0123456789';

/** What the API answers every request with, for now. */
let answer: 200 | 401 | 503 = 200;
let api: ApiServer;
let env: Env;
let id: string;

async function run(args: string[], stdin?: string) {
  const r = await acct(args, env, stdin === undefined ? {} : { input: stdin, stdin: undefined });
  for (const s of [KEY, NEW_KEY]) expect(r.stdout.includes(s) || r.stderr.includes(s), 'a secret leaked').toBe(false);
  return r;
}
const stored = async () => (await listJson(env)).find((a) => a.id === id)!.status;
/** `acct status` from local data alone: its exit code and the account's row. */
async function localStatus() {
  const r = await run(['status', '--json']);
  return { exitCode: r.exitCode, status: (JSON.parse(r.stdout) as { id: string; status: string }[]).find((x) => x.id === id)!.status };
}

beforeAll(async () => {
  api = await startApiServer((_req, res) => {
    res.writeHead(answer, { 'content-type': 'application/json' });
    res.end(JSON.stringify(answer === 200 ? { user: { login: 'kim' } } : { error: answer === 401 ? 'the key was revoked' : 'down for maintenance' }));
  });
  env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'rejected key tests', ACCT_HTTP_TIMEOUT: '5' });
  const added = await acct(['apps', 'add', 'svc', '--file', keyAppFile(api.url)], env);
  expect(added.exitCode, added.stderr).toBe(0);
  const c = await run(['connect', 'svc', '--stdin'], KEY);
  expect(c.exitCode, c.stderr).toBe(0);
  id = c.stdout.trim();
});
afterAll(async () => {
  await api?.close();
});

describe('a key its service rejects', () => {
  it('acct test: a 401 marks it needs-reconnect, kept by list and status (exit 4); token says so', async () => {
    expect(await stored()).toBe('ok');
    answer = 401;
    const t = await run(['test', 'svc']);
    expect(t.exitCode).toBe(4);
    expect(t.stderr).toContain('rejected: svc/kim');
    expect(await stored()).toBe('needs-reconnect');
    expect(await localStatus()).toEqual({ exitCode: 4, status: 'needs-reconnect' });
    const token = await run(['token', 'svc']);
    expect(token.exitCode).toBe(4);
    expect(token.stdout).toBe('');
    expect(token.stderr).toContain('svc/kim needs to be reconnected');
    expect(token.stderr).toContain(`acct reconnect ${id}`);
    expect(token.stderr).toContain(`acct test ${id}`);
  });

  it('a 5xx while it is marked changes nothing; a passing acct test clears it', async () => {
    answer = 503;
    const down = await run(['test', 'svc']);
    expect(down.exitCode).toBe(5);
    expect(await stored()).toBe('needs-reconnect');

    answer = 200;
    const t = await run(['test', 'svc']);
    expect(t.exitCode, t.stderr).toBe(0);
    expect(t.stdout).toContain('ok: svc/kim');
    expect(await stored()).toBe('ok');
    expect(await localStatus()).toEqual({ exitCode: 0, status: 'ok' });
    // acct token prints the key: its output is the one place it may be.
    const token = await acct(['token', 'svc'], env);
    expect(token.exitCode, token.stderr).toBe(0);
    expect(token.stdout.trim() === KEY).toBe(true);
  });

  it('status --check records the rejection too, and a later passing --check clears it', async () => {
    answer = 401;
    const check = await run(['status', '--check', '--json']);
    expect(check.exitCode).toBe(4);
    expect(JSON.parse(check.stdout)).toMatchObject([{ id, status: 'needs-reconnect', result: 'rejected' }]);
    // Saved: a plain status says it without a request, and exits 4.
    const before = api.seen.length;
    expect(await localStatus()).toEqual({ exitCode: 4, status: 'needs-reconnect' });
    expect(api.seen.length).toBe(before);
    expect(await stored()).toBe('needs-reconnect');

    // A marked key is tested again by --check.
    answer = 200;
    const again = await run(['status', '--check', '--json']);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject([{ id, status: 'ok', result: 'ok' }]);
    expect(api.seen.length).toBe(before + 1);
    expect(await localStatus()).toEqual({ exitCode: 0, status: 'ok' });
  });

  it('reconnect clears it', async () => {
    answer = 401;
    expect((await run(['test', 'svc'])).exitCode).toBe(4);
    expect(await stored()).toBe('needs-reconnect');
    answer = 200;
    const r = await run(['reconnect', 'svc', '--stdin'], NEW_KEY);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(id);
    expect(await stored()).toBe('ok');
    expect((await acct(['token', 'svc'], env)).stdout.trim() === NEW_KEY).toBe(true);
  });

  it('an unconfirmed failure never marks it: a 5xx, then the service unreachable', async () => {
    answer = 503;
    const t = await run(['test', 'svc']);
    expect(t.exitCode).toBe(5);
    const check = await run(['status', '--check', '--json']);
    expect(check.exitCode).toBe(5);
    expect(JSON.parse(check.stdout)).toMatchObject([{ id, status: 'unreachable', result: 'unreachable' }]);
    expect(await stored()).toBe('ok');

    await api.close();
    const gone = await run(['test', 'svc']);
    expect(gone.exitCode).toBe(5);
    expect(gone.stderr).toContain('unreachable: svc/kim');
    const off = await run(['status', '--check', '--json']);
    expect(off.exitCode).toBe(5);
    expect(JSON.parse(off.stdout)).toMatchObject([{ id, result: 'unreachable' }]);
    expect(await stored()).toBe('ok');
    expect(await localStatus()).toEqual({ exitCode: 0, status: 'ok' });
  });
});
