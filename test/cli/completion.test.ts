// Completion scripts: generated from the command tree, committed under
// completions/, and loaded by real bash, zsh and fish that complete a reference.
import { describe, it, expect, beforeAll } from 'vitest';
import { execa } from 'execa';
import { chmodSync, chownSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
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

// The README's install lines, run as written in a fresh HOME by a user who is
// not root (as root, the test runs them as nobody), then each shell started
// the usual way finds the script on its own.
describe('the README completion install lines', () => {
  const readme = readFileSync(resolve(import.meta.dirname, '../../README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Shell completion'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  const zshrcLine = /before compinit runs:\s+(.*)$/m.exec(block)![1]!.trim();
  const NOBODY = 65534;
  const asRoot = process.getuid!() === 0;
  const asUser = asRoot ? { uid: NOBODY, gid: NOBODY } : {};
  let home: string;
  let userEnv: Record<string, string>;

  beforeAll(async () => {
    home = mkdtempSync(join(tmpdir(), 'acct-completion-home-'));
    const bin = mkdtempSync(join(tmpdir(), 'acct-bin-'));
    symlinkSync(BIN, join(bin, 'acct'));
    chmodSync(bin, 0o755);
    if (asRoot) chownSync(home, NOBODY, NOBODY);
    userEnv = { PATH: `${bin}:${process.env.PATH}`, HOME: home, LANG: 'C.UTF-8' };
    const r = await execa('bash', ['-e', '-c', block], { cwd: home, env: userEnv, extendEnv: false, reject: false, ...asUser });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  it('bash: bash-completion loads it from ~/.local/share on first use', async () => {
    const script = [
      'source /usr/share/bash-completion/bash_completion',
      // The loader bash-completion registers for commands it has not seen yet.
      "loader=$(complete -p -D | sed -n 's/.*-F \\([^ ]*\\).*/\\1/p')",
      '$loader acct acct "" acct || true',
      'complete -p acct',
      'COMP_WORDS=(acct con); COMP_CWORD=1; _acct; printf "%s\\n" "${COMPREPLY[@]}"',
    ].join('\n');
    const r = await execa('bash', ['--norc', '-c', script], { cwd: home, env: userEnv, extendEnv: false, reject: false, ...asUser });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^complete -F _acct acct$/m);
    expect(r.stdout.split('\n')).toContain('connect');
  });

  it('zsh: the fpath line in ~/.zshrc before compinit registers _acct', async () => {
    expect(zshrcLine).toBe('fpath=(~/.zfunc $fpath)');
    await execa('sh', ['-c', `printf '%s\\n' '${zshrcLine}' 'autoload -Uz compinit && compinit' > ~/.zshrc`], { env: userEnv, extendEnv: false, ...asUser });
    const r = await execa('zsh', ['-i', '-c', 'print -r -- ${_comps[acct]}'], { cwd: home, env: userEnv, extendEnv: false, reject: false, ...asUser });
    expect(r.stdout.trim()).toBe('_acct');
    expect(r.exitCode).toBe(0);
  });

  it('fish: loads it from ~/.config/fish/completions', async () => {
    const r = await execa('fish', ['-c', "complete -C 'acct con'"], { cwd: home, env: userEnv, extendEnv: false, reject: false, ...asUser });
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n').map((l) => l.split('\t')[0])).toContain('connect');
  });
});
