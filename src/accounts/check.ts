// Running an account's test request with fresh credentials, as `acct test` and
// `acct status --check` do. Like `acct request`, a token the service turns
// away before its time gets one refresh and a retry; a refused refresh marks
// the account needs-reconnect (in the shared refresh path).
import type { Context } from '../context.js';
import type { Account } from './model.js';
import type { AppDefinition } from '../catalog/schema.js';
import { freshCredentials } from './credentials.js';
import { withClientId } from './clients.js';
import { runTestRequest, type TestOutcome } from '../api/test-request.js';
import { setStatus } from './service.js';
import { AcctError } from '../errors.js';

export async function checkAccount(ctx: Context, account: Account, app: AppDefinition): Promise<TestOutcome> {
  const outcome = await runCheck(ctx, account, app);
  if (outcome.kind === 'ok' && account.status === 'unverified') await markVerified(ctx, account);
  return outcome;
}

/** A key stored unverified has now passed its test request. Bookkeeping: a failure to record it is a warning. */
async function markVerified(ctx: Context, account: Account): Promise<void> {
  try {
    await setStatus(ctx, account.id, 'ok', { touch: false });
  } catch (err) {
    if (!(err instanceof AcctError)) throw err;
    ctx.warn(`could not record that ${account.app}/${account.nickname} passed its test (${err.message})`);
  }
}

async function runCheck(ctx: Context, account: Account, app: AppDefinition): Promise<TestOutcome> {
  const fetch = await ctx.fetch();
  const fields = await freshCredentials(ctx, account, app, { minTtlSeconds: 30 });
  const outcome = await runTestRequest(app, withClientId(ctx, app, fields), fetch);
  if (outcome.kind !== 'rejected' || outcome.status !== 401 || account.auth !== 'oauth2') return outcome;
  const refreshed = await freshCredentials(ctx, account, app, { minTtlSeconds: 30, force: true });
  return runTestRequest(app, withClientId(ctx, app, refreshed), fetch);
}
