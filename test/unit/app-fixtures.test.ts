// Per-app fixtures, as 1Password's shell plugins test each plugin: example
// values that must pass and fail an app's key shape checks, and an example
// answer to its test request from which the identity must be read, run
// through the real shape check (src/accounts/keys.ts) and the real test
// request and identity extraction (src/api/test-request.ts), over the
// app as an account sees it (src/catalog/resolve-app.ts).
//
// Fixture format. test/fixtures/apps/<family>.json holds an array of:
//   {
//     "app": "zendesk",                  the built-in app's slug
//     "keys": {                          key apps: per field with a prefix, pattern or length check
//       "api_key": { "pass": ["…"], "fail": ["…"] }
//     },
//     "settings": { "subdomain": "acme" },  connection settings, when the app has any
//     "fields": { "instance_url": "https://…" },  other account fields the URL templates name
//     "answer": { … },                   a test-request answer, shaped as the provider documents it
//     "identity": "ada@example.com",     what acct must read from it (null: the answer names nobody)
//     "request": "https://…/users/me"    optional: the URL (without query) the test request must go to
//   }
// Every built-in key app with a shape check needs "keys" for each checked
// field, and every built-in OAuth app an "answer" and a non-null "identity":
// add a fixture when you add an app. Example values are fakes: never paste a
// real key here.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { appDefinition, type AppDefinition } from '../../src/catalog/schema.js';
import { checkShape } from '../../src/accounts/keys.js';
import { runTestRequest } from '../../src/api/test-request.js';
import { resolveApp } from '../../src/catalog/resolve-app.js';
import type { Fetch } from '../../src/http.js';

interface Fixture {
  app: string;
  keys?: Record<string, { pass: string[]; fail: string[] }>;
  settings?: Record<string, string>;
  fields?: Record<string, string>;
  answer?: unknown;
  identity?: string | null;
  request?: string;
  file: string;
}

const catalogDir = resolve(import.meta.dirname, '../../src/catalog/apps');
const apps = new Map<string, AppDefinition>(
  readdirSync(catalogDir)
    .filter((f) => f.endsWith('.json'))
    .flatMap((f) => JSON.parse(readFileSync(resolve(catalogDir, f), 'utf8')) as unknown[])
    .map((raw) => appDefinition.parse(raw))
    .map((a) => [a.slug, a]),
);
const fixtureDir = resolve(import.meta.dirname, '../fixtures/apps');
const fixtures: Fixture[] = readdirSync(fixtureDir)
  .filter((f) => f.endsWith('.json'))
  .flatMap((file) => (JSON.parse(readFileSync(resolve(fixtureDir, file), 'utf8')) as Omit<Fixture, 'file'>[]).map((f) => ({ ...f, file })));
const app = (f: Fixture) => {
  const a = apps.get(f.app);
  if (!a) throw new Error(`${f.file}: no built-in app "${f.app}"`);
  return a;
};
const checked = (a: AppDefinition) => (a.auth === 'keys' ? a.fields.filter((x) => x.prefix || x.pattern || x.minLength || x.maxLength) : []);

describe('app fixtures', () => {
  it('every fixture names a built-in app', () => {
    expect(fixtures.length).toBeGreaterThan(0);
    for (const f of fixtures) app(f);
  });

  it('every key app with a shape check has values that pass and fail it', () => {
    const missing: string[] = [];
    for (const a of apps.values())
      for (const field of checked(a))
        if (!fixtures.some((f) => f.app === a.slug && f.keys?.[field.name]?.pass.length && f.keys[field.name]!.fail.length)) missing.push(`${a.slug}.${field.name}`);
    expect(missing, 'add them to test/fixtures/apps/').toEqual([]);
  });

  it('every OAuth app has a test-request answer that names the account', () => {
    const missing = [...apps.values()].filter((a) => a.auth === 'oauth2' && !fixtures.some((f) => f.app === a.slug && f.answer !== undefined && typeof f.identity === 'string')).map((a) => a.slug);
    expect(missing, 'add them to test/fixtures/apps/').toEqual([]);
  });

  const withKeys = fixtures.filter((f) => f.keys).map((f) => [`${f.app} (${f.file})`, f] as const);
  it.each(withKeys)('%s: the shape check takes the good values and refuses the bad ones', (_name, f) => {
    const a = app(f);
    if (a.auth !== 'keys') throw new Error(`${f.app} is not a key app`);
    for (const [name, values] of Object.entries(f.keys!)) {
      const field = a.fields.find((x) => x.name === name);
      expect(field, `${f.app} has a field ${name}`).toBeDefined();
      for (const v of values.pass) expect(() => checkShape(a, field!, v), `${name}: ${v}`).not.toThrow();
      for (const v of values.fail) expect(() => checkShape(a, field!, v), `${name}: ${v}`).toThrow();
    }
  });

  const withAnswers = fixtures.filter((f) => f.answer !== undefined).map((f) => [`${f.app} (${f.file})`, f] as const);
  it.each(withAnswers)('%s: the identity is read from the example answer', async (_name, f) => {
    const a = resolveApp(app(f), f.settings);
    const fields: Record<string, string> = { oauth_access_token: 'FAKE-access-token', oauth_client_id: 'FAKE-client' };
    if (a.auth === 'keys') for (const field of a.fields) fields[field.name] = f.keys?.[field.name]?.pass[0] ?? field.default ?? 'FAKE-value';
    Object.assign(fields, f.fields);
    const seen: URL[] = [];
    const fetch: Fetch = async (url) => {
      seen.push(new URL(String(url)));
      return new Response(JSON.stringify(f.answer), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const outcome = await runTestRequest(a, fields, fetch);
    expect(outcome).toMatchObject({ kind: 'ok', identity: f.identity ?? null });
    expect(seen).toHaveLength(1);
    if (f.request) expect(seen[0]!.origin + seen[0]!.pathname).toBe(f.request);
  });
});
