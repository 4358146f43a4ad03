// acct team create|invite|join|add-ci|members|trust|remove, acct share|unshare:
// parse, call src/team/, print. The codes printed here (an invitation, a CI
// key) are secrets shown once: on stdout, and never in an error.
import { teamSecrets, type Context } from '../context.js';
import { splitTeam } from '../accounts/stores.js';
import { printJson, out, printTable, style } from '../output/format.js';
import { readStdinValue } from '../ui/stdin.js';
import { usageError } from '../errors.js';
import type { AdminDeps, TeamSettings } from '../team/admin.js';
import type { TeamStore } from '../team/store.js';

async function team() {
  const [admin, index] = await Promise.all([import('../team/admin.js'), import('../team/index.js')]);
  return { ...admin, ...index };
}

/** The one place team commands take their pieces from the context. */
function deps(ctx: Context): AdminDeps & { warn: (m: string) => void } {
  return { paths: ctx.paths, env: ctx.env, secrets: teamSecrets(ctx.machineSecrets), warn: (m) => ctx.warn(m) };
}

async function withStore<T>(ctx: Context, name: string, fn: (store: TeamStore, t: Awaited<ReturnType<typeof team>>) => Promise<T>): Promise<T> {
  const t = await team();
  const store = t.openTeamStore(deps(ctx), name);
  try {
    return await fn(store, t);
  } finally {
    await store.close();
  }
}

function defaultMemberName(env: NodeJS.ProcessEnv): string {
  const raw = (env.USER || env.LOGNAME || process.getBuiltinModule('node:os').userInfo().username || '').toLowerCase().replace(/[^a-z0-9._-]/g, '');
  if (!/^[a-z]/.test(raw)) throw usageError('acct cannot tell your member name from $USER', 'give one: --member <name>');
  return raw.slice(0, 32);
}

export async function create(ctx: Context, name: string, url: string, opts: { member?: string; json?: boolean }) {
  const t = await team();
  const member = opts.member ?? defaultMemberName(ctx.env);
  const r = await t.createTeam(deps(ctx), { name, url, memberName: member });
  if (opts.json) return printJson(ctx.io, { team: name, team_id: r.teamId, member: member, member_id: r.memberId, admin: true });
  ctx.info(`Created team ${name}; you (${member}) are its first admin. Invite others with: acct team invite ${name} --name <who>`);
}

/** --expires: 30m, 12h, 7d (at most 90 days). */
function invitationTtl(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const m = /^([1-9][0-9]{0,4})([mhd])$/.exec(raw);
  const ms = m ? Number(m[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'] : NaN;
  if (!(ms <= 90 * 86_400_000)) throw usageError(`--expires takes a duration such as 30m, 12h or 7d (at most 90d), not "${raw}"`, 'for example: --expires 2d', 'bad_input');
  return ms;
}

export async function invite(ctx: Context, name: string, opts: { name: string; admin?: boolean; expires?: string; json?: boolean }) {
  const expiresInMs = invitationTtl(opts.expires);
  await withStore(ctx, name, async (store, t) => {
    const r = await t.invite(store, { name: opts.name, admin: opts.admin, expiresInMs });
    if (opts.json) return printJson(ctx.io, { team: name, member: opts.name, member_id: r.memberId, code: r.code, expires_at: r.expires });
    out(ctx.io, `${r.code}\n`);
    ctx.info(`Give this one-time code to ${opts.name} privately; it works until ${r.expires}. On their machine: acct team join ${t.memberUrl(store.url)} --code-stdin (then paste it)`);
  });
}

export async function join(ctx: Context, url: string, opts: { code?: string; codeStdin?: boolean; as?: string; json?: boolean }) {
  if (opts.code !== undefined && opts.codeStdin) throw usageError('pick one of --code and --code-stdin');
  if (opts.code === undefined && !opts.codeStdin) throw usageError('acct team join needs the invitation code', 'pipe it in: acct team join <url> --code-stdin < code.txt');
  const code = opts.codeStdin ? await readStdinValue(ctx.io.stdin, '--code-stdin') : opts.code!;
  const t = await team();
  const r = await t.join(deps(ctx), { url, code, as: opts.as });
  if (opts.json) return printJson(ctx.io, { team: r.team, member: r.name, member_id: r.memberId });
  ctx.info(`Joined team ${r.team} as ${r.name}. Its accounts are named ${r.team}:<app>/<nickname>; your key stays in this machine's store.`);
}

export async function addCi(ctx: Context, name: string, opts: { name: string; json?: boolean }) {
  await withStore(ctx, name, async (store, t) => {
    const r = await t.addCi(store, { name: opts.name });
    if (opts.json) return printJson(ctx.io, { team: name, member: opts.name, member_id: r.memberId, ACCT_TEAM: t.memberUrl(store.url), ACCT_TEAM_KEY: r.key });
    out(ctx.io, `${r.key}\n`);
    ctx.info(
      `That is ACCT_TEAM_KEY for the CI member ${opts.name}, shown once: store it as a CI secret, with ACCT_TEAM=${t.memberUrl(store.url)} (the database password is in the key). ` +
        `Share accounts with it: acct share ${name}:<ref> --with ${opts.name}`,
    );
  });
}

export async function members(ctx: Context, name: string, opts: { json?: boolean }) {
  await withStore(ctx, name, async (store, t) => {
    const { list, roster, untrusted } = await t.members(store);
    if (opts.json) return printJson(ctx.io, list);
    await printTable(
      ctx,
      [{ head: 'MEMBER', flexible: true }, { head: 'ID' }, { head: 'ROLE' }, { head: 'STATE' }, { head: 'JOINED', time: true, drop: 1 }, { head: 'REMOVED', time: true }],
      list.map((m) => [m.name, m.id, m.admin ? 'admin' : m.ci ? 'ci' : 'member', m.state, m.joined ?? 'invited', m.removed ?? '-']),
      await style(ctx.io, ctx.env),
    );
    if (roster) ctx.info(`Signed roster: version ${roster.version}, fingerprint ${roster.fingerprint}.`);
    if (untrusted) ctx.warn(`${untrusted.message}: ${untrusted.hint}`);
    const waiting = list.filter((m) => m.state === 'joined');
    const unsigned = !untrusted && waiting.some((m) => m.confirmer === undefined);
    for (const m of waiting)
      if (m.confirmer !== undefined)
        ctx.info(m.confirmer ? `${m.name} joined, waiting for ${m.confirmer} to confirm.` : `${m.name} joined, not confirmed: no admin in the team's signed roster can confirm them (invite them again).`);
    if (unsigned) ctx.info(`Team ${name} has no signed roster yet, so keys are wrapped for no other member: an admin makes one by running acct team members ${name} (after acct team upgrade, if its schema is older).`);
    else if (waiting.length)
      ctx.info(
        `Keys are wrapped only for confirmed members: the admin who invited a member confirms it (checking that its key is the one that joined with the invitation) by running acct team members ${name} on their machine.`,
      );
    ctx.info(offlineLine(name, await t.settings(store)));
  });
}

/** acct team trust <team> <fingerprint>: trusts the roster version an admin vouches for (a machine that joined before signed rosters). */
export async function trust(ctx: Context, name: string, fingerprint: string, opts: { json?: boolean }) {
  await withStore(ctx, name, async (store, t) => {
    const r = await t.trustRoster(store, fingerprint);
    if (opts.json) return printJson(ctx.io, { team: name, roster_version: r.version, fingerprint: r.fingerprint });
    ctx.info(`This machine trusts version ${r.version} of team ${name}'s signed roster (fingerprint ${r.fingerprint}), and checks every later version against it.`);
  });
}

const offlineLine = (name: string, s: TeamSettings) =>
  s.offlineTokens
    ? `Offline tokens: on. Members' machines keep the access tokens they read (sealed in their own store) and use them while the database is unreachable, until they expire (an admin turns it off: acct team set ${name} --offline-tokens off).`
    : `Offline tokens: off. While the database is unreachable, its accounts cannot be read (an admin can let machines keep access tokens for that: acct team set ${name} --offline-tokens on).`;

/** acct team set <team> [--offline-tokens on|off]: shows the team's settings, and an admin changes them. */
export async function set(ctx: Context, name: string, opts: { offlineTokens?: string; json?: boolean }) {
  const raw = opts.offlineTokens;
  if (raw !== undefined && raw !== 'on' && raw !== 'off') throw usageError(`--offline-tokens takes on or off, not "${raw}"`, `for example: acct team set ${name} --offline-tokens on`, 'bad_input');
  await withStore(ctx, name, async (store, t) => {
    const s = raw === undefined ? await t.settings(store) : await t.changeSettings(store, { offlineTokens: raw === 'on' });
    if (opts.json) return printJson(ctx.io, { team: name, offline_tokens: s.offlineTokens });
    ctx.info(offlineLine(name, s));
  });
}

export async function upgrade(ctx: Context, url: string, opts: { json?: boolean }) {
  const t = await team();
  const r = await t.upgradeSchema(deps(ctx), url);
  if (opts.json) return printJson(ctx.io, { from: r.from, to: r.to });
  ctx.info(r.from === r.to ? `The team schema is up to date (version ${r.to}).` : `Brought the team schema from version ${r.from} to ${r.to}.`);
}

export async function remove(ctx: Context, name: string, member: string, opts: { json?: boolean }) {
  await withStore(ctx, name, async (store, t) => {
    const r = await t.removeMember(store, member);
    if (opts.json) printJson(ctx.io, { team: name, member: r.member, rotate: r.toRotate });
    else {
      ctx.info(`Removed ${r.member} from team ${name}.`);
      if (!r.toRotate.length) ctx.info(`${r.member} could read no account.`);
      else {
        ctx.info(`${r.member} could read the credentials of these accounts: rotate them at their providers (acct reconnect ${name}:<ref>):`);
        out(ctx.io, r.toRotate.map((a) => `${a.label}${a.why ? `  (not re-keyed: ${a.why})` : ''}\n`).join(''));
      }
    }
    // The removal is done in the database; the roster that did not verify is the command's failure.
    if (r.rosterError) throw r.rosterError;
  });
}

function teamRef(ref: string, verb: string): { team: string; ref: string } {
  const r = splitTeam(ref);
  if (r.team === undefined) throw usageError(`${verb} takes a team account, as <team>:<ref>`, `for example: acct ${verb} acme:stripe/live --with ana`);
  return { team: r.team, ref: r.ref };
}

export async function share(ctx: Context, ref: string, opts: { with: string; json?: boolean }) {
  const t = await team();
  const { team: name, ref: inner } = teamRef(ref, 'share');
  await withStore(ctx, name, async (store) => {
    const r = await t.share(store, inner, opts.with);
    await t.syncSharesAfter(store);
    if (opts.json) return printJson(ctx.io, { team: name, account: r.account, readers: r.readers, not_confirmed: r.left });
    ctx.info(`${name}:${r.account} is readable by ${opts.with === 'team' ? 'the whole team' : r.readers.join(', ')}.`);
    if (r.left.length)
      ctx.warn(
        `not wrapped yet for ${r.left.join(', ')}: they joined but no admin has confirmed them. The admin who invited them confirms them with acct team members ${name}; the key is wrapped for them then (any reader's acct team members ${name} does it).`,
      );
  });
}

export async function unshare(ctx: Context, ref: string, opts: { with: string; json?: boolean }) {
  const t = await team();
  const { team: name, ref: inner } = teamRef(ref, 'unshare');
  await withStore(ctx, name, async (store) => {
    const r = await t.unshare(store, inner, opts.with);
    if (opts.json) return printJson(ctx.io, { team: name, account: r.account, readers: r.readers, removed: r.removed });
    ctx.info(`${name}:${r.account} is readable by ${r.readers.join(', ')} now, under a new key.`);
    if (r.removed.length) ctx.info(`${r.removed.join(', ')} could read its credentials until now: rotate them at the provider if that matters (acct reconnect ${ref}).`);
  });
}
