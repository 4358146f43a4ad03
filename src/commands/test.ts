// acct test <ref>: run the app's test request with the account's fresh credentials.
import type { Context } from '../context.js';
import { findAccount } from '../accounts/service.js';
import { checkAccount } from '../accounts/check.js';
import { printJson, out } from '../output/format.js';
import { ExitCode, visibleData } from '../errors.js';

export async function test(ctx: Context, ref: string, opts: { json?: boolean }) {
  const account = await findAccount(ctx, ref);
  const app = ctx.catalog.forAccount(account);
  const outcome = await checkAccount(ctx, account, app);
  const label = `${account.app}/${account.nickname}`;
  const shown = visibleData(label);
  const code = outcome.kind === 'ok' ? ExitCode.ok : outcome.kind === 'rejected' ? ExitCode.reconnect : outcome.kind === 'unreachable' ? ExitCode.unavailable : ExitCode.unexpected;
  if (opts.json) printJson(ctx.io, { id: account.id, ref: label, result: outcome.kind, identity: outcome.kind === 'ok' ? outcome.identity : null, detail: 'detail' in outcome ? outcome.detail : null });
  else if (outcome.kind === 'ok') out(ctx.io, `ok: ${shown}${outcome.identity ? ` — authenticated as ${visibleData(outcome.identity)}` : ''}\n`);
  else ctx.io.stderr.write(`${outcome.kind}: ${shown} — ${visibleData(outcome.detail)}${outcome.kind === 'rejected' ? `\n  reconnect it: acct reconnect ${account.id}` : ''}\n`);
  return code;
}
