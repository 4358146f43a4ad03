// The package a user installs: `npm pack` holds the built program and nothing
// of the sources or tests, and a global install of that tarball brings in only
// what runs unbundled (the keyring addon), then works.
import { describe, it, expect, beforeAll } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { baseEnv, tempHome } from '../support/cli.js';

const ROOT = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

let files: string[];
let tarball: string;
const work = mkdtempSync(join(tmpdir(), 'acct-pack-'));

beforeAll(async () => {
  // --ignore-scripts: `prepare` would rebuild dist/ under the feet of the tests running beside this one.
  const r = await execa('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT, reject: false });
  expect(r.exitCode, r.stderr).toBe(0);
  const [info] = JSON.parse(r.stdout) as { filename: string; files: { path: string }[] }[];
  files = info!.files.map((f) => f.path);
  tarball = join(work, info!.filename);
});

describe('the npm package', () => {
  it('holds the launcher, the bundles, their maps, the catalog, the completions and the README, and no sources or tests', () => {
    for (const f of ['bin/acct.cjs', 'dist/acct.cjs', 'dist/plain.cjs', 'dist/agent.cjs', 'dist/acct.cjs.map', 'dist/catalog.json', 'dist/apps/github.json', 'dist/vendor/undici.cjs', 'completions/acct.bash', 'README.md', 'package.json'])
      expect(files, f).toContain(f);
    for (const f of files) expect(f, f).not.toMatch(/^(src|test|scripts|node_modules|dist\.next|\.ci)\//);
  });

  it('depends at run time only on what the bundles cannot hold (the native keyring addon)', () => {
    expect(Object.keys(pkg.dependencies)).toEqual(['@napi-rs/keyring']);
    // What the build bundles is needed to build, so it is a dev dependency.
    for (const bundled of ['commander', 'undici', 'zod', 'oauth4webapi', '@inquirer/prompts', 'chalk', 'open', 'proper-lockfile', '@jellybrick/dbus-next'])
      expect(pkg.devDependencies[bundled], bundled).toBeDefined();
  });

  it('installs globally from the tarball with only the addon beside it, and runs', { timeout: 180_000 }, async () => {
    const prefix = join(work, 'global');
    const install = await execa('npm', ['install', '--global', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', tarball], { reject: false });
    expect(install.exitCode, install.stderr).toBe(0);
    const installed = join(prefix, 'lib', 'node_modules', 'acct');
    const modules = existsSync(join(installed, 'node_modules')) ? readdirSync(join(installed, 'node_modules')) : [];
    expect(modules.filter((m) => m !== '.bin' && m !== '.package-lock.json')).toEqual(['@napi-rs']);
    expect(existsSync(join(installed, 'src'))).toBe(false);

    const bin = join(prefix, 'bin', 'acct');
    const env = baseEnv({ ACCT_HOME: tempHome(), ACCT_STORE: 'file', ACCT_PASSPHRASE: 'package test passphrase' });
    const run = (args: string[], input?: string) => execa(bin, args, { env, extendEnv: false, reject: false, input });
    expect((await run(['--version'])).stdout.trim()).toBe(pkg.version);
    const apps = await run(['apps', '--json']);
    expect(apps.exitCode, apps.stderr).toBe(0);
    expect((JSON.parse(apps.stdout) as { slug: string }[]).some((a) => a.slug === 'github')).toBe(true);
    const connected = await run(['connect', 'openai', '--stdin', '--no-verify', '--nickname', 'pkg'], 'sk-package-test-0123456789abcdef');
    expect(connected.exitCode, connected.stderr).toBe(0);
    expect((await run(['token', 'openai'])).stdout).toBe('sk-package-test-0123456789abcdef');
  });
});
