// src/run.ts: a command left awaiting a promise that nothing will settle ends
// the process (Node exits when nothing is left to wait on); acct must then
// fail, not exit 0 having done half its work. Run in a child: it exits.
import { describe, it, expect } from 'vitest';
import { build } from 'esbuild';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function run(script: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [script], { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }));
    child.stdin?.end();
  });
}

describe('runProcess', () => {
  it('a command whose work waits on nothing exits 1 and says so; one that finishes exits with its code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'acct-run-'));
    try {
      const bundle = join(dir, 'run.cjs');
      await build({ entryPoints: [join(import.meta.dirname, '../../src/run.ts')], bundle: true, platform: 'node', format: 'cjs', outfile: bundle, logLevel: 'error' });
      const stalled = join(dir, 'stalled.cjs');
      writeFileSync(stalled, `require(${JSON.stringify(bundle)}).runProcess(() => new Promise(() => {}));\n`);
      const done = join(dir, 'done.cjs');
      writeFileSync(done, `require(${JSON.stringify(bundle)}).runProcess(async (argv, io) => { io.writeOut('done\\n'); return 3; });\n`);
      const a = await run(stalled);
      expect(a).toMatchObject({ code: 1, stdout: '' });
      expect(a.stderr).toContain('acct: acct stopped with its work unfinished: nothing was left for it to wait on');
      expect(await run(done)).toEqual({ code: 3, stdout: 'done\n', stderr: '' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
