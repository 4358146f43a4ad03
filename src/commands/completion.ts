import type { Context } from '../context.js';
import type { Command } from 'commander';
import { commandTree } from '../completion/tree.js';
import { completionScript, type Shell } from '../completion/scripts.js';
import { completeValues } from '../completion/dynamic.js';

export function completion(ctx: Context, program: Command, shell: Shell): void {
  ctx.io.stdout.write(completionScript(shell, commandTree(program)));
}

export function complete(ctx: Context, what: string | undefined): void {
  const values = completeValues(ctx, what);
  if (values.length) ctx.io.stdout.write(`${values.join('\n')}\n`);
}


