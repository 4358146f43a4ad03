// The keychain agent process (see client.ts for what it is for), started in
// the background by acct as `node dist/agent.cjs <socket path>`. It exits
// after ACCT_AGENT_IDLE seconds without a request (default 600), when its
// D-Bus session or the Secret Service goes away, or on SIGTERM.
import { statSync, unlinkSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createConnection } from 'node:net';
import { connectSecretService } from './secret-service.js';
import { agentConversations, agentServer } from './server.js';
import { serveLanes, type LaneServer } from './lane-server.js';
import { laneDir } from './lanes.js';
import { agentDatabases } from './databases.js';
import { isPrivateDir } from './folder.js';
import { withLock } from '../store/lock.js';
import { AGENT_PROTOCOL } from './protocol.js';
import { VERSION } from '../version.js';

// How often the agent checks that its D-Bus session is still there (it exits when it is not).
const BUS_CHECK_MS = 5_000;

async function main(socketPath: string | undefined): Promise<number> {
  const bus = process.env.DBUS_SESSION_BUS_ADDRESS;
  if (!socketPath || !bus) return 2;
  process.title = `acct-agent ${socketPath}`; // what ps shows
  const idleMs = Number(process.env.ACCT_AGENT_IDLE || 600) * 1000;
  const dir = dirname(socketPath);
  try {
    mkdirSync(dir, { mode: 0o700 }); // inside XDG_RUNTIME_DIR, which the session provides: never created here
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  if (isPrivateDir(dir) !== true) return 1; // someone else's folder, or open to others: do not serve from it

  const secrets = await connectSecretService();
  let startedAt = new Date();
  let idleSince = Date.now();
  const databases = agentDatabases();
  const conversations = agentConversations(bus, secrets.read, {
    query: (request) => databases.query(request),
    onActivity: () => resetIdle(),
    onFailure: () => stop(),
    onStop: () => stop(),
    status: () => ({
      pid: process.pid,
      version: VERSION,
      protocol: AGENT_PROTOCOL,
      startedAt: startedAt.toISOString(),
      idleTimeoutSeconds: idleMs / 1000,
      idleRemainingSeconds: Math.max(0, Math.round((idleSince + idleMs - Date.now()) / 1000)),
      lanes: lanes?.status() ?? null,
    }),
  });
  const server = agentServer(conversations);
  let lanes: LaneServer | undefined;
  let ownSocket: number | undefined;
  let idle: NodeJS.Timeout | undefined;
  const stop = () => {
    clearTimeout(idle);
    server.close();
    lanes?.close();
    // Remove the socket only while it is still this agent's (a successor may have replaced it).
    try {
      if (ownSocket !== undefined && statSync(socketPath).ino === ownSocket) unlinkSync(socketPath);
    } catch {
      // already gone
    }
    secrets.close();
    // Each connection's backend ends with its socket; ended politely when that is quick.
    void Promise.race([databases.close(), new Promise((r) => setTimeout(r, 500))]).finally(() => process.exit(0));
  };
  const resetIdle = () => {
    clearTimeout(idle);
    idleSince = Date.now();
    idle = setTimeout(stop, idleMs);
  };
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, stop);
  secrets.failed.catch(stop);
  setInterval(() => secrets.ping().catch(stop), BUS_CHECK_MS).unref();

  const listening = await withLock(`${socketPath}.start`, async () => {
    if (await answers(socketPath)) return false; // another agent serves this session already
    try {
      unlinkSync(socketPath); // left behind by an agent that crashed
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, resolve);
    });
    ownSocket = statSync(socketPath).ino;
    // The faster way in for acct (lanes.ts); without it, the socket serves alone.
    lanes = serveLanes(laneDir(socketPath), conversations);
    startedAt = new Date();
    return true;
  });
  if (!listening) stop();
  resetIdle();
  return 0;
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(socketPath);
    socket.on('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

main(process.argv[2]).then(
  (code) => {
    if (code) process.exit(code);
  },
  () => process.exit(1), // no Secret Service to keep open: acct reads the keychain directly
);
