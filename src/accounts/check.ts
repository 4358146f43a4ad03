// Running an account's test request with fresh credentials, as `acct test` and
// `acct status --check` do. Like `acct request`, a token the service turns
// away before its time gets one refresh and a retry; a refused refresh marks
// the account needs-reconnect (in the shared refresh path). What the outcome
// says of the account's status is recorded here, for both commands.
import type { Context } from '../context.js';
import type { Account, AccountStatus } from './model.js';
import type { AppDefinition } from '../catalog/schema.js';
import { freshCredentials } from './credentials.js';
import { withClientId } from './clients.js';
import { runTestRequest, type TestOutcome } from '../api/test-request.js';
import { noteStatus, storeOf } from './service.js';

export async function checkAccount(ctx: Context, account: Account, app: AppDefinition): Promise<TestOutcome> {
  const outcome = await runCheck(ctx, account, app);
  const status = statusAfterTest(account, outcome);
  if (status)
    await noteStatus(ctx, account, status, `${account.app}/${account.nickname} ${status === 'ok' ? 'passed' : 'failed'} its test`, {
      ifUnchanged: true,
    });
  return outcome;
}

/**
 * The status a test request's outcome gives the account; undefined: it stays
 * as it is. A pass clears unverified, and the needs-reconnect of a key. A key
 * the service refused needs reconnecting: its test request answered 401
 * (RFC 9110: the credentials are not valid), or 2xx with the app's okField
 * not true (Slack's invalid_auth). A 400 or 403, which refuse a connect too,
 * do not mark a stored key: they also mean a rate limit (GitHub answers 403),
 * a missing permission or a firewall, and a mark stops every use of the key
 * until a test passes. An OAuth account's grant is judged where it is refreshed (a
 * refused refresh token, invalid_grant, marks it in the refresh path, which
 * the test took for its fresh token), not by one answer of its API. Nothing
 * unconfirmed changes a status: an unreachable service, a 5xx or 429, a
 * redirect elsewhere, no test request.
 */
export function statusAfterTest(account: Account, outcome: TestOutcome): AccountStatus | undefined {
  if (outcome.kind === 'ok') return account.status === 'unverified' || (account.status === 'needs-reconnect' && account.auth === 'keys') ? 'ok' : undefined;
  const refused = outcome.kind === 'rejected' && (outcome.status === 401 || (outcome.status >= 200 && outcome.status < 300));
  if (refused && account.auth === 'keys' && account.status !== 'needs-reconnect') return 'needs-reconnect';
  return undefined;
}

async function runCheck(ctx: Context, account: Account, app: AppDefinition): Promise<TestOutcome> {
  const fetch = await ctx.fetch();
  const store = await storeOf(ctx, account);
  const fields = await freshCredentials(ctx, account, app, { minTtlSeconds: 30, retest: true });
  const outcome = await runTestRequest(app, await withClientId(ctx, store, app, fields), fetch);
  if (outcome.kind !== 'rejected' || outcome.status !== 401 || account.auth !== 'oauth2') return outcome;
  const refreshed = await freshCredentials(ctx, account, app, { minTtlSeconds: 30, force: true });
  return runTestRequest(app, await withClientId(ctx, store, app, refreshed), fetch);
}
