// acct connect / acct reconnect: collect credentials, verify them with the
// app's test request, store them.
import type { Context } from '../context.js';
import type { AppDefinition, KeysApp } from '../catalog/schema.js';
import { collectKeyFields, stdinLimit, STDIN_TOO_LARGE_HINT } from '../accounts/keys.js';
import { createAccount, replaceCredentials, findAccount, checkNewNickname, noteShared, sameIdentity, storeOf, type NewCredentials } from '../accounts/service.js';
import { storeFor } from '../accounts/stores.js';
import type { AccountStore } from '../store/account-store.js';
import { readSecrets } from '../accounts/credentials.js';
import { runTestRequest } from '../api/test-request.js';
import { readStdinText } from '../ui/stdin.js';
import { AcctError, ExitCode, usageError } from '../errors.js';
import { printJson, out } from '../output/format.js';
import type { Account } from '../accounts/model.js';
import { resolveApp, checkSetting, type Settings } from '../catalog/resolve-app.js';

export interface ConnectOptions {
  nickname?: string;
  stdin?: boolean;
  fromEnv: string[];
  scope: string[];
  verify: boolean;
  check: boolean;
  browser: boolean;
  manual?: boolean;
  device?: boolean;
  clientCredentials?: boolean;
  /** name=value connection settings (--setting). */
  setting: string[];
  timeout: string;
  /** A team store's name: the account is the team's (private to you until shared). */
  team?: string;
  json?: boolean;
  /** reconnect: take credentials of another identity than the account's. */
  allowIdentityChange?: boolean;
}

// Everything that can fail without the user's secret is checked before it is
// asked for, read or fetched: the app, the nickname, the options, and the
// store (store.ready(), in keyCredentials and oauthCredentials).
export async function connect(ctx: Context, slug: string, opts: ConnectOptions): Promise<void> {
  const app = ctx.catalog.get(slug);
  const store = await storeFor(ctx, opts.team);
  store.assertWritable();
  if (opts.nickname !== undefined) await checkNewNickname(ctx, store, app.slug, opts.nickname);
  const creds = await obtainCredentials(ctx, store, app, opts);
  // The same identity again: its account gets the new credentials, as reconnect would give it.
  const existing = await sameIdentity(store, app.slug, creds.identity, opts.nickname);
  if (existing) {
    const account = await storeOver(ctx, app, existing, creds);
    done(ctx, account, 'Updated', opts, ': already connected');
    return;
  }
  const account = await createAccount(ctx, store, app, creds, opts.nickname);
  done(ctx, account, 'Connected', opts);
  await noteShared(ctx, account);
}

export async function reconnect(ctx: Context, ref: string, opts: ConnectOptions): Promise<void> {
  if (opts.team !== undefined) throw usageError('--team is for connect; reconnect keeps the account in its store', `name the team in the reference: acct reconnect ${opts.team}:${ref}`);
  const existing = await findAccount(ctx, ref);
  const store = await storeOf(ctx, existing);
  store.assertWritable();
  const app = ctx.catalog.get(existing.app);
  const creds = await obtainCredentials(ctx, store, app, opts, existing);
  // Signed in as someone else (another browser profile, a shared machine): the account would silently become another user's,
  // and the grant of the user it was would be revoked. Refused unless asked for; the new grant is not kept anywhere, so it goes.
  if (existing.identity && creds.identity && creds.identity !== existing.identity && !opts.allowIdentityChange) {
    const label = `${existing.app}/${existing.nickname}`;
    if (app.auth === 'oauth2') {
      const { revokeGrant } = await import('../accounts/revoke.js');
      await revokeGrant(ctx, store, app, creds.fields, `the grant just made for ${creds.identity}`);
    }
    throw usageError(
      `${label} is ${existing.identity}, but the new sign-in is ${creds.identity}`,
      `nothing was stored and ${existing.identity}'s grant is untouched; sign in as ${existing.identity}, connect ${creds.identity} as a new account (acct connect ${app.slug}), or pass --allow-identity-change to make ${label} ${creds.identity}'s`,
    );
  }
  const account = await storeOver(ctx, app, existing, creds);
  done(ctx, account, 'Reconnected', opts);
}

/**
 * New credentials for an existing account; then, OAuth, the grant they
 * replace is revoked at the provider (never before the new one is stored; a
 * failed revocation is a warning).
 */
async function storeOver(ctx: Context, app: AppDefinition, existing: Account, creds: NewCredentials): Promise<Account> {
  let old: Record<string, string> | undefined;
  if (app.auth === 'oauth2' && app.oauth.revocationUrl) {
    try {
      old = await readSecrets(ctx, existing);
    } catch (err) {
      if (!(err instanceof AcctError)) throw err;
      ctx.warn(`the old credentials of ${existing.app}/${existing.nickname} cannot be read (${err.message}), so their grant is not revoked: revoke it in your ${app.name} settings`);
    }
  }
  const account = await replaceCredentials(ctx, existing, creds);
  if (old && app.auth === 'oauth2') {
    const { revokeReplaced } = await import('../accounts/revoke.js');
    await revokeReplaced(ctx, await storeOf(ctx, existing), app, old, creds.fields, `${account.app}/${account.nickname}`);
  }
  return account;
}

function done(ctx: Context, account: Account, verb: string, opts: ConnectOptions, why = '') {
  ctx.info(`${verb} ${account.app}/${account.nickname} (${account.id})${why}`);
  if (opts.json) printJson(ctx.io, { id: account.id, app: account.app, nickname: account.nickname, identity: account.identity });
  else out(ctx.io, `${account.id}\n`);
}

async function obtainCredentials(ctx: Context, store: AccountStore, app: AppDefinition, opts: ConnectOptions, existing?: Account): Promise<NewCredentials> {
  const settings = await collectSettings(ctx, app, opts.setting ?? [], existing);
  const resolved = resolveApp(app, settings);
  if (resolved.auth === 'keys') return { ...(await keyCredentials(ctx, store, resolved, opts)), settings };
  const { oauthCredentials } = await import('./connect-oauth.js');
  return oauthCredentials(ctx, store, resolved, opts, settings, existing);
}

/**
 * The app's connection settings: from --setting, else the account's own on
 * reconnect, else a prompt on a terminal (the default offered), else the
 * default. Settings looked up after connect are only taken from --setting
 * here (and checked against what the lookup finds).
 */
export async function collectSettings(ctx: Context, app: AppDefinition, pairs: string[], existing?: Account): Promise<Settings> {
  const given: Settings = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const name = eq > 0 ? pair.slice(0, eq) : '';
    if (!name) throw usageError(`--setting takes name=value, not "${pair}"`);
    if (!app.settings.some((s) => s.name === name))
      throw usageError(
        `${app.slug} has no setting "${name}"`,
        app.settings.length ? `its settings are: ${app.settings.map((s) => s.name).join(', ')}` : `${app.slug} takes no --setting`,
      );
    given[name] = pair.slice(eq + 1);
  }
  const out: Settings = {};
  for (const spec of app.settings) {
    let value = given[spec.name] ?? (spec.lookup ? undefined : existing?.settings?.[spec.name]);
    if (value === undefined && !spec.lookup) {
      if (ctx.prompter.interactive)
        value = (await ctx.prompter.input(`${spec.label}${spec.example ? ` (for example ${spec.example})` : ''}`, `--setting ${spec.name}=…`, spec.default)).trim();
      else if (spec.default !== undefined) value = spec.default;
      else throw usageError(`${app.name} needs your ${spec.label}`, `pass it: --setting ${spec.name}=${spec.example ?? '…'}`);
    }
    if (value !== undefined) out[spec.name] = checkSetting(spec, value);
  }
  return out;
}

async function keyCredentials(ctx: Context, store: AccountStore, app: KeysApp, opts: ConnectOptions): Promise<NewCredentials> {
  for (const flag of ['manual', 'device', 'clientCredentials'] as const)
    if (opts[flag]) throw usageError(`--${flag === 'clientCredentials' ? 'client-credentials' : flag} is for OAuth apps; ${app.slug} uses API keys`);
  if (opts.scope.length) throw usageError(`--scope is for OAuth apps; ${app.slug} uses API keys`);
  await store.ready();
  const fields = await collectKeyFields(app, {
    stdin: opts.stdin ? await readStdinText(ctx.io.stdin, '--stdin', stdinLimit(app), STDIN_TOO_LARGE_HINT) : undefined,
    fromEnv: opts.fromEnv,
    env: ctx.env,
    prompter: ctx.prompter,
    checkShapes: opts.check,
  });
  let identity: string | null = null;
  // An app without a test request has nothing to verify: its keys are ok as stored.
  let unverified = !opts.verify && app.test !== undefined;
  if (opts.verify) {
    const outcome = await runTestRequest(app, fields, await ctx.fetch());
    switch (outcome.kind) {
      case 'ok':
        identity = outcome.identity;
        break;
      case 'rejected':
        throw new AcctError('needs_reconnect', `${app.name} rejected the key: ${outcome.detail}`, {
          hint: `nothing was stored; check the key${app.auth === 'keys' && app.fields[0]?.createUrl ? ` at ${app.fields[0].createUrl}` : ''} and try again`,
        });
      case 'unreachable':
        ctx.warn(`could not verify the key (${outcome.detail}); storing it unverified. Check it later with: acct test ${app.slug}`);
        unverified = true;
        break;
      case 'untested':
        ctx.warn(`could not verify the key: ${outcome.detail}`);
        break;
    }
  }
  return { fields, scopes: [], expiresAt: null, identity, unverified };
}
