#!/usr/bin/env node
// Runs the bundle built from src/ by `npm run build` (one file, fast start).
import { run } from '../dist/acct.js';

await run();
