// node --require this-file: when the process exits, writes every file it
// loaded with require() (one path a line) to the file named by ACCT_TRACE_LOADS.
'use strict';
const { writeFileSync } = require('node:fs');

const out = process.env.ACCT_TRACE_LOADS;
if (out) process.on('exit', () => writeFileSync(out, Object.keys(require.cache).join('\n')));
