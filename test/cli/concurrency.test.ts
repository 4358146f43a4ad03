// Many acct processes at once on one file store: nothing lost, no half-written
// files, and readers always find every account while others write.
import { describe, it, expect, beforeAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { acct, allFiles, baseEnv, tempHome, type RunResult } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { storedMetadata } from '../support/accounts.js';

const N = 20;
// Twenty node processes on two shared cores: allow more than the default minute when the machine is busy.
const SLOW = 150_000;

interface Listed {
  id: string;
  app: string;
  nickname: string;
}

describe('concurrent processes (file store)', () => {
  let home: string;
  let env: Record<string, string | undefined>;
  const keys = Array.from({ length: N }, () => `lk_${randomBytes(12).toString('hex')}`);
  /** index → account id */
  const ids: string[] = [];

  const list = async (): Promise<Listed[]> => {
    const r = await acct(['list', '--json'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  };

  /**
   * Runs `writers` at once while two readers list the accounts in a loop.
   * Returns the writers' results and every listing the readers saw, per reader, in order.
   */
  async function withReaders(writers: (() => Promise<RunResult>)[]): Promise<{ results: RunResult[]; seen: Listed[][][] }> {
    let done = false;
    const reader = async () => {
      const views: Listed[][] = [];
      while (!done) {
        const r = await acct(['list', '--json'], env);
        // A reader never meets a half-written or missing metadata file.
        expect(r.exitCode, r.stderr).toBe(0);
        views.push(JSON.parse(r.stdout));
      }
      return views;
    };
    const readers = [reader(), reader()];
    const results = await Promise.all(writers.map((w) => w())).finally(() => (done = true));
    return { results, seen: await Promise.all(readers) };
  }

  const expectOk = (results: RunResult[]) => {
    for (const r of results) expect(r.exitCode, r.stderr).toBe(0);
  };

  const expectConsistentFiles = (expectedIds: string[]) => {
    const files = allFiles(home);
    expect(files.filter((f) => /\.tmp$/.test(f.path)).map((f) => f.path)).toEqual([]);
    for (const f of files) if (f.path.endsWith('.json')) expect(() => JSON.parse(f.content.toString('utf8')), f.path).not.toThrow();
    // One sealed secret file per account: none lost, none orphaned.
    expect(readdirSync(join(home, 'secrets')).sort()).toEqual(expectedIds.map((id) => `${id}.json`).sort());
    // No lock left behind.
    expect(readdirSync(join(home, 'locks')).filter((name) => name.endsWith('.lock'))).toEqual([]);
    for (const f of files) for (const k of keys) expect(f.content.includes(k)).toBe(false);
  };

  /** Each reference still yields its own key: all through one `acct env` (one passphrase derivation), one through `acct token`. */
  const expectTokens = async (indexes: number[], ref: (i: number) => string) => {
    const r = await acct(['env', '--format', 'json', ...indexes.map((i) => `K${i}=${ref(i)}`)], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(Object.fromEntries(indexes.map((i) => [`K${i}`, keys[i]])));
    const last = indexes.at(-1)!;
    expect(await acct(['token', ref(last)], env)).toMatchObject({ exitCode: 0, stdout: `${keys[last]}\n` });
  };

  beforeAll(async () => {
    home = tempHome();
    env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'concurrency passphrase' });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
  });

  it(`${N} processes connect at once, creating the store between them`, async () => {
    const { results, seen } = await withReaders(
      keys.map((key, i) => () => acct(['connect', 'local', '--stdin', '--nickname', `n${i}`, '--no-verify'], env, { input: key, stdin: undefined })),
    );
    expectOk(results);
    ids.push(...results.map((r) => r.stdout.trim()));
    expect(new Set(ids).size).toBe(N);
    for (const id of ids) expect(id).toMatch(/^acc_[a-z2-7]{10}$/);

    // One store, one data key: every secret opens, and each is its own.
    const store = JSON.parse(readFileSync(join(home, 'store.json'), 'utf8'));
    expect(store.kind).toBe('file');
    const listed = await list();
    expect(listed.map((a) => [a.id, a.nickname]).sort()).toEqual(ids.map((id, i) => [id, `n${i}`]).sort());
    await expectTokens([...keys.keys()], (i) => `local/n${i}`);
    expectConsistentFiles(ids);

    // While they ran, accounts only ever appeared: a reader never lost one it had seen.
    for (const views of seen)
      for (let v = 1; v < views.length; v++) {
        const now = new Set(views[v]!.map((a) => a.id));
        for (const a of views[v - 1]!) expect(now.has(a.id)).toBe(true);
      }
  }, SLOW);

  it(`${N} processes rename at once`, async () => {
    const { results, seen } = await withReaders(ids.map((id, i) => () => acct(['rename', `local/n${i}`, `r${i}`], env)));
    expectOk(results);
    const listed = await list();
    expect(listed.map((a) => [a.id, a.nickname]).sort()).toEqual(ids.map((id, i) => [id, `r${i}`]).sort());
    // Every reader saw all the accounts all the time, each under its old or its new name.
    for (const views of seen)
      for (const view of views) {
        expect(view.map((a) => a.id).sort()).toEqual([...ids].sort());
        for (const a of view) {
          const i = ids.indexOf(a.id);
          expect([`n${i}`, `r${i}`]).toContain(a.nickname);
        }
      }
    await expectTokens([...keys.keys()], (i) => `r${i}`);
    expectConsistentFiles(ids);
  }, SLOW);

  it(`${N} processes delete and rename at once`, async () => {
    const deleted = ids.filter((_, i) => i % 2 === 0);
    const kept = ids.filter((_, i) => i % 2 === 1);
    const { results, seen } = await withReaders(
      ids.map((id, i) => () => (i % 2 === 0 ? acct(['delete', id, '--yes'], env) : acct(['rename', id, `s${i}`], env))),
    );
    expectOk(results);
    const listed = await list();
    expect(listed.map((a) => [a.id, a.nickname]).sort()).toEqual(kept.map((id) => [id, `s${ids.indexOf(id)}`]).sort());
    // The kept accounts never went missing from a reader's view.
    for (const views of seen) for (const view of views) expect(view.map((a) => a.id)).toEqual(expect.arrayContaining(kept));

    const meta = storedMetadata(home);
    expect([...meta.retiredIds].sort()).toEqual([...deleted].sort());
    await expectTokens(
      ids.flatMap((_, i) => (i % 2 === 1 ? [i] : [])),
      (i) => `local/s${i}`,
    );
    const gone = await Promise.all(deleted.map((id) => acct(['token', id], env)));
    expect(gone.map((r) => r.exitCode)).toEqual(deleted.map(() => 3));
    expectConsistentFiles(kept);
  }, SLOW);
});
