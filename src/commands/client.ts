// acct client set|show|remove: the OAuth client acct uses for an app.
import type { Context } from '../context.js';
import { saveClient, removeClient, storedClient, envSuffix, redirectUriToRegister } from '../accounts/clients.js';
import { readStdinValue } from '../ui/stdin.js';
import { printJson, out } from '../output/format.js';
import { usageError, notFound } from '../errors.js';
import type { OAuthApp } from '../catalog/schema.js';

function oauthApp(ctx: Context, slug: string): OAuthApp {
  const app = ctx.catalog.get(slug);
  if (app.auth !== 'oauth2') throw usageError(`${slug} uses API keys; OAuth clients are for OAuth apps`);
  return app;
}

export async function setClient(ctx: Context, slug: string, opts: { clientId?: string; secretStdin?: boolean; noSecret?: boolean }) {
  const app = oauthApp(ctx, slug);
  const clientId = opts.clientId ?? (await ctx.prompter.input('Client ID', '--client-id'));
  let secret: string | undefined;
  if (opts.secretStdin) secret = await readStdinValue(ctx.io.stdin, '--secret-stdin');
  else if (!opts.noSecret && app.oauth.clientSecret !== 'none') {
    if (ctx.prompter.interactive) {
      const s = await ctx.prompter.secret(`Client secret${app.oauth.clientSecret === 'optional' ? ' (Enter for a public client)' : ''}`, '--secret-stdin');
      secret = s || undefined;
    } else if (app.oauth.clientSecret === 'required') throw usageError(`${app.name} needs a client secret`, 'pass it on stdin with --secret-stdin');
  }
  await saveClient(ctx, app, clientId, secret);
  ctx.info(`Saved the ${app.name} OAuth client ${clientId}${secret ? ' (with its secret, sealed in the store)' : ' (public client, no secret)'}.`);
}

export async function showClient(ctx: Context, slug: string, opts: { json?: boolean }) {
  const app = oauthApp(ctx, slug);
  const envId = ctx.env[`ACCT_CLIENT_ID_${envSuffix(slug)}`];
  const rec = storedClient(ctx, slug);
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
  if (!(await removeClient(ctx, slug))) throw notFound(`no stored OAuth client for ${slug}`);
  ctx.info(`Removed the ${slug} OAuth client. Accounts connected with it can no longer refresh until you set it again.`);
}
