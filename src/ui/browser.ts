// Opening URLs: ACCT_BROWSER, then BROWSER (a command; the URL is passed as
// its last argument), else the platform's opener through `open`. The browser
// outlives acct and never needs acct's own store secrets: it gets the
// environment any child of acct gets (store/secret-env.ts).
import { spawn } from 'node:child_process';
import { childEnvironment } from '../store/secret-env.js';

export type OpenUrl = (url: string) => Promise<void>;

export function browserOpener(env: NodeJS.ProcessEnv, warn: (m: string) => void): OpenUrl {
  const command = env.ACCT_BROWSER || env.BROWSER;
  return async (url) => {
    if (command) {
      const [file, ...args] = splitCommand(command);
      const child = spawn(file!, [...args, url], { stdio: ['ignore', 'ignore', 'inherit'], detached: false, env: childEnvironment(env) });
      child.on('error', (err) => warn(`could not run the browser command "${file}": ${err.message}`));
      child.on('exit', (code) => {
        if (code) warn(`the browser command "${file}" exited with ${code}`);
      });
      child.unref();
      return;
    }
    // In the bundle, dist/vendor/open.cjs is CommonJS, and a dynamic import of
    // CommonJS hands over the whole module.exports as `default`: the function
    // is its `default`. Under the ES module loader (tests importing src/) it is
    // `default` itself.
    const mod = await import('open');
    const open = (mod.default as unknown as { default?: typeof mod.default }).default ?? mod.default;
    try {
      // open spawns the opener with process.env and has no option for another
      // one: for the call, process.env is acct's environment without its store
      // secrets (acct itself reads ctx.env, the object saved here).
      const saved = process.env;
      process.env = childEnvironment(saved);
      let child: Awaited<ReturnType<typeof open>>;
      try {
        child = await open(url);
      } finally {
        process.env = saved;
      }
      child.on('error', (err: NodeJS.ErrnoException) =>
        warn(
          err.code === 'ENOENT'
            ? `could not open a browser: ${err.path ?? 'the opener'} is not on PATH; open the URL above yourself, or set BROWSER to your browser's command`
            : `could not open a browser: ${err.message}`,
        ),
      );
      child.unref();
    } catch (err) {
      warn(`could not open a browser: ${(err as Error).message}`);
    }
  };
}

/** Splits "cmd --flag 'two words'" the way a shell would for simple cases. */
export function splitCommand(command: string): string[] {
  const parts: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of command.matchAll(re)) parts.push(m[1] ?? m[2] ?? m[3]!);
  return parts;
}
