// acct serve: the local credentials API (src/serve/server.ts) on a unix socket
// (default) or a loopback port, until stopped. Also the private server
// `acct exec --serve` starts for its child alone.
import { chmodSync, closeSync, existsSync, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, readlinkSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { Context } from '../context.js';
import { credentialsServer, type ServeOptions } from '../serve/server.js';
import { usageError, storeError, errorMessage, AcctError } from '../errors.js';
import { out } from '../output/format.js';
import { checkPrivateFile, READ_FLAGS } from '../store/trust.js';
import { ensurePrivateDir } from '../store/files.js';
import { privateDirFault } from '../agent/folder.js';

export interface ServeCommandOptions {
  socket?: string;
  port?: string;
  tokenFile?: string;
  json?: boolean;
}

export async function serve(ctx: Context, opts: ServeCommandOptions): Promise<number> {
  if (opts.socket && opts.port !== undefined) throw usageError('--socket and --port exclude each other', 'a unix socket (the default), or a loopback port');
  const port = opts.port === undefined ? undefined : Number(opts.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw usageError(`--port ${opts.port} is not a port number`);
  const token = opts.tokenFile ? tokenFromFile(opts.tokenFile) : newToken();
  const socket = port === undefined ? resolve(opts.socket ?? defaultSocket(ctx)) : undefined;
  const log = (line: string) => ctx.io.stderr.write(`${new Date().toISOString()} ${line}\n`);

  const server = credentialsServer(ctx, { token, tcp: socket === undefined, log });
  let where: string;
  if (socket) {
    await prepareSocketPath(ctx, socket, opts.socket === undefined);
    await listenPrivate(server, socket);
    where = `unix:${socket}`;
  } else {
    await new Promise<void>((ok, fail) => server.once('error', fail).listen(port, '127.0.0.1', () => ok())).catch((err: unknown) => {
      throw listenFailure(err, { port: port! });
    });
    where = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  // One line, first: a script starting the server reads it to learn where to connect.
  if (opts.json) out(ctx.io, `${JSON.stringify({ address: where, token: opts.tokenFile ? null : token })}\n`);
  // While it serves, stderr is the server's log, in text: a warning is written when it comes, not held for the end (--json).
  ctx.logWarnings();
  ctx.info(`acct serve: listening on ${where}`);
  if (!opts.tokenFile && !opts.json) ctx.info(`Bearer token (give it to the programs that ask; it lasts while this server runs):\n${token}`);
  ctx.info('Stop with Ctrl-C.');

  await new Promise<void>((done) => {
    const stop = () => server.close(() => done());
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(s, stop);
  });
  if (socket) removeSocket(socket);
  ctx.info('acct serve: stopped');
  return 0;
}

/** A server for one child (exec --serve): a private folder, a random token; stop() closes it and removes the folder. */
export async function childServer(ctx: Context, only: NonNullable<ServeOptions['only']>): Promise<{ socket: string; token: string; stop(): Promise<void> }> {
  const base = ctx.env.XDG_RUNTIME_DIR && existsSync(ctx.env.XDG_RUNTIME_DIR) ? ctx.env.XDG_RUNTIME_DIR : tmpdir();
  const dir = mkdtempSync(join(base, 'acct-exec-')); // 0700
  const socket = join(dir, 's');
  const token = newToken();
  const server = credentialsServer(ctx, { token, tcp: false, only, log: ctx.env.ACCT_DEBUG ? (l) => ctx.io.stderr.write(`acct: ${l}\n`) : () => {} });
  // The private folder goes however acct ends: normally by stop(), else (an exit from elsewhere, an uncaught error) as the process exits.
  const remove = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', remove);
  try {
    await listenPrivate(server, socket);
  } catch (err) {
    process.removeListener('exit', remove);
    remove();
    throw err;
  }
  return {
    socket,
    token,
    stop: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      }).finally(() => {
        process.removeListener('exit', remove);
        remove();
      }),
  };
}

const newToken = () => `acctsv_${randomBytes(32).toString('base64url')}`;

function defaultSocket(ctx: Context): string {
  const runtime = ctx.env.XDG_RUNTIME_DIR;
  return runtime ? join(runtime, 'acct', 'serve.sock') : join(ctx.paths.data, 'serve.sock');
}

/**
 * The token in an existing private file, or a new one written there (0600).
 * The file is opened without following a symlink and checked on the open
 * descriptor (trust.ts): a regular file, the user's own, closed to others.
 */
function tokenFromFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw tokenFileIsLink(path);
    if (code !== 'ENOENT') throw usageError(`cannot read ${path}: ${errorMessage(err)}`, 'give --token-file the path of a file of yours holding the token');
    const token = newToken();
    try {
      writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' }); // O_EXCL: never through a link, never over a file
    } catch (writeErr) {
      throw usageError(`cannot write ${path}: ${errorMessage(writeErr)}`, 'give --token-file a path in a folder of yours');
    }
    return token;
  }
  let token: string;
  try {
    if (!fstatSync(fd).isFile()) throw usageError(`${path} is not a regular file`, 'give --token-file the path of a file holding the token');
    checkPrivateFile(path, fd, 'store_untrusted');
    token = readFileSync(fd, 'utf8').trim();
  } finally {
    closeSync(fd);
  }
  if (token.length < 32 || /\s/.test(token)) throw usageError(`${path} does not hold a usable token (at least 32 characters, no spaces)`, 'delete it and acct writes a new one');
  return token;
}

function tokenFileIsLink(path: string): AcctError {
  let target = '';
  try {
    target = resolve(dirname(path), readlinkSync(path));
  } catch {
    // gone meanwhile: the message still names the path
  }
  return storeError(
    `${path} is a symlink${target ? ` to ${target}` : ''}, and acct reads a token file only from the file itself`,
    target ? `give --token-file the file itself (after checking it is yours): --token-file ${target}` : 'give --token-file the path of the file itself',
    undefined,
    'store_untrusted',
  );
}

/**
 * Makes room for the socket: a stale one (nobody listening) is removed; a live one or any other file is an error.
 * `ours`: the default path, whose folder acct makes and uses only when it is the user's own and private.
 */
async function prepareSocketPath(ctx: Context, socket: string, ours: boolean): Promise<void> {
  if (ours) {
    if (ctx.env.XDG_RUNTIME_DIR) runtimeFolder(dirname(socket));
    else ensurePrivateDir(dirname(socket)); // acct's data folder, checked as the store's folders are
  }
  let st;
  try {
    st = lstatSync(socket);
  } catch {
    return;
  }
  if (!st.isSocket()) throw usageError(`${socket} exists and is not a socket`, 'choose another path with --socket');
  const live = await new Promise<boolean>((done) => {
    const c = connect(socket, () => {
      c.destroy();
      done(true);
    });
    c.on('error', () => done(false));
  });
  if (live) throw usageError(`another server is listening on ${socket}`, 'stop it, or choose another path with --socket');
  unlinkSync(socket);
}

/**
 * $XDG_RUNTIME_DIR/acct, which the agent shares: made 0700 when missing, and
 * used only when it is a folder of the user's own that no one else may enter
 * (agent/folder.ts, the agent's own check). Nothing is changed to make it pass.
 */
function runtimeFolder(dir: string): void {
  let made: unknown;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    made = err; // something in the way: said below
  }
  const fault = privateDirFault(dir);
  if (!fault) return;
  const other = 'or choose another path with --socket';
  switch (fault.kind) {
    case 'missing':
      throw usageError(`cannot make ${dir}: ${errorMessage(made)}`, `check $XDG_RUNTIME_DIR, ${other}`);
    case 'symlink':
      throw storeError(`${dir} is a symlink, and acct makes its socket only in a folder of its own`, `remove the link (rm ${dir}; what it points at is left alone) and acct makes the folder, ${other}`, undefined, 'store_untrusted');
    case 'not-folder':
      throw storeError(`${dir} is not a folder`, `acct keeps its sockets there: move it aside, ${other}`, undefined, 'store_untrusted');
    case 'owner':
      throw storeError(`${dir} is owned by another user (uid ${fault.uid}), and acct makes its socket only in a folder of its own`, `move it aside if it is not yours (anyone who owns it could take the socket's place), ${other}`, undefined, 'store_untrusted');
    case 'open':
      throw storeError(`${dir} is open to others (mode ${fault.mode.toString(8)})`, `make it private: chmod 700 ${dir}, ${other}`, undefined, 'store_untrusted');
  }
}

/** Listens on a unix socket that only this user can open: created under umask 077, then chmod 600. */
async function listenPrivate(server: Server, socket: string): Promise<void> {
  const old = process.umask(0o177);
  try {
    await new Promise<void>((ok, fail) => server.once('error', fail).listen(socket, () => ok()));
  } catch (err) {
    throw listenFailure(err, { socket });
  } finally {
    process.umask(old);
  }
  chmodSync(socket, 0o600);
}

/** Why the server could not listen, as an error with the next step (the socket's folder, the port). */
function listenFailure(err: unknown, on: { socket: string } | { port: number }): AcctError {
  const code = (err as NodeJS.ErrnoException).code;
  if ('port' in on) {
    if (code === 'EADDRINUSE') return usageError(`port ${on.port} on 127.0.0.1 is in use`, 'choose another with --port, or --port 0 for any free one');
    if (code === 'EACCES') return usageError(`no permission to listen on port ${on.port}`, 'choose a port above 1023 with --port, or --port 0 for any free one');
    return usageError(`cannot listen on 127.0.0.1:${on.port}: ${errorMessage(err)}`, 'choose another port with --port, or a unix socket with --socket');
  }
  const dir = dirname(on.socket);
  // A unix socket in a folder that does not exist fails as EACCES on Linux, as ENOENT elsewhere.
  if ((code === 'EACCES' || code === 'ENOENT' || code === 'ENOTDIR') && !existsSync(dir))
    return usageError(`cannot make the socket ${on.socket}: the folder ${dir} does not exist`, `make it first (mkdir -m 700 ${dir}), or choose another path with --socket`);
  if (code === 'EACCES' || code === 'EPERM') return usageError(`cannot make the socket ${on.socket}: no permission to write in ${dir}`, 'choose a path in a folder of yours with --socket');
  if (code === 'EADDRINUSE') return usageError(`${on.socket} is in use`, 'stop what listens there, or choose another path with --socket');
  return usageError(`cannot listen on ${on.socket}: ${errorMessage(err)}`, 'choose another path with --socket');
}

function removeSocket(socket: string): void {
  try {
    unlinkSync(socket);
  } catch {
    // already gone: nothing to clean up
  }
}
