// node --require this-file: when the process exits, writes the unix socket
// paths it connected to (one a line) to the file named by ACCT_TRACE_CONNECTS.
// For counting conversations with the keychain agent.
'use strict';
const { writeFileSync } = require('node:fs');

const out = process.env.ACCT_TRACE_CONNECTS;
if (out) {
  const net = require('node:net');
  const seen = [];
  const original = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (...args) {
    const first = args[0];
    const path = typeof first === 'string' ? first : Array.isArray(first) ? first[0]?.path : first?.path;
    if (typeof path === 'string') seen.push(path);
    return original.apply(this, args);
  };
  process.on('exit', () => writeFileSync(out, seen.join('\n')));
}
