// Cross-process locks (src/store/lock.ts) on a real file system, with real
// processes as holders: a holder that is gone on this host is taken over at
// once however fresh its lock looks; a live one, or one on another host, is
// waited for.
import { describe, it, expect } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { currentOwner, holderGone, LockBusyError, withLock, type LockOwner } from '../../src/store/lock.js';

/** A lock folder as a holder leaves it, stamped as just touched (or as last touched `ageMs` ago); no owner file for undefined. */
function planted(owner: Partial<LockOwner> | undefined, ageMs?: number): string {
  const lockPath = join(mkdtempSync(join(tmpdir(), 'acct-lock-')), 'refresh-acc_x');
  mkdirSync(`${lockPath}.lock`);
  if (owner) writeFileSync(join(`${lockPath}.lock`, 'owner'), JSON.stringify(owner));
  const when = new Date(ageMs === undefined ? Date.now() + 3_600_000 : Date.now() - ageMs);
  utimesSync(`${lockPath}.lock`, when, when);
  return lockPath;
}

/** The pid of a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

describe('lock holders', () => {
  it('the owner file names this process while it holds the lock, and goes with the lock', async () => {
    const lockPath = join(mkdtempSync(join(tmpdir(), 'acct-lock-')), 'x');
    const seen = await withLock(lockPath, () => JSON.parse(readFileSync(join(`${lockPath}.lock`, 'owner'), 'utf8')));
    expect(seen).toEqual(currentOwner());
    expect(seen).toMatchObject({ pid: process.pid, host: hostname() });
    expect(existsSync(`${lockPath}.lock`)).toBe(false);
  });

  it('a holder gone from this host is taken over at once', async () => {
    const lockPath = planted({ ...currentOwner(), pid: deadPid(), start: undefined });
    expect(await withLock(lockPath, () => 'taken', { waitMs: 2_000 })).toBe('taken');
    expect(existsSync(`${lockPath}.lock`)).toBe(false);
  });

  it('a live holder is waited for, and the wait ends with LockBusyError', async () => {
    const child = spawn('sleep', ['30']);
    try {
      const owner = { ...currentOwner(), pid: child.pid! };
      delete owner.start;
      const lockPath = planted(owner);
      await expect(withLock(lockPath, () => 'taken', { waitMs: 300 })).rejects.toBeInstanceOf(LockBusyError);
      expect(existsSync(`${lockPath}.lock`)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a holder on another host (a shared home) is left to the stale window', async () => {
    const lockPath = planted({ pid: deadPid(), host: `not-${hostname()}` });
    await expect(withLock(lockPath, () => 'taken', { waitMs: 300 })).rejects.toBeInstanceOf(LockBusyError);
  });

  it('a lock without an owner file (one being made, or from an older acct) is left to the stale window', async () => {
    const lockPath = planted({});
    await expect(withLock(lockPath, () => 'taken', { waitMs: 300 })).rejects.toBeInstanceOf(LockBusyError);
  });

  it('a live holder on this host keeps its lock however long ago it touched it (stopped with Ctrl-Z, or a frozen VM)', async () => {
    const child = spawn('sleep', ['30']);
    try {
      // An hour untouched: proper-lockfile alone would call it stale and take it.
      const lockPath = planted({ ...currentOwner(), pid: child.pid!, start: undefined }, 3_600_000);
      await expect(withLock(lockPath, () => 'taken', { waitMs: 300 })).rejects.toBeInstanceOf(LockBusyError);
      expect(existsSync(`${lockPath}.lock`)).toBe(true);
      // Once its process is gone, at once.
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      expect(await withLock(lockPath, () => 'taken', { waitMs: 2_000 })).toBe('taken');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('a holder on another host is taken over once its lock is untouched for the stale window (30 s)', async () => {
    const fresh = planted({ pid: 1, host: `not-${hostname()}` }, 20_000);
    await expect(withLock(fresh, () => 'taken', { waitMs: 300 })).rejects.toBeInstanceOf(LockBusyError);
    const stale = planted({ pid: 1, host: `not-${hostname()}` }, 31_000);
    expect(await withLock(stale, () => 'taken', { waitMs: 2_000 })).toBe('taken');
  });

  it('a lock folder with no owner file (its maker died before writing it) is taken over once untouched for 10 s', async () => {
    const young = planted(undefined, 5_000);
    await expect(withLock(young, () => 'taken', { waitMs: 300 })).rejects.toBeInstanceOf(LockBusyError);
    const old = planted(undefined, 11_000);
    expect(await withLock(old, () => 'taken', { waitMs: 2_000 })).toBe('taken');
  });

  it('meanwhile ends the wait with its answer, without taking the lock', async () => {
    const child = spawn('sleep', ['30']);
    try {
      const lockPath = planted({ ...currentOwner(), pid: child.pid!, start: undefined });
      let asked = 0;
      const got = await withLock(lockPath, () => 'taken', { waitMs: 10_000, meanwhile: async () => (++asked >= 3 ? 'answered' : undefined) });
      expect(got).toBe('answered');
      expect(asked).toBe(3);
      expect(existsSync(`${lockPath}.lock`)).toBe(true);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('holderGone', () => {
  const me = currentOwner();
  it('is true only for a process of this host and pid namespace that is gone or is another process now', () => {
    expect(holderGone({ ...me, pid: deadPid() })).toBe(true);
    expect(holderGone(me)).toBe(false);
    // The same pid with another start time: the holder died and its pid was reused.
    if (me.start) expect(holderGone({ ...me, pid: process.ppid, start: '1' })).toBe(true);
    expect(holderGone({ ...me, pid: process.ppid, start: undefined })).toBe(false);
    expect(holderGone({ ...me, pid: deadPid(), host: 'elsewhere' })).toBe(false);
    if (me.ns) expect(holderGone({ ...me, pid: deadPid(), ns: 'pid:[1]' })).toBe(false);
  });
});
