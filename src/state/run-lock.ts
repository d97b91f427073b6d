/*
 * The run lock: at most one runner writes a run. lock.json is created exclusively (a hard
 * link of a fully written file, so it appears whole or not at all) and holds the runner's
 * host, pid, random token and a heartbeat the runner rewrites every few seconds.
 *
 * A runner is alive while its heartbeat is fresh. On the same host a dead pid also means
 * gone at once; a live pid with a stale heartbeat does not count (pids are reused after a
 * container restart). A stale lock is taken over, and the takeover says so.
 */
import { existsSync, linkSync, renameSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fsyncDir, readJsonIfExists, writeFileAtomic, writeJsonAtomic } from './files.js';
import type { RunLock, SessionCommand } from './types.js';

/** A heartbeat older than this means the runner is gone. */
export const STALE_AFTER_MS = 30_000;
export const HEARTBEAT_MS = 2_000;

export class RunLockedError extends Error {
  public constructor(public readonly lock: RunLock) {
    super(`The run is held by ${lock.command} (pid ${lock.pid} on ${lock.host}, heartbeat ${lock.heartbeatAt}).`);
    this.name = 'RunLockedError';
  }
}

export class LockLostError extends Error {
  public constructor(public readonly by: RunLock | undefined) {
    super(by ? `Another runner (pid ${by.pid} on ${by.host}) took this run over.` : 'The run lock file disappeared.');
    this.name = 'LockLostError';
  }
}

export function readLock(file: string): RunLock | undefined {
  try {
    return readJsonIfExists<RunLock>(file);
  } catch {
    return undefined; // a damaged lock is no lock
  }
}

/** Is the lock's runner alive, judged by its heartbeat (and, on this host, its pid)? */
export function lockAlive(lock: RunLock | undefined, now = Date.now(), staleAfterMs = STALE_AFTER_MS): boolean {
  if (!lock) return false;
  const beat = Date.parse(lock.heartbeatAt);
  if (!Number.isFinite(beat) || now - beat > staleAfterMs) return false;
  if (lock.host === hostname()) {
    try {
      process.kill(lock.pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    }
  }
  return true;
}

export class RunLockHandle {
  private current: RunLock;

  private constructor(private readonly file: string, lock: RunLock, public readonly tookOver: RunLock | undefined) {
    this.current = lock;
  }

  /** Take the lock, or take over a stale one; throws RunLockedError when a live runner holds it. */
  public static acquire(file: string, command: SessionCommand | 'cancel', now = new Date()): RunLockHandle {
    const lock: RunLock = {
      token: randomBytes(8).toString('hex'),
      host: hostname(),
      pid: process.pid,
      command,
      startedAt: now.toISOString(),
      heartbeatAt: now.toISOString(),
    };
    let tookOver: RunLock | undefined;
    for (let attempt = 0; attempt < 3; attempt++) {
      const existing = readLock(file);
      if (existsSync(file)) {
        if (existing && lockAlive(existing, now.getTime())) throw new RunLockedError(existing);
        // Stale (or damaged): move it aside; only one contender's rename succeeds.
        try {
          renameSync(file, join(dirname(file), `.lock.stale.${Date.now()}.${process.pid}`));
          tookOver = existing;
        } catch {
          continue;
        }
      }
      const tmp = join(dirname(file), `.lock.${lock.token}.tmp`);
      writeFileAtomic(tmp, JSON.stringify(lock, null, 2) + '\n');
      try {
        linkSync(tmp, file); // fails if another runner created the lock meanwhile
        fsyncDir(dirname(file));
        return new RunLockHandle(file, lock, tookOver);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        rmSync(tmp, { force: true });
      }
    }
    const holder = readLock(file);
    if (holder) throw new RunLockedError(holder);
    throw new Error(`Could not take the run lock ${file}.`);
  }

  public get lock(): RunLock {
    return this.current;
  }

  /** Rewrite the heartbeat; throws LockLostError if someone else holds the lock now. */
  public beat(concurrency?: RunLock['concurrency'], now = new Date()): void {
    const onDisk = readLock(this.file);
    if (!onDisk || onDisk.token !== this.current.token) throw new LockLostError(onDisk);
    this.current = { ...this.current, heartbeatAt: now.toISOString(), ...(concurrency ? { concurrency } : {}) };
    writeJsonAtomic(this.file, this.current, false); // a heartbeat need not survive a power loss: the runner does not either
  }

  /** Give the lock up (only if it is still ours). */
  public release(): void {
    try {
      const onDisk = readLock(this.file);
      if (onDisk && onDisk.token === this.current.token) rmSync(this.file, { force: true });
    } catch {
      // A directory that became read-only: the heartbeat goes stale and the lock is taken over.
    }
  }
}
