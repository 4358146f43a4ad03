// Lanes (src/agent/lanes.ts, lane-server.ts): named pipes by which acct
// reaches the keychain agent without node:net. Here both ends run in this
// process (acct's read waits in the thread pool, the agent's side on the
// event loop), over real FIFOs, with the agent's real conversation code and
// an in-memory keychain; what a child process does to a lane (dying with it
// held, writing a line too long) runs in a child process.
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { randomBytes } from 'node:crypto';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { chmodSync, constants, existsSync, mkdtempSync, openSync, closeSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, writeSync, readFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lane, LANES } from '../../src/agent/lanes.js';
import { serveLanes, type LaneServer } from '../../src/agent/lane-server.js';
import { agentConversations, agentServer, CONVERSATION_IDLE_MS, type AgentHooks } from '../../src/agent/server.js';
import { createConnection } from 'node:net';
import { AGENT_PROTOCOL } from '../../src/agent/protocol.js';
import { seal } from '../../src/store/crypto.js';

const run = promisify(execFile);
const BUS = 'unix:path=/tmp/lanes-test-bus';
const KEY_ACCOUNT = 'data-key:st_0123456789abcdef';
/** A team statement's first line (the tests' hooks answer it when they say). */
const QUERY = JSON.stringify({ v: AGENT_PROTOCOL, op: 'query', bus: BUS, db: { url: 'postgres://h/d', user: 'u', password: 'p', connectTimeoutMs: 1000 }, sql: 'select 1', params: [] });

describe('lanes', () => {
  let root: string;
  let dir: string;
  let server: LaneServer | undefined;
  let key: Buffer;
  let queries: ((answer: unknown) => void)[];

  const hooks: AgentHooks = {
    onActivity() {},
    onFailure() {},
    onStop() {},
    status: () => ({ pid: process.pid, version: 'test', protocol: AGENT_PROTOCOL, startedAt: '', idleTimeoutSeconds: 600, idleRemainingSeconds: 600 }),
    // A statement that answers when the test says so.
    query: () => new Promise((resolve) => queries.push(resolve as (a: unknown) => void)),
  };
  const first = JSON.stringify({ v: AGENT_PROTOCOL, op: 'open', bus: BUS, keychainAccount: KEY_ACCOUNT });
  const second = (plain: string) => JSON.stringify({ aad: 'acc_aaaaaaaaaa', sealed: seal(Buffer.from(key), Buffer.from(plain), 'acc_aaaaaaaaaa') });
  const plainOf = (answer: string | undefined) => Buffer.from((JSON.parse(answer!) as { plain: string }).plain, 'base64').toString('utf8');

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'acct-lanes-'));
    chmodSync(root, 0o700);
    dir = join(root, 'agent-test.sock.lanes');
    key = randomBytes(32);
    queries = [];
    const conversations = agentConversations(BUS, async (attributes) => (attributes.username === KEY_ACCOUNT ? Buffer.from(key.toString('base64')) : undefined), hooks);
    server = serveLanes(dir, conversations);
  });
  afterEach(() => {
    server?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('are private named pipes; a conversation opens a secret, and gives its lane back', async () => {
    expect(server).toBeDefined();
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const names = readdirSync(dir).sort();
    expect(names).toHaveLength(2 * LANES);
    for (const name of names) {
      const st = statSync(join(dir, name));
      expect(st.isFIFO()).toBe(true);
      expect(st.mode & 0o777).toBe(0o600);
    }
    const lane = Lane.claim(dir)!;
    expect(lane).toBeDefined();
    expect(readdirSync(dir).filter((n) => n.endsWith('.lock'))).toHaveLength(1);
    expect(lane.send(`${first}\n`, 1000)).toBe(true);
    expect(lane.send(`${second('{"api_key":"lane_secret"}')}\n`, 1000)).toBe(true);
    expect(plainOf(await lane.reply(2000))).toBe('{"api_key":"lane_secret"}');
    expect(readdirSync(dir).filter((n) => n.endsWith('.lock'))).toEqual([]);
    // The lane serves the next conversation.
    const again = Lane.claim(dir)!;
    again.send(`${first}\n${second('{"api_key":"again"}')}\n`, 1000);
    expect(plainOf(await again.reply(2000))).toBe('{"api_key":"again"}');
  });

  it('skips an answer left on the lane for another conversation', async () => {
    const lane = Lane.claim(dir)!;
    const lock = readdirSync(dir).find((n) => n.endsWith('.lock'))!;
    const out = openSync(join(dir, lock.replace('.lock', '.out')), constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(out, `zz0\t${JSON.stringify({ ok: true, plain: Buffer.from('{"api_key":"not yours"}').toString('base64') })}\n\n`);
    closeSync(out);
    lane.send(`${first}\n${second('{"api_key":"yours"}')}\n`, 1000);
    expect(plainOf(await lane.reply(2000))).toBe('{"api_key":"yours"}');
  });

  it('a new conversation on a lane replaces one left half done', async () => {
    // A caller that sent its first line and went away: its conversation waits for a second line.
    const input = openSync(join(dir, '0.in'), constants.O_WRONLY | constants.O_NONBLOCK);
    writeSync(input, `dead0\t${first}\n`);
    closeSync(input);
    await new Promise((r) => setTimeout(r, 50));
    const lanes = holdAllBut(0);
    try {
      const lane = Lane.claim(dir)!;
      lane.send(`${second('{"api_key":"second line of another conversation"}')}\n`, 1000);
      // Not taken as the dead caller's second line: a refusal (no first line), for this conversation.
      expect(JSON.parse((await lane.reply(2000))!)).toEqual({ ok: false, reason: 'unsupported request' });
    } finally {
      lanes.release();
    }
  });

  it('a timeout ends the wait and gives the lane back; the late answer is skipped by the next conversation', async () => {
    const lanes = holdAllBut(3);
    try {
      const lane = Lane.claim(dir)!;
      lane.send(`${QUERY}\n`, 1000);
      const started = Date.now();
      expect(await lane.reply(300)).toBeUndefined();
      expect(Date.now() - started).toBeLessThan(2000);
      expect(existsSync(join(dir, '3.lock'))).toBe(false);
      // The statement answers after its caller gave up.
      await waitFor(() => queries.length === 1);
      queries[0]!({ ok: true, rows: [{ late: true }], dates: [] });
      const next = Lane.claim(dir)!;
      next.send(`${first}\n${second('{"api_key":"next"}')}\n`, 1000);
      expect(plainOf(await next.reply(2000))).toBe('{"api_key":"next"}');
    } finally {
      lanes.release();
    }
  });

  it('every lane held: no lane (acct uses the socket); at most two held by one process', () => {
    const a = Lane.claim(dir)!;
    const b = Lane.claim(dir)!;
    expect(a && b).toBeTruthy();
    expect(Lane.claim(dir)).toBeUndefined(); // this process holds two
    a.release();
    b.release();
    for (let i = 0; i < LANES; i++) writeFileSync(join(dir, `${i}.lock`), String(process.pid));
    expect(Lane.claim(dir)).toBeUndefined();
  });

  it('the agent takes back the lane of a caller that died holding it, and empties it', async () => {
    const lanes = holdAllBut(5);
    try {
      // A child takes lane 5, sends half a request and an answer lands for it; then it dies.
      await run(process.execPath, ['-e', childHalfRequest(dir, 5)]);
      expect(existsSync(join(dir, '5.lock'))).toBe(true);
      await waitFor(() => !existsSync(join(dir, '5.lock')), 5000);
      const lane = Lane.claim(dir)!;
      expect(lane).toBeDefined();
      lane.send(`${first}\n${second('{"api_key":"after the dead"}')}\n`, 1000);
      expect(plainOf(await lane.reply(2000))).toBe('{"api_key":"after the dead"}');
    } finally {
      lanes.release();
    }
  });

  it('a line too long to be a request is refused, for its conversation', async () => {
    const lanes = holdAllBut(6);
    try {
      const lane = Lane.claim(dir)!;
      const cid = (lane as unknown as { cid: string }).cid;
      // Written by another process, which waits while the pipe is full: this one's event loop reads for the agent.
      const answer = lane.reply(5000);
      await run(process.execPath, ['-e', `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(join(dir, '6.in'))},'w');fs.writeSync(fd,${JSON.stringify(cid)}+'\\t'+'x'.repeat(70000));`]);
      expect(JSON.parse((await answer)!)).toEqual({ ok: false, reason: 'malformed request' });
    } finally {
      lanes.release();
    }
  });

  it('is not taken from a folder others can enter, or when a pipe was replaced by a file', () => {
    chmodSync(dir, 0o755);
    expect(Lane.claim(dir)).toBeUndefined();
    chmodSync(dir, 0o700);
    const lanes = holdAllBut(2);
    try {
      renameSync(join(dir, '2.in'), join(dir, '2.in.pipe'));
      writeFileSync(join(dir, '2.in'), '');
      expect(Lane.claim(dir)).toBeUndefined();
      expect(readFileSync(join(dir, '2.in'), 'utf8')).toBe(''); // nothing written into the file
      expect(existsSync(join(dir, '2.lock'))).toBe(false);
      unlinkSync(join(dir, '2.in'));
      renameSync(join(dir, '2.in.pipe'), join(dir, '2.in'));
      const lane = Lane.claim(dir);
      expect(lane).toBeDefined();
      lane!.release();
    } finally {
      lanes.release();
    }
  });

  it('an agent that is gone: no lane, at once', () => {
    server!.close();
    server = undefined;
    expect(existsSync(dir)).toBe(false);
    // Its pipes left behind (killed, not stopped): nobody reads them.
    execFileSync('mkdir', ['-m', '700', dir]);
    execFileSync('mkfifo', ['-m', '600', join(dir, '0.in'), join(dir, '0.out')]);
    const started = Date.now();
    expect(Lane.claim(dir)).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(existsSync(join(dir, '0.lock'))).toBe(false);
  });

  it('a request half written by a caller before does not swallow the next one', async () => {
    const lanes = holdAllBut(4);
    try {
      const input = openSync(join(dir, '4.in'), constants.O_WRONLY | constants.O_NONBLOCK);
      writeSync(input, `gone-1\t{"v":${AGENT_PROTOCOL},"op":"op`);
      closeSync(input);
      const lane = Lane.claim(dir)!;
      lane.send(`${first}\n${second('{"api_key":"whole"}')}\n`, 1000);
      expect(plainOf(await lane.reply(2000))).toBe('{"api_key":"whole"}');
    } finally {
      lanes.release();
    }
  });

  it('an agent that goes away while acct waits ends the wait at once, not at its timeout', async () => {
    const lane = Lane.claim(dir)!;
    lane.send(`${QUERY}\n`, 1000);
    const started = Date.now();
    const answer = lane.reply(20_000);
    await waitFor(() => queries.length === 1);
    server!.close();
    server = undefined;
    expect(await answer).toBeUndefined();
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('a process that exits while it waits for an answer exits at once, and gives its lane back', async () => {
    // Lane, bundled for a plain node child (a read waiting in the thread pool would keep it from exiting).
    const bundle = join(root, 'lanes.cjs');
    await build({ entryPoints: [join(import.meta.dirname, '../../src/agent/lanes.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: bundle, logLevel: 'error' });
    const script = `const { Lane } = require(${JSON.stringify(bundle)}); const lane = Lane.claim(${JSON.stringify(dir)}); if (!lane) process.exit(9); lane.send(${JSON.stringify(`${QUERY}
`)}, 1000); lane.reply(60000).then(() => process.exit(8)); setTimeout(() => process.exit(3), 300);`;
    const started = Date.now();
    const child = await run(process.execPath, ['-e', script], { timeout: 20_000 }).then(
      () => ({ code: 0 }),
      (err: { code?: number; killed?: boolean }) => ({ code: err.code, killed: err.killed }),
    );
    expect(child).toEqual({ code: 3, killed: false });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(readdirSync(dir).filter((n) => n.endsWith('.lock'))).toEqual([]);
  });

  it('a pipe put where a lock goes does not hold the agent up', async () => {
    execFileSync('mkfifo', ['-m', '600', join(dir, '7.lock')]);
    await new Promise((r) => setTimeout(r, 1_500)); // the agent looks at every lock once a second
    const lane = Lane.claim(dir)!;
    expect(lane).toBeDefined();
    lane.send(`${first}\n${second('{"api_key":"still serving"}')}\n`, 1000);
    expect(plainOf(await lane.reply(2000))).toBe('{"api_key":"still serving"}');
  });

  /** Locks every lane but one with this process's pid, as callers that hold them would. */
  function holdAllBut(free: number): { release(): void } {
    const locks = Array.from({ length: LANES }, (_, i) => join(dir, `${i}.lock`)).filter((_, i) => i !== free);
    for (const lock of locks) writeFileSync(lock, String(process.pid), { flag: 'wx' });
    return { release: () => locks.forEach((l) => rmSync(l, { force: true })) };
  }
});

/** A child's script: take lane i as acct does, send the first line of a conversation and exit without the rest. */
function childHalfRequest(dir: string, i: number): string {
  return `
    const fs = require('fs');
    fs.writeFileSync(${JSON.stringify(join(dir, `${i}.lock`))}, String(process.pid), { flag: 'wx' });
    const fd = fs.openSync(${JSON.stringify(join(dir, `${i}.in`))}, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK);
    fs.writeSync(fd, 'gone1\\t{"v":${AGENT_PROTOCOL},"op":"status","bus":"${BUS}"}\\ngone1\\t{"half');
  `;
}

async function waitFor(done: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the agent socket (the same conversations)', () => {
  it('a statement may take longer than the idle limit; a conversation that sends nothing more is closed at it', async () => {
    const root = mkdtempSync(join(tmpdir(), 'acct-sock-'));
    const path = join(root, 'agent.sock');
    const hooks: AgentHooks = {
      onActivity() {},
      onFailure() {},
      onStop() {},
      status: () => ({ pid: process.pid, version: 'test', protocol: AGENT_PROTOCOL, startedAt: '', idleTimeoutSeconds: 600, idleRemainingSeconds: 600 }),
      query: () => new Promise((resolve) => setTimeout(() => resolve({ ok: true, rows: [{ slow: true }], dates: [] }), CONVERSATION_IDLE_MS + 1_000)),
    };
    const server = agentServer(agentConversations(BUS, async () => undefined, hooks));
    await new Promise<void>((r) => server.listen(path, r));
    const talk = (line: string) =>
      new Promise<{ answer: string; ms: number }>((resolve, reject) => {
        const started = Date.now();
        let answer = '';
        const socket = createConnection(path, () => socket.write(`${line}\n`));
        socket.setEncoding('utf8');
        socket.on('data', (d: string) => (answer += d));
        socket.on('close', () => resolve({ answer, ms: Date.now() - started }));
        socket.on('error', reject);
      });
    try {
      const [statement, idle] = await Promise.all([
        talk(QUERY),
        talk(JSON.stringify({ v: AGENT_PROTOCOL, op: 'open', bus: BUS, keychainAccount: KEY_ACCOUNT })),
      ]);
      expect(JSON.parse(statement.answer)).toEqual({ ok: true, rows: [{ slow: true }], dates: [] });
      expect(statement.ms).toBeGreaterThan(CONVERSATION_IDLE_MS);
      expect(idle.answer).toBe('');
      expect(idle.ms).toBeGreaterThanOrEqual(CONVERSATION_IDLE_MS - 100);
      expect(idle.ms).toBeLessThan(CONVERSATION_IDLE_MS + 3_000);
    } finally {
      server.close();
      rmSync(root, { recursive: true, force: true });
    }
  }, 20_000);
});
