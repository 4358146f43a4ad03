// Collecting and checking the fields of an API-key app, and naming accounts:
// pure logic with a plain-object prompter.
import { describe, it, expect } from 'vitest';
import { collectKeyFields, checkShape, primaryField, type KeySources } from '../../src/accounts/keys.js';
import { deriveNickname, validateNickname } from '../../src/accounts/service.js';
import { parseApp } from '../../src/catalog/validate.js';
import { AcctError, ExitCode } from '../../src/errors.js';
import { emptyMetadata, NICKNAME_RE, type Account, type Metadata } from '../../src/accounts/model.js';
import type { KeysApp } from '../../src/catalog/schema.js';
import type { Prompter } from '../../src/ui/prompt.js';

const keysApp = (def: Record<string, unknown>): KeysApp =>
  parseApp(
    {
      slug: 'svc',
      name: 'Service',
      auth: 'keys',
      api: { baseUrl: 'https://api.example.com', auth: { type: 'header', name: 'Authorization', value: 'Bearer {api_key}' } },
      fields: [{ name: 'api_key', label: 'API key', prefix: 'sk_', minLength: 10, createUrl: 'https://example.com/keys' }],
      env: {},
      ...def,
    },
    'the test',
  ) as KeysApp;

const single = keysApp({});
const duo = keysApp({
  api: { baseUrl: 'https://api.example.com', auth: { type: 'basic', username: '{account_sid}', password: '{auth_token}' } },
  fields: [
    { name: 'account_sid', label: 'Account SID', secret: false, prefix: 'AC' },
    { name: 'auth_token', label: 'Auth token', pattern: '[0-9a-f]{32}' },
    { name: 'region', label: 'Region', secret: false, default: 'us1' },
    { name: 'note', label: 'Note', secret: false, optional: true },
  ],
  primary: 'auth_token',
});
const regional = keysApp({
  api: { baseUrl: 'https://{region}.api.example.com', auth: { type: 'header', name: 'Authorization', value: 'Bearer {api_key}' } },
  fields: [
    { name: 'region', label: 'Region', secret: false, default: 'eu' },
    { name: 'api_key', label: 'API key', maxLength: 12 },
  ],
});

/** A prompter that answers from a script and records what it was asked. */
function scripted(interactive: boolean, answers: string[] = []) {
  const asked: { kind: 'secret' | 'input'; message: string; instead: string; defaultValue?: string }[] = [];
  const answer = (kind: 'secret' | 'input', message: string, instead: string, defaultValue?: string) => {
    asked.push({ kind, message, instead, defaultValue });
    if (!interactive) return Promise.reject(new AcctError('usage', 'cannot prompt without a terminal', { hint: `use ${instead}` }));
    if (!answers.length) throw new Error(`unexpected prompt: ${message}`);
    return Promise.resolve(answers.shift()!);
  };
  const prompter: Prompter = {
    interactive,
    secret: (message, instead) => answer('secret', message, instead),
    input: (message, instead, defaultValue) => answer('input', message, instead, defaultValue),
    confirm: () => Promise.reject(new Error('unexpected confirm')),
  };
  return { prompter, asked };
}

const sources = (over: Partial<KeySources>): KeySources => ({ fromEnv: [], env: {}, prompter: scripted(false).prompter, checkShapes: true, ...over });

async function rejected(p: Promise<unknown>): Promise<AcctError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AcctError);
  return err as AcctError;
}

const SK = 'sk_0123456789abcdef';
const TOKEN = '0123456789abcdef0123456789abcdef';

describe('collectKeyFields', () => {
  it('a bare value on stdin fills the primary field; one trailing newline is dropped', async () => {
    expect(await collectKeyFields(single, sources({ stdin: SK }))).toEqual({ api_key: SK });
    expect(await collectKeyFields(single, sources({ stdin: `${SK}\n` }))).toEqual({ api_key: SK });
    expect(await collectKeyFields(single, sources({ stdin: `${SK}\r\n` }))).toEqual({ api_key: SK });
  });

  it('a bare value fills the primary when the other fields have defaults', async () => {
    expect(await collectKeyFields(regional, sources({ stdin: 'k123' }))).toEqual({ api_key: 'k123', region: 'eu' });
  });

  it('a bare value cannot fill two required fields', async () => {
    const err = await rejected(collectKeyFields(duo, sources({ stdin: TOKEN })));
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.message).toMatch(/svc needs account_sid and auth_token/);
    expect(err.hint).toMatch(/"account_sid":"…"/);
    expect(err.message + err.hint).not.toContain(TOKEN);
  });

  it('a JSON object on stdin fills named fields; defaults fill the rest, optional ones stay out', async () => {
    const fields = await collectKeyFields(duo, sources({ stdin: JSON.stringify({ account_sid: 'AC1', auth_token: TOKEN }) }));
    expect(fields).toEqual({ account_sid: 'AC1', auth_token: TOKEN, region: 'us1' });
    const withRegion = await collectKeyFields(duo, sources({ stdin: ` ${JSON.stringify({ account_sid: 'AC1', auth_token: TOKEN, region: 'eu2', note: 'ci' })}\n` }));
    expect(withRegion).toEqual({ account_sid: 'AC1', auth_token: TOKEN, region: 'eu2', note: 'ci' });
  });

  it('refuses JSON that is malformed, not an object of strings, or names unknown fields', async () => {
    const bad = await rejected(collectKeyFields(single, sources({ stdin: `{"api_key": ${SK}}` })));
    expect(bad.message).toMatch(/^stdin is not valid JSON/);
    expect(bad.message + bad.hint).not.toContain(SK.slice(0, 6));
    const unknown = await rejected(collectKeyFields(single, sources({ stdin: JSON.stringify({ token: SK }) })));
    expect(unknown.message).toBe('svc has no field "token" (in the stdin JSON)');
    expect(unknown.hint).toBe('its fields are: api_key');
    expect((await rejected(collectKeyFields(single, sources({ stdin: '{"api_key": 1}' })))).message).toMatch(/must be a string/);
    expect((await rejected(collectKeyFields(single, sources({ stdin: '{"api_key": null}' })))).message).toMatch(/must be a string/);
  });

  it('--from-env reads named variables, and wins over stdin', async () => {
    const env = { SID: 'AC9', TOK: TOKEN };
    expect(await collectKeyFields(duo, sources({ fromEnv: ['account_sid=SID', 'auth_token=TOK'], env }))).toEqual({ account_sid: 'AC9', auth_token: TOKEN, region: 'us1' });
    const other = 'sk_fromtheenvironment';
    expect(await collectKeyFields(single, sources({ stdin: SK, fromEnv: ['api_key=K'], env: { K: other } }))).toEqual({ api_key: other });
  });

  it('--from-env errors name the pair, never a value', async () => {
    expect((await rejected(collectKeyFields(single, sources({ fromEnv: ['api_key=MISSING'] })))).message).toBe(
      'the environment variable MISSING is not set (--from-env api_key=MISSING)',
    );
    expect((await rejected(collectKeyFields(single, sources({ fromEnv: ['api_key'] })))).message).toMatch(/--from-env takes field=VAR/);
    expect((await rejected(collectKeyFields(single, sources({ fromEnv: ['=K'], env: { K: SK } })))).message).toMatch(/--from-env takes field=VAR/);
    const unknown = await rejected(collectKeyFields(single, sources({ fromEnv: ['secret=K'], env: { K: SK } })));
    expect(unknown.message).toBe('svc has no field "secret" (--from-env)');
  });

  it('without a terminal, a missing field is an error naming --stdin and --from-env', async () => {
    const { prompter, asked } = scripted(false);
    const err = await rejected(collectKeyFields(duo, sources({ fromEnv: ['account_sid=SID'], env: { SID: 'AC1' }, prompter })));
    expect(err.exitCode).toBe(ExitCode.usage);
    expect(err.hint).toMatch(/--stdin/);
    expect(err.hint).toMatch(/--from-env auth_token=VAR/);
    expect(asked.map((a) => a.kind)).toEqual(['secret']);
  });

  it('on a terminal: hidden prompts for secrets, plain ones for the rest, defaults offered, optional ones skippable', async () => {
    const { prompter, asked } = scripted(true, ['AC42', TOKEN, '', '']);
    const fields = await collectKeyFields(duo, sources({ prompter }));
    expect(fields).toEqual({ account_sid: 'AC42', auth_token: TOKEN, region: 'us1' });
    expect(asked.map((a) => [a.kind, a.message.split(' (')[0]])).toEqual([
      ['input', 'Account SID'],
      ['secret', 'Auth token'],
      ['input', 'Region'],
      ['input', 'Note'],
    ]);
    expect(asked[2]!.defaultValue).toBe('us1');
    expect(asked[3]!.message).toMatch(/optional, Enter to skip/);

    const { prompter: p2, asked: a2 } = scripted(true, [SK]);
    expect(await collectKeyFields(single, sources({ prompter: p2 }))).toEqual({ api_key: SK });
    expect(a2[0]!.message).toContain('https://example.com/keys');
  });

  it('shape checks apply to every source; --no-check skips them but not the emptiness check', async () => {
    const wrong = 'pk_0123456789';
    const err = await rejected(collectKeyFields(single, sources({ stdin: wrong })));
    expect(err.message).toMatch(/should start with "sk_"/);
    expect(err.hint).toMatch(/--no-check/);
    expect(err.message + err.hint).not.toContain(wrong);
    expect(await collectKeyFields(single, sources({ stdin: wrong, checkShapes: false }))).toEqual({ api_key: wrong });
    expect((await rejected(collectKeyFields(single, sources({ stdin: '', checkShapes: false })))).message).toBe('API key is empty');
    expect((await rejected(collectKeyFields(single, sources({ fromEnv: ['api_key=E'], env: { E: '' } })))).message).toBe('API key is empty');
    const { prompter } = scripted(true, ['']);
    expect((await rejected(collectKeyFields(single, sources({ prompter })))).message).toBe('API key is empty');
  });
});

describe('checkShape', () => {
  const field = (name: string) => duo.fields.find((f) => f.name === name)!;
  const check = (app: KeysApp, name: string, value: string) => () => checkShape(app, app.fields.find((f) => f.name === name)!, value);

  it('accepts values of the declared shape', () => {
    expect(check(single, 'api_key', SK)).not.toThrow();
    expect(check(duo, 'auth_token', TOKEN)).not.toThrow();
    expect(check(regional, 'api_key', 'x'.repeat(12))).not.toThrow();
  });

  it('refuses empty values and surrounding whitespace, never trimming silently', () => {
    expect(() => checkShape(duo, field('account_sid'), '')).toThrow(/Account SID is empty/);
    expect(() => checkShape(single, single.fields[0]!, ` ${SK}`)).toThrow(/leading or trailing whitespace/);
    expect(() => checkShape(single, single.fields[0]!, `${SK}\t`)).toThrow(/leading or trailing whitespace/);
    expect(() => checkShape(single, single.fields[0]!, '   ')).toThrow(/whitespace|empty/);
  });

  it('refuses a wrong prefix, pattern, or length', () => {
    expect(check(single, 'api_key', 'sk_short')).toThrow(/at least 10 characters/);
    expect(check(duo, 'auth_token', TOKEN.toUpperCase())).toThrow(/expected format/);
    // The pattern must match the whole value.
    expect(check(duo, 'auth_token', `${TOKEN}00`)).toThrow(/expected format/);
    expect(check(regional, 'api_key', 'x'.repeat(13))).toThrow(/at most 12 characters/);
    expect(check(duo, 'account_sid', 'XX123')).toThrow(/should start with "AC"/);
  });

  it('exits with a usage error', () => {
    try {
      checkShape(duo, field('account_sid'), 'nope');
      expect.unreachable();
    } catch (err) {
      expect((err as AcctError).exitCode).toBe(ExitCode.usage);
    }
  });
});

describe('primaryField', () => {
  it('is the declared primary, else the first secret field, else the first field', () => {
    expect(primaryField(duo).name).toBe('auth_token');
    expect(primaryField(regional).name).toBe('api_key');
    const noSecret = keysApp({
      api: { baseUrl: 'https://api.example.com', auth: { type: 'query', name: 'u', value: '{user}' } },
      fields: [{ name: 'user', label: 'User', secret: false }],
    });
    expect(primaryField(noSecret).name).toBe('user');
  });
});

describe('nicknames', () => {
  const withAccounts = (...pairs: [string, string][]): Metadata => ({
    ...emptyMetadata(),
    accounts: pairs.map(([app, nickname], i) => ({ id: `acc_${String(i).padStart(10, 'a')}`, app, nickname }) as Account),
  });

  const ofApp = (m: Metadata, app: string) => m.accounts.filter((a) => a.app === app);

  const apps = (...slugs: string[]) => ({ find: (slug: string) => (slugs.includes(slug) ? {} : undefined) });
  const others = (m: Metadata, ...slugs: string[]) => ({ nicknames: new Set(m.accounts.map((a) => a.nickname)), apps: apps(...slugs) });

  it('derives a nickname from the identity, made unique within the app', () => {
    const m = withAccounts(['github', 'octocat'], ['github', 'octocat-2'], ['gitlab', 'me@example.com']);
    const derive = (app: string, identity: string | null) => deriveNickname(app, ofApp(m, app), identity, others(m, 'github', 'gitlab'));
    expect(derive('github', 'octocat')).toBe('octocat-3');
    // The same person at another app: the identity's nickname again (connect then says the bare nickname names both).
    expect(derive('gitlab', 'octocat')).toBe('octocat');
    expect(derive('github', 'me@example.com')).toBe('me@example.com');
    expect(derive('gitlab', 'me@example.com')).toBe('me@example.com-2');
    // No identity: the app slug and a number, never the word "default".
    expect(derive('github', null)).toBe('github-1');
    expect(derive('github', 'Octo Cat <octo@example.com>')).toBe('Octo-Cat-octo@example.com-');
    expect(derive('github', '  --team/ops')).toBe('team-ops');
    expect(derive('github', '日本語')).toBe('github-1');
  });

  it('the app slug and a number is free across every app, and no nickname is an app slug', () => {
    // Another app's account called x-2 (a nickname someone picked): x's next account is x-3, so "x-2" still names one account.
    const m = withAccounts(['x', 'x-1'], ['y', 'x-2']);
    expect(deriveNickname('x', ofApp(m, 'x'), null, others(m, 'x', 'y'))).toBe('x-3');
    // An identity that is an app's slug would make that slug ambiguous: numbered like a taken one.
    const none = withAccounts();
    expect(deriveNickname('stripe', [], 'stripe', others(none, 'stripe'))).toBe('stripe-2');
    expect(deriveNickname('github', [], 'slack', others(none, 'github', 'slack'))).toBe('slack-2');
    // A slug-and-number that is itself an app's slug is skipped.
    expect(deriveNickname('x', [], null, others(none, 'x', 'x-1'))).toBe('x-2');
  });

  it('a derived nickname is always a valid nickname', () => {
    let seed = 7;
    const next = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const parts = ['acc_', 'a', 'Z', '9', ' ', '/', '@', '.', '-', '_', '+', 'é', '日', '\n', '"', 'acc_abcdefghij', '---'];
    const m = withAccounts(['app', 'x'.repeat(60)], ['app', 'default']);
    for (let i = 0; i < 2000; i++) {
      let identity = '';
      const len = Math.floor(next() * 30);
      for (let j = 0; j < len; j++) identity += parts[Math.floor(next() * parts.length)];
      if (i % 50 === 0) identity = 'x'.repeat(60 + (i % 17));
      const nickname = deriveNickname('app', ofApp(m, 'app'), identity || null, others(m, 'app', 'a', 'z'));
      expect(() => validateNickname(nickname, apps('app', 'a', 'z')), JSON.stringify(identity)).not.toThrow();
      expect(nickname).toMatch(NICKNAME_RE);
    }
  });

  it('validateNickname refuses slashes, spaces, ids, overlong names and app slugs', () => {
    const known = apps('stripe', 'github');
    for (const ok of ['work', 'me@example.com', 'a', 'ci.bot+1', 'x'.repeat(64), 'Stripe', 'stripe-live']) expect(validateNickname(ok, known)).toBe(ok);
    for (const bad of ['', 'a/b', 'a b', 'acc_abc', '-lead', '.hidden', 'x'.repeat(65), 'é', 'stripe', 'github']) {
      expect(() => validateNickname(bad, known), bad).toThrow(AcctError);
    }
  });
});

describe('control characters in any field, however it comes in', () => {
  const bad = ['\r', '\n', '\r\n', '\u0000', '\u0007', '\u001b[2J', '\u007f'];
  it('the prompt, stdin (bare and JSON) and --from-env: exit 2, even with --no-check, the value never in the message', async () => {
    for (const c of bad) {
      const value = `sk_0123456789${c}abcdef`;
      const ways: KeySources[] = [
        sources({ prompter: scripted(true, [value]).prompter }),
        sources({ stdin: value }),
        sources({ stdin: JSON.stringify({ api_key: value }) }),
        sources({ fromEnv: ['api_key=K'], env: { K: value } }),
        sources({ fromEnv: ['api_key=K'], env: { K: value }, checkShapes: false }),
      ];
      for (const src of ways) {
        const err = await rejected(collectKeyFields(single, src));
        expect(err.exitCode).toBe(ExitCode.usage);
        expect(err.message).toBe('API key holds a line break, a NUL or another control character');
        expect(`${err.message} ${err.hint}`).not.toContain('abcdef');
      }
    }
  });
  it('a non-secret field too (it may go in the host of the base URL)', async () => {
    const err = await rejected(collectKeyFields(regional, sources({ stdin: JSON.stringify({ region: 'eu\r\nevil', api_key: 'k1' }) })));
    expect(err.message).toContain('Region holds a line break');
  });
});

describe('values no request or command could use, however they come in', () => {
  const ways = (value: string): KeySources[] => [
    sources({ prompter: scripted(true, [value]).prompter }),
    sources({ stdin: value }),
    sources({ stdin: JSON.stringify({ api_key: value }) }),
    sources({ fromEnv: ['api_key=K'], env: { K: value }, checkShapes: false }),
  ];
  const refusedEveryWay = async (value: string, message: RegExp) => {
    for (const src of ways(value)) {
      const err = await rejected(collectKeyFields(single, src));
      expect(err.exitCode).toBe(ExitCode.usage);
      expect(err.message).toMatch(message);
      expect(err.hint).toMatch(/^nothing was stored; check /);
      expect(`${err.message} ${err.hint}`).not.toContain('abcdef');
    }
  };
  it('over 64 KiB (the prompt included): exit 2 naming the size, never the value', async () => {
    await refusedEveryWay(`sk_0123456789abcdef${'x'.repeat(65536)}`, /^API key is too large: 65555 bytes, where a value holds at most 64 KiB \(65536 bytes\)$/);
    const atLimit = `sk_${'x'.repeat(65536 - 3)}`;
    expect(await collectKeyFields(single, sources({ prompter: scripted(true, [atLimit]).prompter }))).toEqual({ api_key: atLimit });
  });
  it('a character outside Latin-1 in a header field, even with --no-check; U+FFFD anywhere', async () => {
    for (const c of ['\u2028', '\ufeff', '\u201c', '\u20ac']) await refusedEveryWay(`sk_0123456789${c}abcdef`, /^API key holds a character outside Latin-1/);
    await refusedEveryWay('sk_0123456789\ufffdabcdef', /^API key holds U\+FFFD/);
  });
  it('basic auth (base64) and a field only handed to programs may hold any UTF-8 text', async () => {
    const token = 'a'.repeat(32);
    expect(await collectKeyFields(duo, sources({ stdin: JSON.stringify({ account_sid: 'AC\u00e9\u2028x', auth_token: token }), checkShapes: false }))).toMatchObject({ account_sid: 'AC\u00e9\u2028x' });
    const envOnly = keysApp({ fields: [{ name: 'api_key', label: 'API key' }, { name: 'pem', label: 'Private key', optional: true }] });
    expect(await collectKeyFields(envOnly, sources({ stdin: JSON.stringify({ api_key: 'k1', pem: 'line\u2028\nline' }) }))).toMatchObject({ pem: 'line\u2028\nline' });
    const err = await rejected(collectKeyFields(envOnly, sources({ stdin: JSON.stringify({ api_key: 'k1', pem: 'x'.repeat(70_000) }) })));
    expect(err.message).toMatch(/^Private key is too large/);
  });
});
