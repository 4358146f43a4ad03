// One "acct token" on a team account, as a separate process, for the refresh
// lock tests (test/team/refresh-lock.test.ts): the shape of the refresh path
// in accounts/refresh.ts on the team store's RefreshLock: the fast path when
// the token is valid, otherwise the lock, a re-read under it, a token request
// only when still needed, the rotated tokens stored before unlocking; while
// waiting, a look at what the holder stored.
//
// env: ACCT_TEAM, ACCT_TEAM_KEY (a member), ACCOUNT (id), TOKEN_URL (the
// test's token endpoint), STALL_MS (stall that long on taking the lock,
// before the re-read: to be killed there), SIGNAL_HELD (print "held" then),
// SIGNAL_REQUESTED and STALL_AFTER_MS (the same after the token request,
// before storing its answer), SIGNAL_WAITING (print "waiting" on the first
// look while the lock is busy), WAIT_MS.
// Prints the access token it ends with on stdout.
import { openTeamStore } from '../../src/team/index.js';
import { LockLostError } from '../../src/store/lock.js';

const env = process.env;
const store = openTeamStore({ paths: { config: '/nonexistent', data: '/nonexistent' }, env, secrets: { read: () => Promise.reject(new Error('CI member: no local store')), write: () => Promise.reject(new Error('CI member: no local store')), remove: () => undefined }, warn: (m) => process.stderr.write(`${m}\n`) }, 'acme');
const id = env.ACCOUNT!;
let saidWaiting = false;
const fresh = (expiresAt: string | null) => expiresAt === null || new Date(expiresAt).getTime() - Date.now() > 60_000;

async function main() {
  const account = await store.get(id);
  if (!account) throw new Error('no such account');
  if (fresh(account.expiresAt)) return (await store.readSecrets([id])).get(id)!.oauth_access_token;
  const lock = store.refreshLock(id);
  // A lock lost before the token request is taken again (LockLostError), as the refresh path does; the signals and the stall come once.
  let first = true;
  for (;;) {
    try {
      return await holdOnce();
    } catch (err) {
      if (!(err instanceof LockLostError)) throw err;
    }
  }

  async function holdOnce() {
    const fields = await lock.hold(
      async () => {
        const once = first;
        first = false;
        if (once && env.SIGNAL_HELD) process.stdout.write('held\n');
        if (once && env.STALL_MS) await new Promise((r) => setTimeout(r, Number(env.STALL_MS)));
        const current = (await store.get(id))!;
        const secrets = (await store.readSecrets([id])).get(id)!;
        if (fresh(current.expiresAt)) return secrets;
        // As accounts/refresh.ts does: a lock whose session ended is taken again before a refresh token is spent.
        if (lock.lost?.()) throw new LockLostError(id);
        const res = await fetch(env.TOKEN_URL!, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: secrets.oauth_refresh_token! }) });
        if (!res.ok) throw new Error(`token endpoint: ${res.status} ${await res.text()}`);
        const t = (await res.json()) as { access_token: string; refresh_token: string; expires_in: number };
        const next = { ...secrets, oauth_access_token: t.access_token, oauth_refresh_token: t.refresh_token };
        if (env.SIGNAL_REQUESTED) process.stdout.write('requested\n');
        if (env.STALL_AFTER_MS) await new Promise((r) => setTimeout(r, Number(env.STALL_AFTER_MS)));
        await store.update(id, (a) => void (a.expiresAt = new Date(Date.now() + t.expires_in * 1000).toISOString()), next);
        return next;
      },
      {
        waitMs: Number(env.WAIT_MS ?? 30_000),
        meanwhile: async () => {
          if (env.SIGNAL_WAITING && !saidWaiting) process.stdout.write('waiting\n');
          saidWaiting = true;
          const current = await store.get(id);
          return current && fresh(current.expiresAt) ? (await store.readSecrets([id])).get(id) : undefined;
        },
      },
    );
    return fields.oauth_access_token;
  }
}

// As acct's runProcess does: a run left waiting on nothing fails and says so,
// rather than passing for done.
let finished = false;
process.once('beforeExit', () => {
  if (finished) return;
  process.stderr.write('the worker stopped with its work unfinished: nothing was left for it to wait on\n');
  process.exitCode = 1;
});

main().then(
  async (token) => {
    finished = true;
    process.stdout.write(`${token}\n`);
    await store.close();
  },
  async (err: unknown) => {
    finished = true;
    process.stderr.write(`${(err as Error).message}\n`);
    process.exitCode = 1;
    await store.close();
  },
);
