// Runs the built acct binary the way a user would, with ACCT_HOME in a temporary folder.
import { execa, type Options } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const BIN = resolve(import.meta.dirname, '../../bin/acct.cjs');

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function tempHome(): string {
  return mkdtempSync(join(tmpdir(), 'acct-home-'));
}

/** A clean environment: no D-Bus session unless the test gives one. */
export function baseEnv(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    NO_COLOR: '1',
    DBUS_SESSION_BUS_ADDRESS: undefined,
    ACCT_KEYCHAIN_TIMEOUT: '5',
    ...extra,
  };
}

export async function acct(args: string[], env: Record<string, string | undefined>, options: Options = {}): Promise<RunResult> {
  const r = await execa('node', [BIN, ...args], { env, extendEnv: false, reject: false, stripFinalNewline: false, stdin: 'ignore', timeout: 60_000, ...options });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** Every file under a folder, with its contents, to check that no secret sits there in plain text. */
export function allFiles(dir: string): { path: string; content: Buffer }[] {
  const out: { path: string; content: Buffer }[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...allFiles(path));
    else out.push({ path, content: readFileSync(path) });
  }
  return out;
}
