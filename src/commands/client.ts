// acct client set|show|remove: the OAuth client acct uses for an app.
import type { Context } from '../context.js';
import { saveClient, checkClientId, envSuffix, redirectUriToRegister } from '../accounts/clients.js';
import { readStdinText } from '../ui/stdin.js';
import { MAX_FIELD_BYTES, MAX_FIELD_TEXT } from '../accounts/field-value.js';
import { printJson, out } from '../output/format.js';
import { usageError, notFound } from '../errors.js';
import type { OAuthApp } from '../catalog/schema.js';
import { label } from '../accounts/resolve.js';
import { storeFor } from '../accounts/stores.js';
import type { AccountStore } from '../store/account-store.js';

function oauthApp(ctx: Context, slug: string): OAuthApp {
  const app = ctx.catalog.get(slug);
  if (app.auth !== 'oauth2') throw usageError(`${slug} uses API keys; OAuth clients are for OAuth apps`);
  return app;
}

/**
 * The secret comes from --secret-stdin or a hidden prompt, never argv. Without
 * a terminal to ask on, one of --secret-stdin or --no-secret must say which it
 * is: a secret waiting on a pipe is never dropped for a public client. Apps
 * whose clients have no secret ask for none.
 */
export async function setClient(ctx: Context, slug: string, opts: { clientId?: string; secretStdin?: boolean; noSecret?: boolean; team?: string }) {
  const app = oauthApp(ctx, slug);
  // A team's client is the team's: every member refreshes its accounts with it (the secret wrapped for each).
  const store = await storeFor(ctx, opts.team);
  if (opts.secretStdin && opts.noSecret) throw usageError('pick one of --secret-stdin and --no-secret');
  const takesSecret = app.oauth.clientSecret !== 'none';
  if (!takesSecret && opts.secretStdin) throw usageError(`${app.name} clients have no secret; drop --secret-stdin`);
  if (takesSecret && !opts.secretStdin && !opts.noSecret && !ctx.prompter.interactive)
    throw usageError(
      `stdin is not a terminal, so acct cannot ask for the ${app.name} client secret`,
      `pass it on stdin with --secret-stdin (acct client set ${slug} --client-id ${opts.clientId ?? 'ID'} --secret-stdin < secret.txt)${app.oauth.clientSecret === 'optional' ? ', or --no-secret for a public client' : ''}`,
    );
  const clientId = opts.clientId ?? (await ctx.prompter.input('Client ID', '--client-id'));
  checkClientId(clientId); // before the store is opened, or a secret asked for
  let secret: string | undefined;
  if (opts.secretStdin) {
    await store.ready();
    // The limit leaves room for the newline `echo` adds, which is not part of the secret.
    const text = await readStdinText(ctx.io.stdin, '--secret-stdin', MAX_FIELD_BYTES + 2, `nothing was stored; a client secret is at most ${MAX_FIELD_TEXT}: check that you piped the secret itself`);
    secret = text.replace(/\r?\n$/, '');
  } else if (takesSecret && !opts.noSecret) {
    const s = await ctx.prompter.secret(`Client secret${app.oauth.clientSecret === 'optional' ? ' (Enter for a public client)' : ''}`, '--secret-stdin');
    secret = s || undefined;
  }
  const before = (await store.clients.peek(slug))?.clientId;
  await saveClient(store, app, clientId, secret);
  ctx.info(`Saved the ${app.name} OAuth client ${clientId}${opts.team ? ` for team ${opts.team}` : ''}${secret ? ' (with its secret, sealed in the store)' : ' (public client, no secret)'}.`);
  await warnOtherClient(ctx, store, app, clientId, before);
}

/** Accounts whose grant another client issued: their refreshes may now be refused. */
async function warnOtherClient(ctx: Context, store: AccountStore, app: OAuthApp, clientId: string, before: string | undefined) {
  const others = (await store.view()).accounts.filter((a) => a.app === app.slug && (a.clientId ?? before) !== undefined && (a.clientId ?? before) !== clientId);
  if (!others.length) return;
  const issuers = [...new Set(others.map((a) => a.clientId ?? before))];
  ctx.warn(
    `${others.length === 1 ? 'this account was' : `these ${others.length} accounts were`} connected with ${issuers.length === 1 ? `the client ${issuers[0]}` : `other clients (${issuers.join(', ')})`}, and ${app.name} may refuse to refresh ${others.length === 1 ? 'it' : 'them'} with ${clientId}: ${others.map(label).join(', ')}. ` +
      `Set the old client back (acct client set ${app.slug} --client-id ${issuers[0]}), or reconnect ${others.length === 1 ? 'it' : 'each'} with the new one (acct reconnect ${others[0]!.id})`,
  );
}

export async function showClient(ctx: Context, slug: string, opts: { json?: boolean; team?: string }) {
  const app = oauthApp(ctx, slug);
  const envId = ctx.env[`ACCT_CLIENT_ID_${envSuffix(slug)}`];
  const rec = await (await storeFor(ctx, opts.team)).clients.peek(slug);
  const info = {
    app: slug,
    client_id: envId ?? rec?.clientId ?? null,
    has_secret: envId ? Boolean(ctx.env[`ACCT_CLIENT_SECRET_${envSuffix(slug)}`]) : (rec?.hasSecret ?? false),
    source: envId ? 'environment' : rec ? 'stored' : null,
    redirect_uri: redirectUriToRegister(app),
    create_at: app.oauth.createClientUrl,
  };
  if (opts.json) return printJson(ctx.io, info);
  if (!info.client_id)
    throw notFound(`no OAuth client is set for ${slug}`, `create one at ${app.oauth.createClientUrl} with redirect URI ${info.redirect_uri}, then: acct client set ${slug} --client-id ID --secret-stdin`);
  out(ctx.io, 
    [`client id     ${info.client_id} (${info.source})`, `secret        ${info.has_secret ? 'set (never shown)' : 'none'}`, `redirect URI  ${info.redirect_uri}`].join('\n') + '\n',
  );
}

export async function deleteClient(ctx: Context, slug: string) {
  oauthApp(ctx, slug);
  if (!(await ctx.store.clients.remove(slug))) throw notFound(`no stored OAuth client for ${slug}`);
  ctx.info(`Removed the ${slug} OAuth client. Accounts connected with it can no longer refresh until you set it again.`);
}
