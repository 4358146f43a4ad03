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
import { noteStatus, storeOf } from './service.js';

export async function checkAccount(ctx: Context, account: Account, app: AppDefinition): Promise<TestOutcome> {
  const outcome = await runCheck(ctx, account, app);
  if (outcome.kind === 'ok' && account.status === 'unverified') await noteStatus(ctx, account, 'ok', `${account.app}/${account.nickname} passed its test`);
  return outcome;
}


async function runCheck(ctx: Context, account: Account, app: AppDefinition): Promise<TestOutcome> {
  const fetch = await ctx.fetch();
  const store = await storeOf(ctx, account);
  const fields = await freshCredentials(ctx, account, app, { minTtlSeconds: 30 });
  const outcome = await runTestRequest(app, await withClientId(ctx, store, app, fields), fetch);
  if (outcome.kind !== 'rejected' || outcome.status !== 401 || account.auth !== 'oauth2') return outcome;
  const refreshed = await freshCredentials(ctx, account, app, { minTtlSeconds: 30, force: true });
  return runTestRequest(app, await withClientId(ctx, store, app, refreshed), fetch);
}
