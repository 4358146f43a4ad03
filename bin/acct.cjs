#!/usr/bin/env node
// Runs the bundle built from src/ by `npm run build`. CommonJS on purpose:
// Node starts it faster than an ES module. On Node 22 and later, V8's compile
// cache spares later runs most of the parsing (NODE_DISABLE_COMPILE_CACHE=1
// turns it off).
'use strict';
require('node:module').enableCompileCache?.();
require('../dist/acct.cjs').run();
