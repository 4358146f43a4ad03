#!/usr/bin/env node
// Runs the bundle built from src/ by `npm run build`. On Node 22 and later,
// V8's compile cache spares later runs most of the parsing (NODE_DISABLE_COMPILE_CACHE=1 turns it off).
import module from 'node:module';

module.enableCompileCache?.();
const { run } = await import('../dist/acct.js');
await run();
