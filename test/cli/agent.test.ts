// The keychain agent (src/agent/): a background process that keeps one
// connection to the Secret Service, against a real gnome-keyring on a private
// D-Bus session. It must only ever be a shortcut: everything a direct
// keychain read would report (locked keyring, missing key, tampered file)
// is still reported, and a refusal sends acct back to the direct read.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { agentSocket, startKeyringSession, type KeyringSession } from '../support/keyring.js';
import { acct, baseEnv, BIN, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { storedMetadata } from '../support/accounts.js';
import type { Account } from '../../src/accounts/model.js';
import { AGENT_PROTOCOL } from '../../src/agent/protocol.js';

const SECRET = 'lk_agent_secret_value_0123456789';
const HOOK = resolve(import.meta.dirname, '../support/trace-loads.cjs');

/** Process ids of agents serving this socket. */
function agentPids(socket: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(`acct-agent ${socket}`);
      } catch {
        return false; // exited while we looked
      }
    })
    .map(Number);
}

/** Whether this run of acct loaded the keyring addon (it reads the keychain directly) or not (the agent answered). */
async function loadsKeyringAddon(args: string[], env: Record<string, string | undefined>): Promise<{ loaded: boolean; stdout: string; exitCode: number }> {
  const trace = join(mkdtempSync(join(tmpdir(), 'acct-trace-')), 'loads.txt');
  const r = await execa('node', ['--require', HOOK, BIN, ...args], { env: { ...env, ACCT_TRACE_LOADS: trace }, extendEnv: false, reject: false, stripFinalNewline: false });
  return { loaded: readFileSync(trace, 'utf8').includes('@napi-rs/keyring'), stdout: String(r.stdout), exitCode: r.exitCode ?? -1 };
}

async function waitUntil(done: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends raw request lines to the agent and returns its answer. */
function ask(socket: string, ...lines: string[]): Promise<{ ok: boolean; reason?: string; plain?: string }> {
  return new Promise((done, fail) => {
    let reply = '';
    const s = createConnection(socket, () => s.write(lines.map((l) => `${l}\n`).join('')));
    s.setEncoding('utf8');
    s.on('data', (d: string) => (reply += d));
    s.on('end', () => done(JSON.parse(reply)));
    s.on('error', fail);
  });
}

describe('keychain agent', () => {
  let session: KeyringSession;
  let home: string;
  let env: Record<string, string | undefined>;
  let socket: string;

  beforeAll(async () => {
    session = await startKeyringSession();
    home = tempHome();
    env = baseEnv({ ...session.env, ACCT_HOME: home });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
    expect((await acct(['connect', 'local', '--stdin', '--no-verify'], env, { input: SECRET, stdin: undefined })).exitCode).toBe(0);
  });
  afterAll(async () => {
    await session?.stop();
  });

  it('starts after a direct keychain read and then answers reads without the keyring addon', async () => {
    const first = await acct(['token', 'local'], env);
    expect(first).toMatchObject({ exitCode: 0, stdout: `${SECRET}\n` });
    socket = await agentSocket(session);
    // Only the user may enter the folder that holds the socket.
    expect(statSync(join(socket, '..')).mode & 0o777).toBe(0o700);
    expect(agentPids(socket)).toHaveLength(1);

    const viaAgent = await loadsKeyringAddon(['token', 'local'], env);
    expect(viaAgent).toMatchObject({ exitCode: 0, stdout: `${SECRET}\n`, loaded: false });
    // The check can fail: without the agent the same read loads the addon.
    const direct = await loadsKeyringAddon(['token', 'local'], { ...env, ACCT_AGENT: '0' });
    expect(direct).toMatchObject({ exitCode: 0, stdout: `${SECRET}\n`, loaded: true });
  });

  it('acct env of several accounts opens all their secrets in one conversation with the agent', async () => {
    socket ??= await agentSocket(session);
    const values = ['lk_agent_batch_one_0123456789', 'lk_agent_batch_two_0123456789', 'lk_agent_batch_three_012345678'];
    for (const [i, v] of values.entries())
      expect((await acct(['connect', 'local', '--stdin', '--no-verify', '--nickname', `batch${i}`], env, { input: v, stdin: undefined })).exitCode).toBe(0);
    const trace = join(mkdtempSync(join(tmpdir(), 'acct-trace-')), 'connects.txt');
    const r = await execa('node', ['--require', resolve(import.meta.dirname, '../support/count-connects.cjs'), BIN, 'env', '--format', 'json', 'A=local/batch0', 'B=local/batch1', 'C=local/batch2'], {
      env: { ...env, ACCT_TRACE_CONNECTS: trace },
      extendEnv: false,
      reject: false,
    });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(JSON.parse(String(r.stdout))).toEqual({ A: values[0], B: values[1], C: values[2] });
    // One conversation, on a lane (the socket is for when every lane is taken).
    expect(readFileSync(trace, 'utf8').split('\n').filter((p) => p.endsWith(`:${socket}`))).toEqual([`lane:${socket}`]);
  });

  it('many runs at once start one agent', async () => {
    await Promise.all(Array.from({ length: 8 }, () => acct(['token', 'local'], env)));
    expect(agentPids(socket)).toHaveLength(1);
  });

  it('refuses requests it should not answer', async () => {
    const store = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8'));
    const [account] = storedMetadata(home).accounts as [Account];
    const sealed = JSON.parse(readFileSync(join(home, 'secrets', `${account.id}.json`), 'utf8'));
    const request = { v: AGENT_PROTOCOL, op: 'open', bus: session.env.DBUS_SESSION_BUS_ADDRESS, keychainAccount: `data-key:${store.id}` };
    const secret = { aad: account.id, sealed };
    const line = JSON.stringify;

    const good = await ask(socket, line(request), line(secret));
    expect(good.ok).toBe(true);
    expect(JSON.parse(Buffer.from(good.plain!, 'base64').toString('utf8'))).toEqual({ api_key: SECRET });

    // The first line is refused on its own, before any secret is sent.
    expect(await ask(socket, line({ ...request, bus: 'unix:path=/elsewhere' }))).toMatchObject({ ok: false, reason: /another D-Bus session/ });
    expect(await ask(socket, line({ ...request, keychainAccount: 'login-password' }))).toMatchObject({ ok: false, reason: /unsupported/ });
    expect(await ask(socket, line({ ...request, v: 1, ...secret }))).toMatchObject({ ok: false, reason: /unsupported/ });
    expect(await ask(socket, 'not json')).toMatchObject({ ok: false, reason: /malformed/ });
    expect(await ask(socket, line(request), line({ ...secret, aad: 'acc_someoneelse' }))).toMatchObject({ ok: false, reason: /does not open/ });
    expect(await ask(socket, line(request), 'not json')).toMatchObject({ ok: false, reason: /malformed/ });

    // A key the keychain does not hold is refused, and the next conversation,
    // naming the real key again, gets that one.
    const missing = { ...request, keychainAccount: 'data-key:st_0000000000000000' };
    expect(await ask(socket, line(missing), line(secret))).toMatchObject({ ok: false, reason: /not readable/ });
    const again = await ask(socket, line(request), line(secret));
    expect(again.ok).toBe(true);
    expect(JSON.parse(Buffer.from(again.plain!, 'base64').toString('utf8'))).toEqual({ api_key: SECRET });
  });

  it('a conversation dropped after its first line leaves the agent serving, and acct does not wait for it', async () => {
    const store = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8'));
    const first = JSON.stringify({ v: AGENT_PROTOCOL, op: 'open', bus: session.env.DBUS_SESSION_BUS_ADDRESS, keychainAccount: `data-key:${store.id}` });
    await new Promise<void>((done, fail) => {
      const s = createConnection(socket, () => s.end(`${first}\n`, () => done()));
      s.on('error', fail);
    });
    // acct names the data key before it looks up the account; an unknown one
    // ends the run at once (the agent would only close the connection after 5 s).
    const unknown = await acct(['token', 'nosuchapp'], env, { timeout: 4_000 });
    expect(unknown.exitCode).toBe(3);
    expect(unknown.stderr).toMatch(/nosuchapp/);
    const viaAgent = await loadsKeyringAddon(['token', 'local'], env);
    expect(viaAgent).toMatchObject({ exitCode: 0, stdout: `${SECRET}\n`, loaded: false });
    expect(agentPids(socket)).toHaveLength(1);
  });

  it('acct takes a lane when one is free, gives it back, and uses the socket when every lane is held', async () => {
    const lanes = `${socket}.lanes`;
    expect(statSync(lanes).mode & 0o777).toBe(0o700);
    const trace = join(mkdtempSync(join(tmpdir(), 'acct-trace-')), 'connects.txt');
    const traced = (args: string[]) =>
      execa('node', ['--require', resolve(import.meta.dirname, '../support/count-connects.cjs'), BIN, ...args], { env: { ...env, ACCT_TRACE_CONNECTS: trace }, extendEnv: false, reject: false });
    const r = await traced(['token', 'local']);
    expect(r).toMatchObject({ exitCode: 0, stdout: SECRET });
    expect(readFileSync(trace, 'utf8')).toBe(`lane:${socket}`);
    expect(readdirSync(lanes).filter((n) => n.endsWith('.lock'))).toEqual([]);
    // Every lane held (by this process, which is alive): the socket, with the same answer.
    const locks = Array.from({ length: 8 }, (_, i) => join(lanes, `${i}.lock`));
    for (const lock of locks) writeFileSync(lock, String(process.pid), { flag: 'wx' });
    try {
      const busy = await traced(['token', 'local']);
      expect(busy).toMatchObject({ exitCode: 0, stdout: SECRET });
      expect(readFileSync(trace, 'utf8')).toBe(`socket:${socket}`);
    } finally {
      for (const lock of locks) rmSync(lock, { force: true });
    }
  });

  it('40 runs at once, more than there are lanes: every one gets its secret, and no lane stays held', async () => {
    const runs = await Promise.all(Array.from({ length: 40 }, (_, i) => acct(['env', '--format', 'json', `N${i}=local`], env)));
    for (const [i, r] of runs.entries()) expect({ i, code: r.exitCode, out: JSON.parse(r.stdout || '{}') }).toEqual({ i, code: 0, out: { [`N${i}`]: SECRET } });
    expect(readdirSync(`${socket}.lanes`).filter((n) => n.endsWith('.lock'))).toEqual([]);
  });

  it('an agent killed outright leaves its lanes behind: acct is not held up by them, and the next agent makes new ones', async () => {
    const lanes = `${socket}.lanes`;
    const before = statSync(lanes).ino;
    const [pid] = agentPids(socket);
    process.kill(pid!, 'SIGKILL');
    await waitUntil(() => agentPids(socket).length === 0);
    expect(existsSync(lanes)).toBe(true);
    // Nobody reads those pipes now: acct reads the keychain itself, at once, and starts an agent.
    const r = await loadsKeyringAddon(['token', 'local'], env);
    expect(r).toMatchObject({ exitCode: 0, stdout: `${SECRET}\n`, loaded: true });
    await waitUntil(() => agentPids(socket).length === 1 && existsSync(lanes) && statSync(lanes).ino !== before);
    await waitUntil(async () => (await loadsKeyringAddon(['token', 'local'], env)).loaded === false);
    expect(readdirSync(lanes).filter((n) => n.endsWith('.lock'))).toEqual([]);
  });

  it('a tampered secret file is still reported, not hidden by the agent', async () => {
    const [account] = storedMetadata(home).accounts as [Account];
    const file = join(home, 'secrets', `${account.id}.json`);
    const original = readFileSync(file);
    const sealed = JSON.parse(original.toString('utf8'));
    sealed.ct = Buffer.from(Buffer.from(sealed.ct, 'base64').map((b: number) => b ^ 1)).toString('base64');
    writeFileSync(file, JSON.stringify(sealed));
    try {
      const r = await acct(['token', 'local'], env);
      expect(r.exitCode).toBe(6);
      expect(r.stderr).toContain(file);
      expect(r.stderr).toMatch(/fails authentication/);
      expect(r.stdout).toBe('');
    } finally {
      writeFileSync(file, original);
    }
  });

  it('is not used from a folder others can enter', async () => {
    const dir = join(socket, '..');
    chmodSync(dir, 0o755);
    try {
      const r = await loadsKeyringAddon(['token', 'local'], env);
      expect(r).toMatchObject({ exitCode: 0, stdout: `${SECRET}\n`, loaded: true });
    } finally {
      chmodSync(dir, 0o700);
    }
  });

  it('a locked keyring gives exit 6 although the agent is running', async () => {
    expect(agentPids(socket)).toHaveLength(1);
    session.lock();
    const r = await acct(['token', 'local'], { ...env, ACCT_KEYCHAIN_TIMEOUT: '3' });
    expect(r.exitCode).toBe(6);
    expect(r.stderr).toMatch(/unlock/);
    expect(r.stdout).toBe('');
  });

  it('exits when its D-Bus session ends', async () => {
    const pids = agentPids(socket);
    expect(pids).toHaveLength(1);
    await session.stop();
    const deadline = Date.now() + 20_000;
    while (agentPids(socket).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(agentPids(socket)).toEqual([]);
  });
});

describe('acct agent status and stop', () => {
  let session: KeyringSession;
  let env: Record<string, string | undefined>;
  const version = JSON.parse(readFileSync(resolve(import.meta.dirname, '../../package.json'), 'utf8')).version as string;

  beforeAll(async () => {
    session = await startKeyringSession();
    env = baseEnv({ ...session.env, ACCT_HOME: tempHome() });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
    expect((await acct(['connect', 'local', '--stdin', '--no-verify'], env, { input: SECRET, stdin: undefined })).exitCode).toBe(0);
  });
  afterAll(async () => {
    await session?.stop();
  });

  it('status reports the running agent (pid, socket, version, protocol, default idle timeout); stop asks it to exit', async () => {
    expect((await acct(['token', 'local'], env)).exitCode).toBe(0);
    const socket = await agentSocket(session);
    const [pid] = agentPids(socket);
    expect(pid).toBeGreaterThan(0);

    const json = await acct(['agent', 'status', '--json'], env);
    expect(json.exitCode, json.stderr).toBe(0);
    const status = JSON.parse(json.stdout);
    expect(status).toMatchObject({ running: true, pid, socket, version, protocol: AGENT_PROTOCOL, idle_timeout_seconds: 600, used: true });
    expect(status.idle_remaining_seconds).toBeGreaterThan(500);
    expect(Date.parse(status.started_at)).toBeLessThanOrEqual(Date.now());
    const text = await acct(['agent', 'status'], env);
    expect(text.stdout).toContain(`running  yes (pid ${pid})\n`);
    expect(text.stdout).toContain(`socket   ${socket}\n`);
    expect(text.stdout).toContain('exits after 600s without a request');
    expect(status.lanes).toEqual({ folder: `${socket}.lanes`, count: 8, held: 0 });
    expect(text.stdout).toContain(`lanes    8 in ${socket}.lanes (0 held)\n`);

    const stop = await acct(['agent', 'stop'], env);
    expect(stop).toMatchObject({ exitCode: 0, stdout: '', stderr: `Stopped the keychain agent (pid ${pid})\n` });
    expect(agentPids(socket)).toEqual([]);
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(`${socket}.lanes`)).toBe(false);

    const after = JSON.parse((await acct(['agent', 'status', '--json'], env)).stdout);
    expect(after).toMatchObject({ running: false, reason: 'not running', socket });
    expect(await acct(['agent', 'stop'], env)).toMatchObject({ exitCode: 0, stderr: 'No keychain agent to stop: not running\n' });
    // And the next read starts one again.
    expect((await acct(['token', 'local'], env)).stdout).toBe(`${SECRET}\n`);
    await agentSocket(session);
    const deadline = Date.now() + 10_000;
    while (!agentPids(socket).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(agentPids(socket)).toHaveLength(1);
    expect((await acct(['agent', 'stop'], env)).exitCode).toBe(0);
  });

  it('an agent that does not answer is signalled, and only the one of this socket that is this user\'s', async () => {
    const runtime = join(session.env.XDG_RUNTIME_DIR!, 'acct');
    // The socket acct would use: the one the real agent had (or would have).
    expect((await acct(['token', 'local'], env)).exitCode).toBe(0);
    const socket = await agentSocket(session);
    expect((await acct(['agent', 'stop'], env)).exitCode).toBe(0);
    // A hung agent: listens, never answers.
    const hang = (title: string, path: string | undefined, uid?: number) =>
      execa(process.execPath, ['-e', `process.title = ${JSON.stringify(title)}; ${path ? `require('node:net').createServer(() => {}).listen(${JSON.stringify(path)});` : ''} setTimeout(() => {}, 60_000)`], {
        reject: false,
        ...(uid === undefined ? {} : { uid, gid: uid }),
      });
    const hung = hang(`acct-agent ${socket}`, socket);
    // Another agent of this user (another session's socket) must be left alone.
    const other = hang(`acct-agent ${join(runtime, 'agent-00000000.sock')}`, join(runtime, 'agent-00000000.sock'));
    // As root, a process of another user with this very title must be left alone too.
    const stranger = process.getuid!() === 0 ? hang(`acct-agent ${socket}`, undefined, 65534) : undefined;
    try {
      const deadline = Date.now() + 10_000;
      while ((!existsSync(socket) || agentPids(socket).length < (stranger ? 2 : 1)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const status = JSON.parse((await acct(['agent', 'status', '--json'], env)).stdout);
      expect(status).toMatchObject({ running: false, pid: hung.pid, reason: `its process (pid ${hung.pid}) does not answer` });

      const r = await acct(['agent', 'stop'], env);
      expect(r).toMatchObject({ exitCode: 0, stderr: `Stopped the keychain agent (pid ${hung.pid}, which did not answer: sent SIGTERM)\n` });
      expect((await hung).signal).toBe('SIGTERM');
      expect(other.exitCode).toBeNull();
      if (stranger) expect(stranger.exitCode).toBeNull();
    } finally {
      for (const p of [hung, other, stranger]) p?.kill('SIGKILL');
    }
  });
});
