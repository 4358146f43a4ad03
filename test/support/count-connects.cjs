// node --require this-file: when the process exits, writes the conversations
// it began with the keychain agent, one a line, to the file named by
// ACCT_TRACE_CONNECTS: `socket:<path>` for each connection to a unix socket,
// `lane:<socket path>` for each lane taken (src/agent/lanes.ts, whose locks
// live in `<socket path>.lanes/`).
'use strict';
const fs = require('node:fs');

const out = process.env.ACCT_TRACE_CONNECTS;
if (out) {
  const net = require('node:net');
  const seen = [];
  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...args) {
    const first = args[0];
    const path = typeof first === 'string' ? first : Array.isArray(first) ? first[0]?.path : first?.path;
    if (typeof path === 'string') seen.push(`socket:${path}`);
    return connect.apply(this, args);
  };
  const openSync = fs.openSync;
  fs.openSync = function (path, flags, ...rest) {
    const fd = openSync.call(this, path, flags, ...rest);
    const lane = typeof path === 'string' ? /^(.*)\.lanes\/\d+\.lock$/.exec(path) : null;
    if (lane && typeof flags === 'number' && flags & fs.constants.O_EXCL) seen.push(`lane:${lane[1]}`);
    return fd;
  };
  process.on('exit', () => fs.writeFileSync(out, seen.join('\n')));
}
