// User-added app definitions pointing at local stand-in servers.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';

export function keyAppFile(baseUrl: string, extra: Record<string, unknown> = {}): string {
  const file = join(tmpdir(), `acct-app-${randomBytes(4).toString('hex')}.json`);
  writeFileSync(
    file,
    JSON.stringify({
      name: 'Local Service',
      auth: 'keys',
      api: { baseUrl, auth: { type: 'header', name: 'Authorization', value: 'Bearer {api_key}' } },
      fields: [{ name: 'api_key', label: 'API key', prefix: 'lk_' }],
      env: { api_key: 'LOCAL_API_KEY' },
      test: { path: '/me', identity: ['user.login'] },
      ...extra,
    }),
  );
  return file;
}

/** A two-field app: a non-secret account SID and a secret auth token, sent as basic auth. */
export function duoAppFile(baseUrl: string, extra: Record<string, unknown> = {}): string {
  return keyAppFile(baseUrl, {
    name: 'Duo Service',
    api: { baseUrl, auth: { type: 'basic', username: '{account_sid}', password: '{auth_token}' } },
    fields: [
      { name: 'account_sid', label: 'Account SID', secret: false, prefix: 'AC' },
      { name: 'auth_token', label: 'Auth token', minLength: 16 },
    ],
    primary: 'auth_token',
    env: { account_sid: 'DUO_ACCOUNT_SID', auth_token: 'DUO_AUTH_TOKEN' },
    test: undefined,
    ...extra,
  });
}
