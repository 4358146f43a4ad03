// Lanes: a second way to reach the keychain agent, faster for acct to take
// than its unix socket. Written by hand for speed, and measured: a socket
// needs node:net, which loads the stream modules with it (about 17M
// instructions with a connect, a fifth of a Node start), and a client that
// asks the agent one question over the socket took 1.33-1.39x the wall time
// of `node -e 0`; the same question over a lane, with node:fs only (which
// every Node start has loaded), 1.02-1.03x (Node 20, 30 alternating runs).
//
// A lane is a pair of named pipes in a folder next to the socket
// (`agent-….sock.lanes/`, as private as the socket's folder), made by the
// agent, which holds both ends open:
//
//   <i>.in    acct writes its request lines here
//   <i>.out   the agent writes its answer here
//   <i>.lock  who holds the lane: created exclusively by acct (O_EXCL), with
//             its pid, and removed once it has its answer
//
// Each line on a lane starts with a conversation id and a tab; the agent's
// answer carries the id of the conversation it answers, and acct skips any
// other (an answer left behind by a caller that died before reading it).
// What follows the tab is exactly a line of the socket's conversation
// (protocol.ts), answered by the same code (server.ts). A new id starts a new
// conversation, so one that a dead caller left half done never mixes with the
// next. The agent removes the lock of a caller that died holding it (and
// empties the lane); until then callers take another lane, and when every
// lane is held, or anything about one is not as it should be, acct uses the
// socket, as before lanes existed.
//
// acct waits for the answer with an ordinary asynchronous read (on libuv's
// thread pool: a pipe end opened for reading and writing blocks there until
// the agent writes); a timeout writes an empty line into acct's own end to
// end that read. acct holds at most MAX_HELD lanes at once, so its reads
// never take the whole thread pool.
// The agent's side is lane-server.ts (kept apart: it loads node:net, which
// this side is here to avoid).
import { closeSync, constants, fstatSync, lstatSync, openSync, read, unlinkSync, writeSync } from 'node:fs';
import { isPrivateDir } from './folder.js';

export const LANES = 8;
const MAX_HELD = 2;
/** A conversation id: pid, a random part and a count, in base 36. */
export const CID = /^[0-9a-z-]{1,40}$/;

export const laneDir = (socketPath: string): string => `${socketPath}.lanes`;

/** How often a wait checks that the agent still reads its lane (acct holds the answer pipe open itself, so it sees no end of file). */
const AGENT_CHECK_MS = 100;

let held = 0;
let conversations = 0;

/** One lane that this process holds, for one conversation. */
export class Lane {
  readonly cid = `${process.pid.toString(36)}-${Math.floor(Math.random() * 2 ** 32).toString(36)}-${(conversations++).toString(36)}`;
  private released = false;
  private reading = false;
  private readonly onExit = () => this.release();

  private constructor(
    private readonly dir: string,
    private readonly index: number,
    /** The lock's inode: only that lock is this lane's to remove (the agent may have taken the lane back). */
    private readonly lockIno: number,
    private readonly input: number,
    private readonly output: number,
    /** A non-blocking write end of the answer pipe: ends a read that waits, and never blocks, however full the pipe. */
    private readonly wake: number,
  ) {
    held++;
    // A command that ends before its conversation does (it failed before it
    // needed the secret, or exits while an answer is awaited) gives the lane
    // back as it exits, and ends the wait: a read left waiting in the thread
    // pool would keep the process from exiting.
    process.once('exit', this.onExit);
  }

  private get lock(): string {
    return `${this.dir}/${this.index}.lock`;
  }

  /**
   * A lane of the agent's, held; undefined when there is none to take (no
   * lanes folder, every lane held, an agent that no longer reads) or one is
   * not what it should be. Never throws.
   */
  static claim(dir: string): Lane | undefined {
    if (held >= MAX_HELD) return undefined;
    try {
      if (isPrivateDir(dir) !== true) return undefined; // missing: an agent of before lanes, or one that is starting
    } catch {
      return undefined;
    }
    const { O_WRONLY, O_RDWR, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK } = constants;
    const first = process.pid % LANES;
    for (let k = 0; k < LANES; k++) {
      const i = (first + k) % LANES;
      const lock = `${dir}/${i}.lock`;
      const opened: number[] = [];
      let lockIno: number;
      try {
        const fd = openSync(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
        opened.push(fd);
        lockIno = fstatSync(fd).ino;
      } catch (err) {
        for (const o of opened) closeSync(o);
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        return undefined;
      }
      try {
        writeSync(opened[0]!, String(process.pid));
        closeSync(opened.shift()!);
        // Non-blocking: with no agent reading (it died), this fails at once (ENXIO) instead of waiting.
        const input = openSync(`${dir}/${i}.in`, O_WRONLY | O_NONBLOCK | O_NOFOLLOW);
        opened.push(input);
        // Read and write: the open does not wait for the agent, and the read
        // in reply() waits in the thread pool until the agent writes.
        const output = openSync(`${dir}/${i}.out`, O_RDWR | O_NOFOLLOW);
        opened.push(output);
        const wake = openSync(`${dir}/${i}.out`, O_WRONLY | O_NONBLOCK | O_NOFOLLOW);
        opened.push(wake);
        // Requests carry secrets: they go into a pipe, never into a file someone put there.
        if (!fstatSync(input).isFIFO() || !fstatSync(output).isFIFO() || fstatSync(wake).ino !== fstatSync(output).ino) throw new Error('not a pipe');
        return new Lane(dir, i, lockIno, input, output, wake);
      } catch {
        for (const o of opened) closeSync(o);
        removeIfSame(lock, lockIno);
        return undefined;
      }
    }
    return undefined; // every lane held: the socket
  }

  /** Sends request lines (each ending in a newline), each after this conversation's id; false when the agent is gone. */
  send(lines: string, timeoutMs: number): boolean {
    // After a line break: a request that a caller before this one left half
    // written ends there (the agent ignores it) instead of swallowing this one.
    const bytes = Buffer.from(`\n${lines
      .split('\n')
      .map((line) => (line ? `${this.cid}\t${line}` : line))
      .join('\n')}`, 'utf8');
    const deadline = Date.now() + timeoutMs;
    let sent = 0;
    try {
      while (sent < bytes.length) {
        try {
          sent += writeSync(this.input, bytes, sent);
        } catch (err) {
          // A full pipe (a request larger than the agent has read yet): wait a moment.
          if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() > deadline) throw err;
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
        }
      }
      return true;
    } catch {
      return false; // EPIPE: the agent is gone
    }
  }

  /**
   * The agent's answer to this conversation (without its id), then the lane
   * is given back; undefined on a timeout, or once the agent no longer reads
   * its lane (it died, or stopped).
   */
  reply(timeoutMs: number): Promise<string | undefined> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let ended = false;
      const end = () => {
        ended = true;
        this.wakeUp();
      };
      const timer = setTimeout(end, timeoutMs);
      const check = setInterval(() => {
        if (!this.agentReads()) end();
      }, AGENT_CHECK_MS);
      check.unref();
      const done = (answer: string | undefined) => {
        clearTimeout(timer);
        clearInterval(check);
        this.reading = false;
        this.release();
        resolve(answer);
      };
      const prefix = Buffer.from(`${this.cid}\t`);
      const more = () => {
        this.reading = true;
        read(this.output, Buffer.allocUnsafe(64 * 1024), 0, 64 * 1024, null, (err, n, buffer) => {
          this.reading = false;
          if (this.released) return closeSync(this.output); // given back while it waited (release() left it open)
          if (err || n === 0) return done(undefined);
          chunks.push(buffer.subarray(0, n));
          let text = Buffer.concat(chunks);
          chunks.length = 0;
          for (let nl = text.indexOf(10); nl >= 0; nl = text.indexOf(10)) {
            const line = text.subarray(0, nl);
            text = text.subarray(nl + 1);
            if (line.subarray(0, prefix.length).equals(prefix)) return done(line.subarray(prefix.length).toString('utf8'));
          }
          if (ended) return done(undefined);
          chunks.push(text);
          more();
        });
      };
      more();
    });
  }

  /** Gives the lane back (its answer read, or the conversation abandoned). */
  release(): void {
    if (this.released) return;
    this.released = true;
    held--;
    process.removeListener('exit', this.onExit);
    // A read still waiting (the process exits meanwhile) ends first.
    if (this.reading) this.wakeUp();
    closeSync(this.input);
    closeSync(this.wake);
    if (!this.reading) closeSync(this.output); // else the exit closes it, once the read has ended
    removeIfSame(this.lock, this.lockIno);
  }

  /** Ends a read that waits on the answer pipe (an empty line, which no answer is). */
  private wakeUp(): void {
    try {
      writeSync(this.wake, '\n');
    } catch {
      // EAGAIN: the pipe is full, so the read has something to return anyway
    }
  }

  /** Whether the agent still holds its end of this lane's request pipe. */
  private agentReads(): boolean {
    try {
      closeSync(openSync(`${this.dir}/${this.index}.in`, constants.O_WRONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW));
      return true;
    } catch {
      return false; // ENXIO: no reader; ENOENT: the lanes are gone with their agent
    }
  }
}

/** Removes a lock if it is still the one with this inode (acct's own when it gives a lane back; a dead caller's when the agent takes it back). */
export function removeIfSame(path: string, ino: number): void {
  try {
    if (lstatSync(path).ino === ino) unlinkSync(path);
  } catch {
    // gone already
  }
}
