#!/usr/bin/env node
// ACCT_BROWSER stand-in: `node browser.mjs <url>`. Plays the user in the
// browser against oidc-provider's development interactions.
//   ACCT_TEST_BROWSER_MODE  approve (default) | deny | wrong-state-first | never
//   ACCT_TEST_BROWSER_LOGIN the login to sign in with (default alice)
//   ACCT_TEST_BROWSER_LOG   a file to append one JSON line per callback request to
import { appendFileSync } from 'node:fs';
import { authorize } from './browser-lib.mjs';

const url = process.argv.at(-1);
const mode = process.env.ACCT_TEST_BROWSER_MODE || 'approve';
const login = process.env.ACCT_TEST_BROWSER_LOGIN || 'alice';
const logFile = process.env.ACCT_TEST_BROWSER_LOG;

function log(entry) {
  if (logFile) appendFileSync(logFile, `${JSON.stringify(entry)}\n`);
}

async function visit(callback, kind) {
  const res = await fetch(callback, { redirect: 'manual' });
  const body = await res.text();
  log({ kind, status: res.status, title: /<h1>([^<]*)<\/h1>/.exec(body)?.[1] ?? null });
  return res.status;
}

try {
  if (mode === 'never') {
    log({ kind: 'opened' });
    process.exit(0);
  }
  if (!['approve', 'deny', 'wrong-state-first'].includes(mode)) throw new Error(`unknown ACCT_TEST_BROWSER_MODE ${mode}`);
  const callback = await authorize(url, { login, deny: mode === 'deny' });
  if (mode === 'wrong-state-first') {
    const wrong = new URL(callback);
    wrong.searchParams.set('state', 'not-the-state-acct-sent');
    await visit(wrong.href, 'wrong-state');
  }
  await visit(callback, 'callback');
} catch (err) {
  log({ kind: 'error', message: String(err?.message ?? err) });
  process.stderr.write(`test browser: ${err?.message ?? err}\n`);
  process.exit(1);
}
