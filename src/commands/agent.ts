// acct agent status / stop: the keychain agent of this user, D-Bus session
// and acct version (src/agent/control.ts).
import type { Context } from '../context.js';
import { agentState, stopAgent } from '../agent/control.js';
import { out, printJson } from '../output/format.js';
import { VERSION } from '../version.js';

export async function agentStatus(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const state = await agentState(ctx.env, { version: VERSION });
  const used = ctx.env.ACCT_AGENT !== '0';
  if (opts.json) {
    printJson(
      ctx.io,
      state.running
        ? {
            running: true,
            pid: state.status.pid,
            socket: state.socket,
            version: state.status.version,
            protocol: state.status.protocol,
            started_at: state.status.startedAt,
            idle_timeout_seconds: state.status.idleTimeoutSeconds,
            idle_remaining_seconds: state.status.idleRemainingSeconds,
            lanes: state.status.lanes ?? null,
            used,
          }
        : { running: false, pid: state.pid ?? null, socket: state.socket ?? null, reason: state.reason, used },
    );
    return;
  }
  const rows: [string, string][] = state.running
    ? [
        ['running', `yes (pid ${state.status.pid})`],
        ['socket', state.socket],
        ['version', `${state.status.version} (protocol ${state.status.protocol})`],
        ['started', state.status.startedAt],
        ['idle', `exits after ${state.status.idleTimeoutSeconds}s without a request (${state.status.idleRemainingSeconds}s left)`],
        [
          'lanes',
          state.status.lanes
            ? `${state.status.lanes.count} in ${state.status.lanes.folder} (${state.status.lanes.held} held)`
            : 'none: acct reaches it by its socket only',
        ],
      ]
    : [['running', `no: ${state.reason}`], ...(state.socket ? ([['socket', state.socket]] as [string, string][]) : [])];
  if (!used) rows.push(['used', 'no: ACCT_AGENT=0 keeps acct from asking it']);
  out(ctx.io, rows.map(([k, v]) => `${k.padEnd(9)}${v}\n`).join(''));
}

export async function agentStop(ctx: Context, opts: { json?: boolean }): Promise<void> {
  const outcome = await stopAgent(ctx.env, { version: VERSION });
  if (opts.json) {
    printJson(ctx.io, outcome.stopped ? { stopped: true, pid: outcome.pid, how: outcome.how } : { stopped: false, reason: outcome.reason });
    return;
  }
  if (outcome.stopped) ctx.info(`Stopped the keychain agent (pid ${outcome.pid}${outcome.how === 'signalled' ? ', which did not answer: sent SIGTERM' : ''})`);
  else ctx.info(`No keychain agent to stop: ${outcome.reason}`);
}
