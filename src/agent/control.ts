// `acct agent status` and `acct agent stop`: talking to this user's keychain
// agent (the one serving this D-Bus session and acct version) over its socket.
// A stop is a request the agent answers before it exits; only an agent that
// no longer answers is signalled, and only a process that is this user's and
// whose title names this very socket (`acct-agent <socket>`), never by a
// pattern that could match another user's agent.
import { createConnection } from 'node:net';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { agentSocketPath } from './client.js';
import { isPrivateDir } from './folder.js';
import { AGENT_PROTOCOL, type AgentStatus, type ControlAnswer, type ControlRequest } from './protocol.js';

export type AgentState =
  | { running: true; socket: string; status: AgentStatus }
  | { running: false; socket?: string; reason: string; pid?: number };

/** Where this session's agent listens, or why there is none. */
function locate(env: NodeJS.ProcessEnv, version: string, platform: NodeJS.Platform): { socket: string } | { reason: string } {
  if (platform !== 'linux') return { reason: 'the keychain agent runs on Linux only' };
  const socket = agentSocketPath(env, version);
  if (!socket) return { reason: 'no XDG_RUNTIME_DIR or D-Bus session, so acct reads the keychain directly' };
  return { socket };
}

/** One control request; 'absent' when nothing listens, undefined when the agent did not answer in time. */
function ask(socket: string, request: ControlRequest, timeoutMs: number): Promise<ControlAnswer | 'absent' | undefined> {
  return new Promise((resolve) => {
    const s = createConnection(socket);
    let reply = '';
    const timer = setTimeout(() => (s.destroy(), resolve(undefined)), timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => s.write(`${JSON.stringify(request)}\n`));
    s.on('data', (d: string) => (reply += d));
    s.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(reply) as ControlAnswer);
      } catch {
        resolve(undefined);
      }
    });
    s.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'absent' : undefined);
    });
  });
}

export interface ControlOptions {
  version: string;
  platform?: NodeJS.Platform;
  timeoutMs?: number;
  /** /proc, for the processes of an agent that does not answer. */
  proc?: string;
}

export async function agentState(env: NodeJS.ProcessEnv, options: ControlOptions): Promise<AgentState> {
  const where = locate(env, options.version, options.platform ?? process.platform);
  if ('reason' in where) return { running: false, reason: where.reason };
  const { socket } = where;
  const dir = isPrivateDir(join(socket, '..'));
  if (dir === 'missing') return { running: false, socket, reason: 'not running' };
  if (dir !== true) return { running: false, socket, reason: `${join(socket, '..')} is open to others or not yours, so acct does not use an agent there` };
  const answer = await ask(socket, { v: AGENT_PROTOCOL, op: 'status', bus: env.DBUS_SESSION_BUS_ADDRESS! }, options.timeoutMs ?? 2_000);
  if (answer === 'absent') return { running: false, socket, reason: 'not running' };
  if (answer === undefined) {
    const [pid] = agentPids(socket, options.proc);
    return { running: false, socket, pid, reason: pid ? `its process (pid ${pid}) does not answer` : 'not running (nothing answers on its socket)' };
  }
  if (!answer.ok) return { running: false, socket, reason: `the agent refused: ${answer.reason}` };
  if (!('status' in answer)) return { running: false, socket, reason: 'the agent answered something else' };
  return { running: true, socket, status: answer.status };
}

export type StopOutcome = { stopped: true; pid: number; how: 'asked' | 'signalled' } | { stopped: false; reason: string; socket?: string };

export async function stopAgent(env: NodeJS.ProcessEnv, options: ControlOptions): Promise<StopOutcome> {
  const where = locate(env, options.version, options.platform ?? process.platform);
  if ('reason' in where) return { stopped: false, reason: where.reason };
  const { socket } = where;
  const dir = isPrivateDir(join(socket, '..'));
  if (dir !== true) return { stopped: false, socket, reason: 'not running' };
  const answer = await ask(socket, { v: AGENT_PROTOCOL, op: 'stop', bus: env.DBUS_SESSION_BUS_ADDRESS! }, options.timeoutMs ?? 2_000);
  if (answer !== undefined && answer !== 'absent' && answer.ok && 'stopping' in answer) {
    await gone(answer.pid, 5_000);
    return { stopped: true, pid: answer.pid, how: 'asked' };
  }
  // No answer: a hung agent of this socket, if any, is signalled.
  const pids = agentPids(socket, options.proc);
  if (!pids.length) return { stopped: false, socket, reason: answer !== undefined && answer !== 'absent' && !answer.ok ? `the agent refused: ${answer.reason}` : 'not running' };
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err; // exited since we looked
    }
  }
  for (const pid of pids) await gone(pid, 5_000);
  return { stopped: true, pid: pids[0]!, how: 'signalled' };
}

/** This user's processes whose title is `acct-agent <socket>`. */
export function agentPids(socket: string, proc = '/proc'): number[] {
  const uid = process.getuid!();
  const title = `acct-agent ${socket}`;
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync(proc);
  } catch {
    return [];
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (statSync(join(proc, name)).uid !== uid) continue;
      // The title replaces argv: the first NUL-separated word(s), possibly padded.
      const cmdline = readFileSync(join(proc, name, 'cmdline'), 'utf8').replace(/\0+$/, '').split('\0')[0]!.trimEnd();
      if (cmdline === title) pids.push(Number(name));
    } catch {
      // exited while we looked, or not ours to read
    }
  }
  return pids;
}

async function gone(pid: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > end) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}
