// Completion scripts: generated from the command tree, committed under
// completions/, and loaded by real bash, zsh and fish that complete a reference.
import { describe, it, expect, beforeAll } from 'vitest';
import { execa } from 'execa';
import { mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { acct, baseEnv, tempHome, BIN } from '../support/cli.js';
import { keyAppFile } from '../support/apps.js';

const COMPLETIONS = resolve(import.meta.dirname, '../../completions');
const FILES = { bash: 'acct.bash', zsh: '_acct', fish: 'acct.fish' } as const;

describe('completion', () => {
  let env: Record<string, string | undefined>;
  let shellEnv: Record<string, string>;

  beforeAll(async () => {
    const home = tempHome();
    env = baseEnv({ ACCT_HOME: home, ACCT_STORE: 'file', ACCT_PASSPHRASE: 'completion-pass' });
    expect((await acct(['apps', 'add', 'local', '--file', keyAppFile('http://127.0.0.1:9')], env)).exitCode).toBe(0);
    for (const nickname of ['alpha', 'beta']) {
      const r = await acct(['connect', 'local', '--stdin', '--no-verify', '--nickname', nickname], env, { input: 'lk_value', stdin: undefined });
      expect(r.exitCode).toBe(0);
    }
    // `acct` on PATH, as an installed copy would be.
    const bin = mkdtempSync(join(tmpdir(), 'acct-bin-'));
    symlinkSync(BIN, join(bin, 'acct'));
    shellEnv = { ...(env as Record<string, string>), PATH: `${bin}:${process.env.PATH}`, HOME: home };
  });

  it.each(Object.entries(FILES))('the committed %s script matches the command tree (run npm run completions when this fails)', async (shell, file) => {
    const r = await acct(['completion', shell], env);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(COMPLETIONS, file), 'utf8'));
  });

  it('the hidden completer lists references and app slugs without reading secrets', async () => {
    // A wrong passphrase would fail any command that opens a secret.
    const r = await acct(['__complete', 'refs'], { ...env, ACCT_PASSPHRASE: 'wrong-passphrase' });
    expect(r).toMatchObject({ exitCode: 0, stderr: '' });
    // "local" too: its first account is its default, so the app slug is a reference.
    expect(r.stdout.split('\n').filter(Boolean)).toEqual(['local', 'local/alpha', 'local/beta']);
    const apps = await acct(['__complete', 'apps'], env);
    expect(apps.stdout.split('\n')).toContain('local');
    expect((await acct(['__complete', 'nonsense'], env)).exitCode).toBe(2);
  });

  it('bash completes commands, references and option values', async () => {
    const complete = async (line: string[]) => {
      const script = `source ${join(COMPLETIONS, FILES.bash)}; COMP_WORDS=(${line.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${line.length - 1}; _acct; printf '%s\\n' "\${COMPREPLY[@]}"`;
      const r = await execa('bash', ['--norc', '-c', script], { env: shellEnv, extendEnv: false });
      return r.stdout.split('\n').filter(Boolean);
    };
    expect(await complete(['acct', 'token', 'local/a'])).toEqual(['local/alpha']);
    expect(await complete(['acct', 'exec', 'local/alpha', 'lo'])).toEqual(['local', 'local/alpha', 'local/beta']);
    expect(await complete(['acct', 'env', '--format', 'g'])).toEqual(['github', 'gitlab']);
    expect(await complete(['acct', 'cli'])).toEqual(['client']);
    expect(await complete(['acct', 'client', 's'])).toEqual(['set', 'show']);
    expect(await complete(['acct', 'client', 'set', 'loc'])).toEqual(['local']);
    expect(await complete(['acct', 'delete', '--k'])).toEqual(['--keep-remote']);
  });

  it('zsh loads the script in its completion system and completes a reference', async () => {
    // compadd only works inside a completion widget; record what would be offered.
    const script = [
      'autoload -U compinit && compinit -u -D',
      `source ${join(COMPLETIONS, FILES.zsh)}`,
      '[[ ${_comps[acct]} == _acct ]] || { print -u2 "not registered"; exit 3; }',
      'compadd() { while [[ $1 == -* ]]; do [[ $1 == -- ]] && { shift; break; }; shift; done; print -l -- "$@"; }',
      'words=(acct show local/b); CURRENT=3; _acct',
      'words=(acct env --format d); CURRENT=4; _acct',
    ].join('\n');
    const r = await execa('zsh', ['-f', '-c', script], { env: shellEnv, extendEnv: false, reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    const offered = r.stdout.split('\n').filter(Boolean);
    expect(offered).toContain('local/beta');
    expect(offered).toContain('dotenv');
  });

  it('fish completes a reference', async () => {
    const r = await execa('fish', ['--no-config', '-c', `source ${join(COMPLETIONS, FILES.fish)}; complete -C 'acct token local/b'; complete -C 'acct apps sh'`], {
      env: shellEnv,
      extendEnv: false,
    });
    const offered = r.stdout.split('\n').map((l) => l.split('\t')[0]);
    expect(offered).toContain('local/beta');
    expect(offered).not.toContain('local/alpha');
    expect(offered).toContain('show');
  });
});
