// acct as git's credential helper, with real git against a smart-HTTP server
// (git http-backend behind test/support/git-server.ts, Basic auth checked
// against the real authorization server's tokens): setup-git writes the
// config, clone and push refresh an expired token first, a rejected token
// fails git without acct deleting anything, and several accounts for a host
// without a default are git's usual failure, never a guess.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { startGitServer, type GitServer } from '../support/git-server.js';
import { acct, baseEnv, BIN, tempHome } from '../support/cli.js';
import { BROWSER_COMMAND, connectWithTtl, fingerprint, listJson, revealed, sleep } from '../support/oauth-cli.js';

type Env = Record<string, string | undefined>;

let auth: AuthServer;
let git: GitServer;
beforeAll(async () => {
  auth = await startAuthServer({ accessTokenTtl: 3600 });
  git = await startGitServer();
  git.createRepo('acme/private.git');
  // The server takes what the app's convention says: username oauth2, password a live access token.
  git.setAuthorize(async (username, password) => username === 'oauth2' && (await auth.introspect(password)));
});
afterAll(async () => {
  await git?.close();
  await auth?.close();
});

/** An acct home with the OAuth test app (git host: the git server) and a private git config. */
async function gitHome(): Promise<{ env: Env; home: string; gitconfig: string }> {
  const home = tempHome();
  const gitconfig = join(home, 'gitconfig');
  writeFileSync(gitconfig, '');
  const env = baseEnv({
    ACCT_HOME: home,
    ACCT_STORE: 'file',
    ACCT_PASSPHRASE: 'correct horse battery staple',
    ACCT_BROWSER: BROWSER_COMMAND,
    HOME: home,
    GIT_CONFIG_GLOBAL: gitconfig,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Test',
    GIT_AUTHOR_EMAIL: 'test@example.com',
    GIT_COMMITTER_NAME: 'Test',
    GIT_COMMITTER_EMAIL: 'test@example.com',
  });
  const app = auth.appFile('public', { git: { hosts: [git.host], username: 'oauth2' } });
  const added = await acct(['apps', 'add', 'local', '--file', app], env);
  expect(added.exitCode, added.stderr).toBe(0);
  const set = await acct(['client', 'set', 'local', '--client-id', auth.clients.public.clientId, '--no-secret'], env);
  expect(set.exitCode, set.stderr).toBe(0);
  return { env, home, gitconfig };
}

/** Connects an account whose access token lives `ttl` seconds; returns its id. */
function connect(env: Env, nickname: string, ttl = 3600): Promise<string> {
  return connectWithTtl(auth, env, nickname, ttl, { after: 3600 });
}

const runGit = (args: string[], env: Env, cwd?: string) =>
  execa('git', args, { env, extendEnv: false, reject: false, cwd, timeout: 60_000, stdin: 'ignore' });

const helperEntries = async (env: Env, url: string) => {
  const r = await runGit(['config', '--global', '--get-all', `credential.${url}.helper`], env);
  return r.exitCode === 0 ? r.stdout.split('\n') : [];
};

/** git's view of an answer: key=value lines. */
function answerOf(stdout: string): Record<string, string> {
  expect(stdout.endsWith('\n')).toBe(true);
  return Object.fromEntries(stdout.slice(0, -1).split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function credential(operation: string, input: string, env: Env) {
  return acct(['git-credential', operation], env, { input, stdin: undefined });
}

describe('acct as git credential helper', () => {
  it('setup-git configures the host; clone and push refresh an expired token first and use it', async () => {
    const { env } = await gitHome();
    const id = await connect(env, 'bot', 1);
    const before = await revealed(id, env);
    await sleep(1500);
    expect(await auth.introspect(before.oauth_access_token!)).toBe(false);

    const setup = await acct(['setup-git', '--host', git.host], env);
    expect(setup.exitCode, setup.stderr).toBe(0);
    expect(setup.stderr).toContain(`Configured git for ${git.host}`);
    const helper = `!'${BIN}' git-credential`;
    expect(await helperEntries(env, `http://${git.host}`)).toEqual(['', helper]);
    expect(await helperEntries(env, `https://${git.host}`)).toEqual(['', helper]);

    const refreshes = auth.tokenRequests.refresh;
    const seen = git.attempts.length;
    const dir = mkdtempSync(join(tmpdir(), 'acct-git-clone-'));
    const clone = await runGit(['clone', git.url('acme/private.git'), dir], env);
    expect(clone.exitCode, clone.stderr).toBe(0);
    expect(readFileSync(join(dir, 'README'), 'utf8')).toBe('hello\n');
    // One refresh, and the server saw the new token, never the expired one.
    expect(auth.tokenRequests.refresh).toBe(refreshes + 1);
    const after = await revealed(id, env);
    expect(fingerprint(after.oauth_access_token)).not.toBe(fingerprint(before.oauth_access_token));
    const used = git.attempts.slice(seen);
    expect(used.length).toBeGreaterThan(0);
    expect(used.every((a) => a.ok && a.username === 'oauth2' && fingerprint(a.password) === fingerprint(after.oauth_access_token))).toBe(true);
    // git's output carries no token.
    expect(clone.stderr.includes(after.oauth_access_token!), 'the token is in git\'s output').toBe(false);

    writeFileSync(join(dir, 'CHANGES'), 'pushed through acct\n');
    expect((await runGit(['add', 'CHANGES'], env, dir)).exitCode).toBe(0);
    expect((await runGit(['commit', '-q', '-m', 'second'], env, dir)).exitCode).toBe(0);
    const push = await runGit(['push', 'origin', 'main'], env, dir);
    expect(push.exitCode, push.stderr).toBe(0);
    const log = await execa('git', ['--git-dir', join(git.root, 'acme/private.git'), 'log', '--format=%s', 'main'], { reject: false });
    expect(log.stdout.split('\n')).toEqual(['second', 'first']);
    // The token was fresh: no second refresh.
    expect(auth.tokenRequests.refresh).toBe(refreshes + 1);
  });

  it('a rejected token makes git fail, deletes nothing, and the next request refreshes it', async () => {
    const { env, home } = await gitHome();
    const id = await connect(env, 'bot');
    expect((await acct(['setup-git', '--host', git.host], env)).exitCode).toBe(0);
    const before = await revealed(id, env);

    git.setAuthorize(() => false);
    const refreshes = auth.tokenRequests.refresh;
    try {
      const clone = await runGit(['clone', git.url('acme/private.git'), mkdtempSync(join(tmpdir(), 'acct-git-clone-'))], env);
      expect(clone.exitCode).not.toBe(0);
      expect(clone.stderr).toContain('acct: git rejected the token for local/bot; the next request refreshes it');
      expect(clone.stderr).toMatch(/Authentication failed/);
    } finally {
      git.setAuthorize(async (username, password) => username === 'oauth2' && (await auth.introspect(password)));
    }
    // Nothing deleted or changed: same account, same status, same credentials.
    const [account] = await listJson(env);
    expect(account).toMatchObject({ id, status: 'ok' });
    const kept = await revealed(id, env);
    expect(fingerprint(kept.oauth_access_token)).toBe(fingerprint(before.oauth_access_token));
    expect(fingerprint(kept.oauth_refresh_token)).toBe(fingerprint(before.oauth_refresh_token));
    expect(auth.tokenRequests.refresh).toBe(refreshes);
    // The note holds the account id, no secret.
    const note = readFileSync(join(home, 'git-rejected.json'), 'utf8');
    expect(Object.keys(JSON.parse(note).accounts)).toEqual([id]);
    expect(note.includes(before.oauth_access_token!), 'the token is in the note').toBe(false);

    // The token was still valid, but git said no: the next get refreshes it, once.
    const get = await credential('get', `protocol=http\nhost=${git.host}\n\n`, env);
    expect(get.exitCode, get.stderr).toBe(0);
    expect(auth.tokenRequests.refresh).toBe(refreshes + 1);
    const fresh = await revealed(id, env);
    expect(fingerprint(fresh.oauth_access_token)).not.toBe(fingerprint(before.oauth_access_token));
    const answer = answerOf(get.stdout);
    expect(Object.keys(answer)).toEqual(['username', 'password', 'password_expiry_utc']);
    expect(answer.username).toBe('oauth2');
    expect(fingerprint(answer.password)).toBe(fingerprint(fresh.oauth_access_token));
    expect(answer.password_expiry_utc).toBe(String(Math.floor(Date.parse((await listJson(env))[0]!.expires_at) / 1000)));
    expect(JSON.parse(readFileSync(join(home, 'git-rejected.json'), 'utf8')).accounts).toEqual({});
    const again = await credential('get', `protocol=http\nhost=${git.host}\n\n`, env);
    expect(fingerprint(answerOf(again.stdout).password)).toBe(fingerprint(answer.password));
    expect(auth.tokenRequests.refresh).toBe(refreshes + 1);
  });

  it('erase of a password acct did not hand out changes nothing', async () => {
    const { env, home } = await gitHome();
    await connect(env, 'bot');
    const r = await credential('erase', `protocol=http\nhost=${git.host}\nusername=oauth2\npassword=not-the-token\n\n`, env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    expect(existsSync(join(home, 'git-rejected.json'))).toBe(false);
    const store = await credential('store', `protocol=http\nhost=${git.host}\nusername=oauth2\npassword=whatever\n\n`, env);
    expect(store.exitCode).toBe(0);
    expect(store.stdout + store.stderr).toBe('');
  });

  it('two accounts for the host and no default: git fails, stderr names them; a default or the remote owner decides', async () => {
    const { env } = await gitHome();
    const alice = await connect(env, 'alice');
    const bob = await connect(env, 'bob');
    // The first account became the app's default; without one, the host is ambiguous.
    expect((await acct(['default', 'local', '--unset'], env)).exitCode).toBe(0);
    expect((await acct(['setup-git', '--host', git.host], env)).exitCode).toBe(0);
    const seen = git.attempts.length;
    const clone = await runGit(['clone', git.url('acme/private.git'), mkdtempSync(join(tmpdir(), 'acct-git-clone-'))], env);
    expect(clone.exitCode).not.toBe(0);
    expect(clone.stderr).toContain(`${git.host} matches 2 accounts: local/alice (${alice}), local/bob (${bob})`);
    expect(clone.stderr).toContain('acct default local/alice');
    // No token was sent at all.
    expect(git.attempts.length).toBe(seen);

    // With credential.useHttpPath git sends the path: its owner names an account.
    const byPath = await credential('get', `protocol=http\nhost=${git.host}\npath=bob/tools.git\n\n`, env);
    expect(byPath.exitCode, byPath.stderr).toBe(0);
    expect(fingerprint(answerOf(byPath.stdout).password)).toBe(fingerprint((await revealed(bob, env)).oauth_access_token));
    // So does a username in the remote URL.
    const byUser = await credential('get', `protocol=http\nhost=${git.host}\nusername=alice\n\n`, env);
    expect(fingerprint(answerOf(byUser.stdout).password)).toBe(fingerprint((await revealed(alice, env)).oauth_access_token));
    expect(answerOf(byUser.stdout).username).toBe('oauth2');

    expect((await acct(['default', 'local/bob'], env)).exitCode).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'acct-git-clone-'));
    const ok = await runGit(['clone', git.url('acme/private.git'), dir], env);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const bobToken = (await revealed(bob, env)).oauth_access_token;
    expect(git.attempts.slice(seen).filter((a) => a.ok).every((a) => fingerprint(a.password) === fingerprint(bobToken))).toBe(true);
  });

  it('answers nothing for another protocol, host or port, and for CR, NUL or a username it does not know', async () => {
    const { env } = await gitHome();
    await connect(env, 'bot');
    const good = await credential('get', `protocol=http\nhost=${git.host}\ncapability[]=authtype\ncapability[]=state\nwwwauth[]=Basic realm="x"\nunknown=1\n\n`, env);
    expect(good.exitCode, good.stderr).toBe(0);
    const answer = answerOf(good.stdout);
    expect(Object.keys(answer)).toEqual(['username', 'password', 'password_expiry_utc']);
    expect(answer.username).toBe('oauth2');
    expect(answer.password_expiry_utc).toMatch(/^\d{10}$/);
    const otherPort = `127.0.0.1:${git.port === 65535 ? 1 : git.port + 1}`;
    for (const input of [
      `protocol=ftp\nhost=${git.host}\n\n`,
      `protocol=ssh\nhost=${git.host}\n\n`,
      `protocol=http\nhost=${otherPort}\n\n`,
      `protocol=https\nhost=github.com.${git.host}\n\n`,
      `protocol=http\nhost=example.com\n\n`,
      `host=${git.host}\n\n`,
      `protocol=http\nhost=${git.host}\r\n\n`,
      `protocol=http\nhost=${git.host}\0evil.example\n\n`,
      `protocol=http\nhost=${git.host}\nusername=mallory\n\n`,
    ]) {
      const r = await credential('get', input, env);
      expect(r.exitCode, `${JSON.stringify(input)}: ${r.stderr}`).toBe(0);
      expect(r.stdout.length, `answered ${JSON.stringify(input)}`).toBe(0);
    }
  });

  it('setup-git twice does not duplicate; --unset removes exactly its entries', async () => {
    const { env, gitconfig } = await gitHome();
    await connect(env, 'bot');
    // Someone else's helper for another host stays.
    expect((await runGit(['config', '--global', 'credential.https://example.com.helper', 'store'], env)).exitCode).toBe(0);
    for (let i = 0; i < 2; i++) {
      const r = await acct(['setup-git', '--json'], env);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual([
        { host: git.host, config: [`credential.https://${git.host}.helper`, `credential.http://${git.host}.helper`], apps: ['local'], helper: `!'${BIN}' git-credential` },
      ]);
    }
    expect(await helperEntries(env, `http://${git.host}`)).toEqual(['', `!'${BIN}' git-credential`]);
    expect(readFileSync(gitconfig, 'utf8').match(/git-credential/g)).toHaveLength(2);

    // A helper the user added after acct's for one of the URLs stays, with the reset before it.
    expect((await runGit(['config', '--global', '--add', `credential.https://${git.host}.helper`, 'cache'], env)).exitCode).toBe(0);
    const unset = await acct(['setup-git', '--unset'], env);
    expect(unset.exitCode, unset.stderr).toBe(0);
    expect(unset.stderr).toContain(`Removed credential.http://${git.host}.helper`);
    expect(unset.stderr).toContain(`Removed acct from credential.https://${git.host}.helper (other helpers there stay: "", "cache")`);
    expect(await helperEntries(env, `http://${git.host}`)).toEqual([]);
    expect(await helperEntries(env, `https://${git.host}`)).toEqual(['', 'cache']);
    expect(await helperEntries(env, 'https://example.com')).toEqual(['store']);
    const twice = await acct(['setup-git', '--unset'], env);
    expect(twice.exitCode).toBe(0);
    expect(twice.stderr).toContain('nothing to remove');
  });

  it("setup-git keeps another helper for the same host (gh's), adding acct after it; --replace removes it and says so", async () => {
    const { env } = await gitHome();
    await connect(env, 'bot');
    const key = `credential.https://${git.host}.helper`;
    for (const value of ['', '!gh auth git-credential']) expect((await runGit(['config', '--global', '--add', key, value], env)).exitCode).toBe(0);
    for (let i = 0; i < 2; i++) {
      const r = await acct(['setup-git', '--host', git.host], env);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stderr).toContain('after the helpers already there ("!gh auth git-credential")');
      expect(r.stderr).toContain(`acct setup-git --host ${git.host} --replace`);
      expect(await helperEntries(env, `https://${git.host}`)).toEqual(['', '!gh auth git-credential', `!'${BIN}' git-credential`]);
    }
    // The URL without a helper of its own gets the reset and acct, as before.
    expect(await helperEntries(env, `http://${git.host}`)).toEqual(['', `!'${BIN}' git-credential`]);
    const replaced = await acct(['setup-git', '--host', git.host, '--replace'], env);
    expect(replaced.exitCode, replaced.stderr).toBe(0);
    expect(replaced.stderr).toMatch(/warning: removed the helpers .* had in your global git config \(--replace\): "!gh auth git-credential"/);
    expect(await helperEntries(env, `https://${git.host}`)).toEqual(['', `!'${BIN}' git-credential`]);
    expect((await acct(['setup-git', '--unset', '--replace'], env)).exitCode).toBe(2);
  });

  it('a key app whose host is a field of the account: only the account for that host answers', async () => {
    const { env } = await gitHome();
    const app = join(mkdtempSync(join(tmpdir(), 'acct-keyapp-')), 'app.json');
    writeFileSync(
      app,
      JSON.stringify({
        name: 'Self-managed forge',
        auth: 'keys',
        fields: [
          { name: 'token', label: 'Token' },
          { name: 'host', label: 'Host', secret: false },
        ],
        api: { baseUrl: 'https://{host}/api', auth: { type: 'header', name: 'PRIVATE-TOKEN', value: '{token}' } },
        env: { token: 'FORGE_TOKEN' },
        git: { hosts: ['{host}'], username: 'x-token' },
      }),
    );
    expect((await acct(['apps', 'add', 'forge', '--file', app], env)).exitCode).toBe(0);
    const connectKey = async (nickname: string, token: string, host: string) => {
      const r = await acct(['connect', 'forge', '--stdin', '--no-verify', '--nickname', nickname], env, { input: JSON.stringify({ token, host }), stdin: undefined });
      expect(r.exitCode, r.stderr).toBe(0);
    };
    await connectKey('elsewhere', 'forge-token-for-another-host', 'git.example.org');
    await connectKey('this-host', 'forge-token-for-this-host', git.host);

    const setup = await acct(['setup-git', '--json'], env);
    expect(setup.exitCode, setup.stderr).toBe(0);
    expect(JSON.parse(setup.stdout).map((h: { host: string }) => h.host)).toEqual([git.host, 'git.example.org']);

    git.setAuthorize((username, password) => username === 'x-token' && password === 'forge-token-for-this-host');
    const seen = git.attempts.length;
    try {
      const clone = await runGit(['clone', git.url('acme/private.git'), mkdtempSync(join(tmpdir(), 'acct-git-clone-'))], env);
      expect(clone.exitCode, clone.stderr).toBe(0);
    } finally {
      git.setAuthorize(async (username, password) => username === 'oauth2' && (await auth.introspect(password)));
    }
    const sent = git.attempts.slice(seen).map((a) => a.password);
    expect(sent.length).toBeGreaterThan(0);
    expect(sent.every((p) => p === 'forge-token-for-this-host')).toBe(true);
  });

  it('setup-git refuses a host no app names', async () => {
    const { env, gitconfig } = await gitHome();
    const r = await acct(['setup-git', '--host', 'git.example.org'], env);
    expect(r.exitCode).toBe(3);
    expect(r.stderr).toContain('no app in the catalog names the git host git.example.org');
    const bad = await acct(['setup-git', '--host', 'a.b]helper'], env);
    expect(bad.exitCode).toBe(2);
    expect(readFileSync(gitconfig, 'utf8')).toBe('');
  });
});
