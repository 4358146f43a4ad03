// acct request like gh api: --paginate over Link headers and the catalog's
// cursor styles into one JSON array, --jq with jq itself, pretty JSON on a
// terminal and the body byte for byte on a pipe.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execa } from 'execa';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acct, baseEnv, BIN, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';
import { startApiServer, type ApiServer } from '../support/api-server.js';

type Env = Record<string, string | undefined>;
const KEY = 'lk_paginate_0123456789abcdef';
let api: ApiServer;
let other: ApiServer;
let env: Env;

const json = (res: import('node:http').ServerResponse, value: unknown, headers: Record<string, string> = {}): void => {
  res.writeHead(200, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
};

async function addApp(slug: string, extra: Record<string, unknown> = {}) {
  const file = keyAppFile(api.url, { test: undefined, ...extra });
  const added = await acct(['apps', 'add', slug, '--file', file], env);
  expect(added.exitCode, added.stderr).toBe(0);
  const c = await acct(['connect', slug, '--stdin', '--no-verify'], env, { input: KEY, stdin: undefined });
  expect(c.exitCode, c.stderr).toBe(0);
}

beforeAll(async () => {
  env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'paginate test passphrase' });
  other = await startApiServer((req, res) => json(res, [{ stolen: req.headers.authorization ?? null }]), { host: '127.0.0.2' });
  api = await startApiServer((req, res) => {
    const page = Number(req.query.get('page') ?? '1');
    if (req.path === '/repos') {
      // GitHub style: an array per page, rel="next" among other rels, an absolute URL.
      const next = page < 3 ? `<${api.url}/repos?page=${page + 1}&per_page=2>; rel="next", <${api.url}/repos?page=3>; rel="last"` : `<${api.url}/repos?page=1>; rel="first"`;
      return json(res, [{ name: `r${page}a` }, { name: `r${page}b` }], { link: next });
    }
    if (req.path === '/search') return json(res, { total_count: 3, items: [{ id: page }] }, page < 3 ? { link: `</search?page=${page + 1}>; rel="next"` } : {});
    if (req.path === '/channels') {
      const cursor = req.query.get('cursor') ?? '';
      const next = { '': 'c2', c2: 'c3', c3: '' }[cursor];
      return json(res, { ok: true, channels: [{ name: `ch-${cursor || 'c1'}` }], response_metadata: { next_cursor: next } });
    }
    if (req.path === '/charges') {
      const after = req.query.get('starting_after');
      const start = after ? Number(after.slice(3)) + 1 : 1;
      return json(res, { object: 'list', data: [{ id: `ch_${start}` }, { id: `ch_${start + 1}` }], has_more: start < 5 });
    }
    if (req.path === '/loop') return json(res, [1], { link: `</loop>; rel="next"` });
    if (req.path === '/away') return json(res, [1], { link: `<${other.url}/steal>; rel="next"` });
    if (req.path === '/broken') return json(res, [1], { link: `</broken-2>; rel="next"` });
    if (req.path === '/broken-2') {
      res.writeHead(500, { 'content-type': 'application/json' });
      return void res.end('{"message":"boom"}');
    }
    if (req.path === '/user') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
      return void res.end('{"login":"octocat","id":1,"plan":{"name":"pro"}}');
    }
    res.writeHead(404);
    res.end();
  });
  await addApp('gh');
  await addApp('sl', { api: { baseUrl: api.url, auth: { type: 'header', name: 'Authorization', value: 'Bearer {api_key}' }, pagination: { type: 'cursor', cursor: 'response_metadata.next_cursor', param: 'cursor', items: 'channels' } } });
  await addApp('st', { api: { baseUrl: api.url, auth: { type: 'header', name: 'Authorization', value: 'Bearer {api_key}' }, pagination: { type: 'last-id', items: 'data', param: 'starting_after', more: 'has_more' } } });
});
afterAll(async () => {
  await api?.close();
  await other?.close();
});

describe('acct request --paginate', () => {
  it('follows Link rel="next" over three pages into one JSON array, each page with the credentials', async () => {
    const before = api.seen.length;
    const r = await acct(['request', 'gh', '/repos', '--paginate'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).map((x: { name: string }) => x.name)).toEqual(['r1a', 'r1b', 'r2a', 'r2b', 'r3a', 'r3b']);
    const pages = api.seen.slice(before);
    expect(pages.map((p) => p.url)).toEqual(['/repos', '/repos?page=2&per_page=2', '/repos?page=3&per_page=2']);
    for (const p of pages) expect(p.headers.authorization).toBe(`Bearer ${KEY}`);
  });

  it('pages that are objects become elements of the array (GitHub search), relative next links resolve', async () => {
    const r = await acct(['request', 'gh', '/search', '--paginate'], env);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).map((p: { items: { id: number }[] }) => p.items[0]!.id)).toEqual([1, 2, 3]);
  });

  it("follows the app's cursor style from its catalog entry (a cursor member, or the last item's id)", async () => {
    const slack = await acct(['request', 'sl', '/channels', '--paginate'], env);
    expect(slack.exitCode, slack.stderr).toBe(0);
    expect(JSON.parse(slack.stdout)).toEqual([{ name: 'ch-c1' }, { name: 'ch-c2' }, { name: 'ch-c3' }]);
    const stripe = await acct(['request', 'st', '/charges', '--paginate', '-G', '-d', 'limit=2'], env);
    expect(stripe.exitCode, stripe.stderr).toBe(0);
    expect(JSON.parse(stripe.stdout).map((c: { id: string }) => c.id)).toEqual(['ch_1', 'ch_2', 'ch_3', 'ch_4', 'ch_5', 'ch_6']);
    expect(api.seen.at(-1)!.url).toBe('/charges?limit=2&starting_after=ch_4');
  });

  it('a next link to another host is refused, credentials never sent there; a loop and a failing page stop it', async () => {
    const away = await acct(['request', 'gh', '/away', '--paginate'], env);
    expect(away.exitCode).toBe(2);
    expect(away.stderr).toMatch(/refusing to send gh credentials to 127\.0\.0\.2/);
    expect(other.seen).toHaveLength(0);
    const loop = await acct(['request', 'gh', '/loop', '--paginate'], env);
    expect(loop.exitCode).toBe(1);
    expect(loop.stderr).toMatch(/a page it already gave/);
    const broken = await acct(['request', 'gh', '/broken', '--paginate'], env);
    expect(broken.exitCode).toBe(1);
    expect(broken.stderr).toMatch(/answered 500/);
    expect(broken.stdout).toBe('{"message":"boom"}');
    const post = await acct(['request', 'gh', '/repos', '--paginate', '-X', 'POST'], env);
    expect(post.exitCode).toBe(2);
  });
});

describe('acct request --jq', () => {
  it('applies jq to a real response: strings raw, values as JSON', async () => {
    expect(await acct(['request', 'gh', '/user', '--jq', '.login'], env)).toMatchObject({ exitCode: 0, stdout: 'octocat\n' });
    expect(await acct(['request', 'gh', '/user', '--jq', '.plan'], env)).toMatchObject({ exitCode: 0, stdout: '{"name":"pro"}\n' });
    const names = await acct(['request', 'gh', '/repos', '--paginate', '--jq', '.[].name'], env);
    expect(names.stdout).toBe('r1a\nr1b\nr2a\nr2b\nr3a\nr3b\n');
    const bad = await acct(['request', 'gh', '/user', '--jq', '.['], env);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/--jq: jq: error: syntax error/);
    expect(bad.stderr).not.toContain(KEY);
  });

  it('refuses a filter that does not compile before sending anything; one that fails only on the answer is run on it', async () => {
    const before = api.seen.length;
    for (const filter of ['.[', 'foo(', 'nosuchfunction', '.a | # comment\n .b | ']) {
      const r = await acct(['request', 'gh', '/repos', '-X', 'POST', '-d', 'name=x', '--jq', filter], env);
      expect(r.exitCode, `${filter}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/--jq: jq: error/);
      // The error is jq's for the filter as given (line 1 or 2), not for acct's wrapping of it.
      expect(r.stderr).not.toMatch(/line 3|unexpected '\)'/);
    }
    expect(api.seen.length).toBe(before);
    // Valid filters that would fail on null input, and a trailing comment, are not refused up front.
    expect(await acct(['request', 'gh', '/user', '--jq', '.plan | .name # the plan'], env)).toMatchObject({ exitCode: 0, stdout: 'pro\n' });
    const runtime = await acct(['request', 'gh', '/user', '--jq', '.login | .[]'], env);
    expect(runtime.exitCode).toBe(2);
    expect(runtime.stderr).toMatch(/Cannot iterate over string/);
    expect(api.seen.length).toBe(before + 2);
  });
});

describe('acct request output', () => {
  it('piped, the body is byte for byte; on a terminal, JSON is indented', async () => {
    const piped = await acct(['request', 'gh', '/user'], env);
    expect(piped.stdout).toBe('{"login":"octocat","id":1,"plan":{"name":"pro"}}');
    // A real terminal for stdout: script(1) gives the command a pty.
    const dir = mkdtempSync(join(tmpdir(), 'acct-pty-'));
    const cmd = join(dir, 'run.sh');
    writeFileSync(cmd, `#!/bin/sh\nexec node ${BIN} request gh /user\n`, { mode: 0o755 });
    // Not execFileSync: the API server lives in this process and must keep answering.
    const shown = String((await execa('script', ['-qfec', cmd, '/dev/null'], { env, extendEnv: false, stdin: 'ignore', timeout: 30_000 })).stdout);
    expect(shown.replace(/\r\n/g, '\n')).toBe('{\n  "login": "octocat",\n  "id": 1,\n  "plan": {\n    "name": "pro"\n  }\n}');
  });
});
