// The per-category fixtures of the built-in API-key apps (test/fixtures/apps/),
// run through the code a user's `connect` runs: example values that must pass
// and fail the app's shape checks (checkShape), and an example answer to the
// app's test request from which runTestRequest must read the identity.
import { describe, it, expect } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkShape } from '../../src/accounts/keys.js';
import { runTestRequest } from '../../src/api/test-request.js';
import { parseApp } from '../../src/catalog/validate.js';
import { WHOLE_URL_TEMPLATE, type KeysApp } from '../../src/catalog/schema.js';
import { AcctError } from '../../src/errors.js';
import type { Fetch } from '../../src/http.js';

interface Fixture {
  valid?: Record<string, string>;
  invalid?: Record<string, string>[];
  testAnswer?: unknown;
  identity?: string;
}

const appsDir = resolve(import.meta.dirname, '../../src/catalog/apps');
const fixturesDir = resolve(import.meta.dirname, '../fixtures/apps');
const files = readdirSync(fixturesDir).filter((f) => f.endsWith('.json')).sort();

const cases = files.flatMap((file) => {
  const apps = JSON.parse(readFileSync(resolve(appsDir, file), 'utf8')) as { slug: string }[];
  const fixtures = JSON.parse(readFileSync(resolve(fixturesDir, file), 'utf8')) as Record<string, Fixture>;
  return Object.entries(fixtures).map(([slug, fixture]) => {
    const raw = apps.find((a) => a.slug === slug);
    return { name: `${file} ${slug}`, slug, raw, fixture };
  });
});

const keysApp = (raw: unknown, slug: string): KeysApp => {
  const app = parseApp(raw, `the ${slug} entry`);
  if (app.auth !== 'keys') throw new Error(`${slug} is not an API-key app`);
  return app;
};

const hasShapeCheck = (app: KeysApp) => app.fields.some((f) => f.prefix || f.pattern || f.minLength || f.maxLength);

/** Whether checkShape refuses the value, as connect would (a usage error). */
function refused(app: KeysApp, name: string, value: string): boolean {
  const field = app.fields.find((f) => f.name === name);
  if (!field) throw new Error(`${app.slug} has no field ${name}`);
  try {
    checkShape(app, field, value);
    return false;
  } catch (err) {
    if (err instanceof AcctError && err.code === 'usage') return true;
    throw err;
  }
}

/** Field values the test request can be built from: the fixture's valid ones, the app's defaults, else placeholders. */
function sampleFields(app: KeysApp, fixture: Fixture): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of app.fields) {
    const whole = WHOLE_URL_TEMPLATE.test(app.api.baseUrl) && app.api.baseUrl === `{${f.name}}`;
    out[f.name] = fixture.valid?.[f.name] ?? f.default ?? (whole ? 'https://example.test' : `sample-${f.name.replace(/_/g, '-')}`);
  }
  return out;
}

describe('API-key app fixtures', () => {
  it('cover the per-category key files', () => {
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) expect(readdirSync(appsDir)).toContain(file);
  });

  it.each(cases)('$name', async ({ slug, raw, fixture }) => {
    expect(raw, `an entry for ${slug} next to its fixture`).toBeDefined();
    const app = keysApp(raw, slug);

    const valid = Object.entries(fixture.valid ?? {});
    const invalid = fixture.invalid ?? [];
    if (valid.length || invalid.length) expect(hasShapeCheck(app), 'shape examples for an app without shape checks').toBe(true);
    for (const [name, value] of valid) expect(refused(app, name, value), `valid ${name} ${JSON.stringify(value)}`).toBe(false);
    for (const example of invalid)
      expect(
        Object.entries(example).some(([name, value]) => refused(app, name, value)),
        `invalid ${JSON.stringify(example)}`,
      ).toBe(true);

    if (fixture.testAnswer !== undefined) {
      expect(app.test, 'a test request for the example answer').toBeDefined();
      const urls: string[] = [];
      const fetch: Fetch = async (url) => {
        urls.push(String(url));
        return new Response(JSON.stringify(fixture.testAnswer), { status: 200, headers: { 'content-type': 'application/json' } });
      };
      const outcome = await runTestRequest(app, sampleFields(app, fixture), fetch);
      expect(urls).toHaveLength(1);
      expect(outcome).toEqual({ kind: 'ok', identity: fixture.identity ?? null, status: 200 });
    } else {
      expect(fixture.identity, 'an identity without an example answer').toBeUndefined();
    }
  });
});
