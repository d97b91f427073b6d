/*
 * Run directories that look like real loads, for report tests and screenshots: a seeded
 * simulation of partitions whose jobs (one in flight per partition, at most `limit` in
 * flight in all, the limit changing over time) take tens of seconds, hit lock errors that
 * are retried in later jobs, fail some rows for good, and stop and resume across sessions.
 * Written through RunFixture (the RunDir writer API the engine uses): a job's requeued rows
 * plan its retry job (a real retry chain, attempt + 1), recorded when the simulation runs it;
 * retry jobs never started stay planned (pending).
 */
import { appendFileSync } from 'node:fs';
import type { PacingSettings, RunState } from '../../src/state/types.js';
import { RunFixture } from '../helpers/runs.js';

export type SimSession = { command: 'start' | 'resume' | 'retry-failures'; start: number; end?: number; outcome?: RunState | 'crashed' };

export type SimSpec = {
  runId: string;
  name?: string;
  /** Epoch ms of second 0. */
  start: number;
  rows: number;
  partitions: number;
  rowsPerJob: number;
  pacing?: Partial<PacingSettings>;
  /** Job duration range, seconds. */
  jobSeconds: [number, number];
  /** Share of a first-attempt job's rows that come back UNABLE_TO_LOCK_ROW (random up to it). */
  lockRate: number;
  /** Share of fresh rows that fail for good (FIELD_CUSTOM_VALIDATION_EXCEPTION). */
  failRate: number;
  /** Sessions in seconds from the start; a last session without end runs until the load is done. */
  sessions: SimSession[];
  /** The concurrency limit over time (seconds from the start). */
  limits: Array<{ at: number; limit: number }>;
  seed?: number;
};

/** A job in flight; retryOf: the seq whose result planned it (a retry job). */
type Job = { partition: number; rows: number; attempt: number; retryOf?: number; startedAt: number; end: number };

export function simulateRun(root: string, spec: SimSpec): RunFixture {
  const per = Math.floor(spec.rows / spec.partitions);
  const partitionRows = Array.from({ length: spec.partitions }, (_, i) => (i === spec.partitions - 1 ? spec.rows - per * (spec.partitions - 1) : per));
  const f = new RunFixture(root, {
    runId: spec.runId,
    ...(spec.name ? { name: spec.name } : {}),
    partitionRows,
    start: spec.start,
    pacing: { rowsPerJob: spec.rowsPerJob, maxConcurrency: Math.max(...spec.limits.map((l) => l.limit)), partitions: 'auto', ...spec.pacing },
  });
  const rand = mulberry32(spec.seed ?? 7);
  const maxAttempts = spec.pacing?.maxAttempts ?? 4;
  const left = [...partitionRows];
  const retries: Array<Array<{ rows: number; attempt: number; retryOf: number; notBefore: number }>> = partitionRows.map(() => []);
  const busy = new Array<Job | null>(spec.partitions).fill(null);
  let key = 0;
  const limitAt = (t: number): number => {
    let v = spec.limits[0].limit;
    for (const l of spec.limits) if (l.at <= t) v = l.limit;
    return v;
  };
  for (const l of spec.limits) {
    appendFileSync(f.run.eventsFile, JSON.stringify({ at: f.iso(l.at), level: 'info', type: 'concurrency', message: `Concurrency limit ${l.limit}`, data: { limit: l.limit } }) + '\n');
  }
  const finish = (j: Job, at: number): void => {
    const lock = Math.min(j.rows, Math.round(j.rows * spec.lockRate * rand() * (j.attempt === 1 ? 1 : 0.3)));
    const permanent = j.retryOf === undefined ? Math.min(j.rows - lock, Math.round(j.rows * spec.failRate * rand() * 2)) : 0;
    const lockFinal = j.attempt >= maxAttempts ? lock : 0;
    const requeued = lock - lockFinal;
    const keys = (n: number): string[] => Array.from({ length: n }, () => `${spec.runId.slice(-4)}-${key++}`);
    const seq = f.job({
      partition: j.partition,
      rows: j.rows,
      startedAt: j.startedAt,
      at,
      requeued,
      retryOutcome: 'pending',
      lockErrors: lock,
      ...(j.retryOf !== undefined ? { retryOf: j.retryOf } : {}),
      failures: { ...(permanent ? { FIELD_CUSTOM_VALIDATION_EXCEPTION: keys(permanent) } : {}), ...(lockFinal ? { UNABLE_TO_LOCK_ROW: keys(lockFinal) } : {}) },
      transientCodes: ['UNABLE_TO_LOCK_ROW'],
    });
    if (requeued) retries[j.partition].push({ rows: requeued, attempt: j.attempt + 1, retryOf: seq, notBefore: at + 5 + 10 * j.attempt });
  };
  const done = (): boolean => left.every((n) => n === 0) && retries.every((r) => r.length === 0) && busy.every((b) => b === null);

  spec.sessions.forEach((s, si) => {
    const last = si === spec.sessions.length - 1;
    // Jobs left in flight by the previous session get their result once this one begins.
    for (let p = 0; p < busy.length; p++) {
      const j = busy[p];
      if (j) {
        finish(j, s.start + 3 + p * 0.1);
        busy[p] = null;
      }
    }
    let t = s.start + 3;
    const end = s.end ?? Infinity;
    for (; t < end && !(done() && s.end === undefined); t += 1) {
      for (let p = 0; p < busy.length; p++) {
        const j = busy[p];
        if (j && j.end <= t) {
          finish(j, t);
          busy[p] = null;
        }
      }
      let inFlight = busy.filter(Boolean).length;
      for (let p = 0; p < busy.length && inFlight < limitAt(t); p++) {
        if (busy[p]) continue;
        const r = retries[p].findIndex((x) => x.notBefore <= t);
        const duration = spec.jobSeconds[0] + rand() * (spec.jobSeconds[1] - spec.jobSeconds[0]);
        if (r >= 0) {
          const [x] = retries[p].splice(r, 1);
          busy[p] = { partition: p, rows: x.rows, attempt: x.attempt, retryOf: x.retryOf, startedAt: t, end: t + duration * Math.max(0.3, x.rows / spec.rowsPerJob) };
        } else if (left[p] > 0) {
          const rows = Math.min(spec.rowsPerJob, left[p]);
          left[p] -= rows;
          busy[p] = { partition: p, rows, attempt: 1, startedAt: t, end: t + duration };
        } else continue;
        inFlight++;
      }
      if (s.end === undefined && done()) break;
    }
    // The run's last session left its jobs in flight open: created and closed, no result.
    if (last) for (const j of busy) if (j) leaveOpen(f, j);
    if (s.outcome === 'crashed') f.session(s.command, s.start);
    else f.session(s.command, s.start, s.end ?? t + 2, s.outcome ?? 'completed');
  });
  if (done()) f.finishPartitions();
  return f;
}

function leaveOpen(f: RunFixture, j: Job): void {
  f.job({ partition: j.partition, rows: j.rows, startedAt: j.startedAt, at: j.startedAt + 1, ...(j.retryOf !== undefined ? { retryOf: j.retryOf } : {}), stopAfter: 'closed' });
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
