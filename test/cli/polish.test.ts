// Small things a new user notices: Node warnings on stderr, the User-Agent
// acct sends, suggestions for mistyped names.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { oauthHome, startAcct, listJson } from '../support/oauth-cli.js';

describe('no Node warnings', () => {
  let server: AuthServer;
  beforeAll(async () => {
    // Polls as fast as the server allows, so a listener left behind per poll adds up within seconds.
    server = await startAuthServer({ deviceInterval: 0.05 });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('a device-flow connect that polls many times prints no Node warning', async () => {
    const { env } = await oauthHome(server, 'public');
    const run = startAcct(['connect', 'local', '--device'], env);
    const [, code] = await run.stderrMatch(/enter the code:\s+(\S+)/);
    // Let it poll a good many times before the user approves.
    const polls = () => server.tokenRequests.grantTypes.filter((g) => g.endsWith(':device_code')).length;
    const deadline = Date.now() + 30_000;
    while (polls() < 25 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(polls()).toBeGreaterThanOrEqual(25);
    await server.completeDevice(code!, true, 'patient-user');
    const r = await run.done();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/Warning|\(node:\d+\)/);
    expect((await listJson(env))[0]).toMatchObject({ identity: 'patient-user' });
  });
});
