// node --require this-file: when the process exits, writes the names of the
// Node built-in modules it loaded (one a line: net, crypto, …) to the file
// named by ACCT_TRACE_BUILTINS.
'use strict';
const { writeFileSync } = require('node:fs');

const out = process.env.ACCT_TRACE_BUILTINS;
if (out)
  process.on('exit', () =>
    writeFileSync(
      out,
      process.moduleLoadList
        .filter((m) => m.startsWith('NativeModule '))
        .map((m) => m.slice('NativeModule '.length))
        .join('\n'),
    ),
  );
