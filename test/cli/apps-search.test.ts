// acct apps [query] / --category: finding an app by slug, name, alias or
// category, best matches first, through the built binary.
import { describe, it, expect } from 'vitest';
import { acct, baseEnv, tempHome } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';

const env = () => baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'pw' });
const slugs = async (args: string[], e = env()) => {
  const r = await acct(['apps', ...args, '--json'], e);
  expect(r.exitCode, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { slug: string }[]).map((a) => a.slug);
};

describe('acct apps search', () => {
  it('finds an app by an alias: twitter is x, claude is anthropic', async () => {
    expect((await slugs(['twitter']))[0]).toBe('x');
    expect((await slugs(['Claude']))[0]).toBe('anthropic');
    expect(await slugs(['gmail'])).toContain('google');
  });

  it('ranks an exact slug, name or alias first, then prefixes, then substrings, then descriptions', async () => {
    // "linear" is a slug; "linear-key" starts with it.
    const linear = await slugs(['linear']);
    expect(linear.slice(0, 2)).toEqual(['linear', 'linear-key']);
    // "notion": the OAuth app by slug, the token app by alias: both exact, before anything that merely mentions Notion.
    const notion = await slugs(['notion']);
    expect(new Set(notion.slice(0, 2))).toEqual(new Set(['notion', 'notion-token']));
    // "git" starts github, gitlab; "digit" is inside digitalocean's slug; descriptions come last.
    const git = await slugs(['git']);
    expect(git.indexOf('github')).toBeLessThan(git.indexOf('digitalocean'));
    const mail = await slugs(['mail']);
    // mailgun (prefix of the slug) before postmark (mail only in its description).
    expect(mail.indexOf('mailgun')).toBeGreaterThanOrEqual(0);
    expect(mail.indexOf('mailgun')).toBeLessThan(mail.indexOf('postmark'));
  });

  it('a category name finds the apps of that category', async () => {
    const found = await slugs(['design']);
    expect(found).toEqual(expect.arrayContaining(['figma', 'miro']));
  });

  it('--category ai keeps only AI apps, and combines with a query', async () => {
    const ai = await slugs(['--category', 'ai']);
    expect(ai).toEqual(expect.arrayContaining(['openai', 'anthropic', 'mistral']));
    expect(ai).not.toContain('github');
    const r = await acct(['apps', '--category', 'ai', '--json'], env());
    for (const app of JSON.parse(r.stdout)) expect(app.category).toBe('ai');
    expect(await slugs(['open', '--category', 'ai'])).toEqual(expect.arrayContaining(['openai', 'openrouter']));
    expect(await slugs(['git', '--category', 'ai'])).toEqual([]);
  });

  it('an unknown category is exit 2, naming the valid ones', async () => {
    const r = await acct(['apps', '--category', 'toys'], env());
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/no category "toys"/);
    expect(r.stderr).toMatch(/ai, .*dev|dev, .*ai/);
    expect(r.stdout).toBe('');
  });

  it('--json with no match is an empty array; without --json it is exit 3', async () => {
    expect(await slugs(['zzzz-nothing'])).toEqual([]);
    const r = await acct(['apps', 'zzzz-nothing'], env());
    expect(r.exitCode).toBe(3);
  });

  it("a user-added app's aliases are searched too; its category stays optional", async () => {
    const e = env();
    const added = await acct(['apps', 'add', 'corp-api', '--file', keyAppFile('https://api.corp.example', { aliases: ['intranet'] })], e);
    expect(added.exitCode, added.stderr).toBe(0);
    expect(await slugs(['intranet'], e)).toEqual(['corp-api']);
    const r = await acct(['apps', 'corp', '--json'], e);
    expect(JSON.parse(r.stdout)[0]).toMatchObject({ slug: 'corp-api', category: null, source: 'user' });
  });
});
