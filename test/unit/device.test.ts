// The device grant's polling loop (RFC 8628 §3.5) as a protocol step: a fake
// token endpoint and an injected clock, so its decisions run without waiting.
import { describe, it, expect } from 'vitest';
import { appDefinition, type OAuthApp } from '../../src/catalog/schema.js';
import { awaitDeviceApproval, startDeviceAuthorization, type DeviceAuthorization } from '../../src/oauth/protocol.js';
import type { Fetch } from '../../src/http.js';

const app = appDefinition.parse({
  slug: 'dev',
  name: 'Device Test',
  auth: 'oauth2',
  oauth: {
    authorizationUrl: 'https://id.example/authorize',
    tokenUrl: 'https://id.example/token',
    deviceAuthorizationUrl: 'https://id.example/device',
    clientSecret: 'none',
    clientAuth: 'none',
    createClientUrl: 'https://id.example/apps',
  },
  api: { baseUrl: 'https://api.example', auth: { type: 'header', name: 'Authorization', value: 'Bearer {oauth_access_token}' } },
  test: { path: '/me', identity: ['login'] },
  env: { oauth_access_token: 'DEV_TOKEN' },
}) as OAuthApp;
const client = { clientId: 'cli' };
const device: DeviceAuthorization = { deviceCode: 'dc', userCode: 'ABCD-EFGH', verificationUri: 'https://id.example/activate', expiresIn: 600, interval: 5 };

/** A token endpoint that answers from a script, and a clock that moves only when the loop sleeps. */
function scripted(answers: ({ error: string } | { access_token: string })[]) {
  let t = 0;
  const waits: number[] = [];
  const fetch: Fetch = async () => {
    const next = answers.shift() ?? { error: 'authorization_pending' };
    const ok = 'access_token' in next;
    return new Response(JSON.stringify(ok ? { ...next, token_type: 'bearer', expires_in: 3600 } : next), { status: ok ? 200 : 400, headers: { 'content-type': 'application/json' } });
  };
  const deps = { fetch, now: () => t, sleep: async (ms: number) => void (waits.push(ms), (t += ms)) };
  return { deps, waits };
}

describe('awaitDeviceApproval', () => {
  it('waits the interval between polls, five seconds more after slow_down, and returns the tokens once approved', async () => {
    const { deps, waits } = scripted([{ error: 'authorization_pending' }, { error: 'slow_down' }, { error: 'authorization_pending' }, { access_token: 'at-1' }]);
    const tokens = await awaitDeviceApproval(app, client, device, 300_000, deps);
    expect(tokens.accessToken).toBe('at-1');
    expect(waits).toEqual([5000, 5000, 10_000, 10_000]);
  });

  it('gives up when the wait runs out, or the device code expired: a timeout (exit 5), never a refusal', async () => {
    const { deps } = scripted([]);
    await expect(awaitDeviceApproval(app, client, device, 20_000, deps)).rejects.toMatchObject({ code: 'timeout', exitCode: 5, message: 'the device code was not approved in time' });
    const expired = scripted([{ error: 'expired_token' }]);
    await expect(awaitDeviceApproval(app, client, device, 300_000, expired.deps)).rejects.toMatchObject({ code: 'timeout', message: 'the device code expired before it was approved' });
    // The device code's own lifetime bounds the wait too.
    const short = scripted([]);
    await expect(awaitDeviceApproval(app, client, { ...device, expiresIn: 12 }, 300_000, short.deps)).rejects.toMatchObject({ code: 'timeout' });
    expect(short.waits.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(20_000);
  });

  it('an interval under 1 s is polled every second, not in a tight loop', async () => {
    const { deps, waits } = scripted([{ error: 'authorization_pending' }, { error: 'authorization_pending' }, { access_token: 'at-2' }]);
    await awaitDeviceApproval(app, client, { ...device, interval: 0 }, 300_000, deps);
    expect(waits).toEqual([1000, 1000, 1000]);
    const start = async (interval: number) => {
      const fetch: Fetch = async () =>
        new Response(JSON.stringify({ device_code: 'dc', user_code: 'ABCD', verification_uri: 'https://id.example/activate', expires_in: 600, interval }), {
          status: 200,
          headers: { 'content-type': 'application/json' },
        });
      return (await startDeviceAuthorization(app, client, [], { fetch })).interval;
    };
    expect(await start(0.2)).toBe(1); // (0 itself oauth4webapi refuses)
    expect(await start(3)).toBe(3);
  });

  it('a refusal is thrown as the provider said it (access_denied)', async () => {
    const { deps } = scripted([{ error: 'access_denied' }]);
    await expect(awaitDeviceApproval(app, client, device, 300_000, deps)).rejects.toMatchObject({ error: 'access_denied' });
  });
});
