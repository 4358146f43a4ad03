// The agent's side of the lanes (lanes.ts says what they are).
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { Socket } from 'node:net';
import { MAX_REQUEST, CONVERSATION_IDLE_MS, type Conversation, type Conversations } from './server.js';
import { CID, LANES, removeIfSame } from './lanes.js';
import { isAlive } from '../store/sweep.js';

/** A lock whose holder cannot be checked (it wrote no pid) is taken back after EMPTY_LOCK_STALE_MS, any lock after LOCK_STALE_MS. */
const LOCK_STALE_MS = 10 * 60_000;
const EMPTY_LOCK_STALE_MS = 10_000;

export interface LaneServer {
  /** Where the lanes are, how many, and how many are held now (for acct agent status). */
  status(): { folder: string; count: number; held: number };
  close(): void;
}

/**
 * Makes the lanes folder for the agent that serves `socketPath` and answers
 * on it; undefined when it cannot (no mkfifo, say): acct then uses the socket.
 * Built under another name and renamed into place, so acct never finds a
 * lane the agent does not hold yet.
 */
export function serveLanes(dir: string, conversationsOf: Conversations, count = LANES): LaneServer | undefined {
  const building = `${dir}.${process.pid}`;
  const pipes = Array.from({ length: count }, (_, i) => [`${building}/${i}.in`, `${building}/${i}.out`] as const);
  const { O_RDWR, O_NONBLOCK } = constants;
  const lanes: ServedLane[] = [];
  try {
    rmSync(building, { recursive: true, force: true });
    mkdirSync(building, { mode: 0o700 });
    execFileSync('mkfifo', ['-m', '600', ...pipes.flat()], { stdio: 'ignore' });
    for (const [i, [inPath, outPath]] of pipes.entries()) {
      // Both ends, read and write: no request or answer ever finds the other end closed while the agent runs.
      const input = new Socket({ fd: openSync(inPath, O_RDWR | O_NONBLOCK), readable: true, writable: false });
      const outFd = openSync(outPath, O_RDWR | O_NONBLOCK);
      const output = new Socket({ fd: outFd, readable: false, writable: true });
      lanes.push(serveLane(i, input, output, outFd, conversationsOf));
    }
    rmSync(dir, { recursive: true, force: true }); // left by an agent that crashed
    renameSync(building, dir);
  } catch {
    // Nothing is lost: acct finds no lanes and uses the socket.
    for (const lane of lanes) lane.close();
    rmSync(building, { recursive: true, force: true });
    return undefined;
  }
  const ino = statSync(dir).ino;
  for (const lane of lanes) lane.lock = `${dir}/${lane.index}.lock`;
  const reaper = setInterval(() => {
    for (const lane of lanes) lane.reapIfStale();
  }, 1_000);
  reaper.unref();
  return {
    status() {
      let held = 0;
      for (const lane of lanes) {
        try {
          lstatSync(lane.lock);
          held++;
        } catch {
          // free
        }
      }
      return { folder: dir, count: lanes.length, held };
    },
    close() {
      clearInterval(reaper);
      for (const lane of lanes) lane.close();
      // Only while the folder is still this agent's (a successor may have replaced it).
      try {
        if (statSync(dir).ino === ino) rmSync(dir, { recursive: true, force: true });
      } catch {
        // already gone
      }
    },
  };
}

interface ServedLane {
  index: number;
  lock: string;
  reapIfStale(): void;
  close(): void;
}

function serveLane(index: number, input: Socket, output: Socket, outFd: number, conversationsOf: Conversations): ServedLane {
  let buffered = '';
  let current: { cid: string; conversation: Conversation } | undefined;
  let idle: NodeJS.Timeout | undefined;

  const end = () => {
    clearTimeout(idle);
    current?.conversation.drop();
    current = undefined;
  };
  const start = (cid: string) => {
    end();
    const conversation: Conversation = conversationsOf((answer, then) => {
      if (current?.conversation === conversation) {
        clearTimeout(idle);
        current = undefined;
      }
      output.write(`${cid}\t${JSON.stringify(answer)}\n`, then);
    });
    current = { cid, conversation };
    return current;
  };
  const take = (line: string) => {
    const tab = line.indexOf('\t');
    const cid = line.slice(0, tab);
    if (tab < 0 || !CID.test(cid)) return; // not a lane's line (an empty one, the end of a half-written one): nobody to answer
    const c = current?.cid === cid ? current : start(cid);
    // A line too long to be a request is refused, as on the socket.
    const next = c.conversation.line(line.length > MAX_REQUEST + 64 ? '' : line.slice(tab + 1));
    clearTimeout(idle);
    if (next === 'more') idle = setTimeout(end, CONVERSATION_IDLE_MS);
  };

  input.setEncoding('utf8');
  input.on('error', () => {}); // never: the agent holds both ends
  input.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      take(line);
    }
    if (buffered.length > MAX_REQUEST + 64) {
      // A line too long to be a request, still coming: refused (its caller reads the keychain itself), and the rest of it skipped.
      const cid = buffered.slice(0, Math.max(0, buffered.indexOf('\t')));
      if (CID.test(cid)) start(cid).conversation.line('');
      buffered = '';
    }
  });
  output.on('error', () => {});

  const lane: ServedLane = {
    index,
    lock: '',
    reapIfStale() {
      let pid = NaN;
      let age: number;
      let ino: number;
      let fd: number;
      try {
        // Non-blocking and not through a link: a pipe or a link put there must not hold the agent up.
        fd = openSync(lane.lock, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // free
        fd = -1; // a link, say: no caller's lock
      }
      try {
        const st = fd >= 0 ? fstatSync(fd) : lstatSync(lane.lock);
        age = Date.now() - st.mtimeMs;
        ino = st.ino;
        // Only a small file is read: anything else is no caller's lock.
        if (fd >= 0 && st.isFile() && st.size <= 32) {
          const buffer = Buffer.alloc(32);
          pid = Number(buffer.toString('utf8', 0, readSync(fd, buffer, 0, 32, 0)));
        }
      } catch {
        return; // gone meanwhile
      } finally {
        if (fd >= 0) closeSync(fd);
      }
      const stale = age > LOCK_STALE_MS || (Number.isInteger(pid) && pid > 0 ? !isAlive(pid) : age > EMPTY_LOCK_STALE_MS);
      // (An empty lock is one whose caller has not written its pid yet, or died before it did.)
      if (!stale) return;
      // Its holder died: forget its conversation, empty the lane, give it back.
      end();
      buffered = '';
      drain(outFd);
      // Only the lock looked at: a caller may have given it back, and another taken the lane, meanwhile.
      removeIfSame(lane.lock, ino);
    },
    close() {
      end();
      input.destroy();
      output.destroy();
    },
  };
  return lane;
}

/** Reads away what is waiting in a pipe (answers nobody will read). */
function drain(fd: number): void {
  const buffer = Buffer.allocUnsafe(64 * 1024);
  try {
    while (readSync(fd, buffer, 0, buffer.length, null) > 0);
  } catch {
    // EAGAIN: empty
  }
}
