import { main } from './cli.js';

export async function run(): Promise<void> {
  const io = {
    stdout: process.stdout,
    stderr: process.stderr,
    // process.stdin builds a stream on first access; most commands never read it.
    get stdin() {
      return process.stdin;
    },
  };
  const code = await main(process.argv.slice(2), io, process.env);
  process.exitCode = code;
  // A keychain call that timed out may leave a native worker blocked; do not wait for it.
  setTimeout(() => process.exit(code), 500).unref();
}
