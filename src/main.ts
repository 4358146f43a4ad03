import { main } from './cli.js';

export async function run(): Promise<void> {
  const code = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }, process.env);
  process.exitCode = code;
  // A keychain call that timed out may leave a native worker blocked; do not wait for it.
  setTimeout(() => process.exit(code), 500).unref();
}
