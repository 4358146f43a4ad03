// End to end in a real browser: acct connect --no-browser prints the
// authorization URL; headless Chromium opens it, signs in on the provider's
// login page, approves the consent page and lands on acct's loopback listener.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startAuthServer, type AuthServer } from '../support/oauth-server.js';
import { acct } from '../support/cli.js';
import { oauthHome, startAcct, listJson, revealed, fingerprint } from '../support/oauth-cli.js';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) console.warn(`skipping the Chromium end-to-end test: ${CHROMIUM} is missing (CI installs the chromium package)`);

describe.skipIf(!haveChromium)(`OAuth in headless Chromium${haveChromium ? '' : ` (skipped: ${CHROMIUM} is missing)`}`, () => {
  let server: AuthServer;
  let browser: Browser;

  beforeAll(async () => {
    server = await startAuthServer({ accessTokenTtl: 300 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('signs in and approves on the provider pages; acct stores the account', async () => {
    const { env } = await oauthHome(server, 'public', { env: { ACCT_BROWSER: undefined } });
    const run = startAcct(['connect', 'local', '--no-browser', '--timeout', '50'], env);
    const [, url] = await run.stderrMatch(/^\s+(http:\/\/127\.0\.0\.1:\d+\/auth\?\S+)$/m);

    const context = await browser.newContext();
    // Only the two local servers: the provider's pages import web fonts we do not need.
    await context.route('**/*', (route) => (new URL(route.request().url()).hostname === '127.0.0.1' ? route.continue() : route.abort()));
    const page = await context.newPage();
    try {
      await page.goto(url!, { waitUntil: 'domcontentloaded' });
      await page.locator('input[name="login"]').fill('chromium-user');
      await page.locator('input[name="password"]').fill('any password');
      await page.getByRole('button', { name: 'Sign-in' }).click();
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL(/^http:\/\/127\.0\.0\.1:\d+\/callback\?/, { waitUntil: 'domcontentloaded' });
      expect(await page.locator('h1').textContent()).toBe('Authorization received');
      const landed = new URL(page.url());
      expect(landed.searchParams.get('iss')).toBe(server.issuer);
      expect(landed.port).not.toBe(String(server.port));
    } finally {
      await context.close();
    }

    const r = await run.done();
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stderr).toContain('Connected local/chromium-user');
    const [account] = await listJson(env);
    expect(account).toMatchObject({ id: r.stdout.trim(), app: 'local', identity: 'chromium-user', status: 'ok' });
    const fields = await revealed(account!.id, env);
    expect(await server.introspect(fields.oauth_access_token!)).toBe(true);
    const token = await acct(['token', 'local'], env);
    expect(fingerprint(token.stdout.trim())).toBe(fingerprint(fields.oauth_access_token));
  });
});
