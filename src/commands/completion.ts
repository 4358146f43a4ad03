import type { Context } from '../context.js';
import { out } from '../output/format.js';
import type { Command } from 'commander';
import { commandTree } from '../completion/tree.js';
import { completionScript, type Shell } from '../completion/scripts.js';
import { completeValues } from '../completion/dynamic.js';

export function completion(ctx: Context, program: Command, shell: Shell): void {
  out(ctx.io, completionScript(shell, commandTree(program)));
}

export async function complete(ctx: Context, what: string | undefined): Promise<void> {
  const values = await completeValues(ctx, what);
  if (values.length) out(ctx.io, `${values.join('\n')}\n`);
}


