/*
 * The snapshot the engine hands the progress display: the fold's totals (the same numbers
 * status computes), the scheduler's partitions, the concurrency and the org's limits.
 */
import type { LedgerFold } from '../ledger/fold.js';
import type { PartitionStatus, ProgressSnapshot } from '../ledger/status-types.js';
import type { RunManifest, RunState } from '../state/types.js';
import type { Scheduler } from './scheduler.js';

export type SnapshotInput = {
  runId: string;
  state: RunState;
  manifest: RunManifest;
  fold: LedgerFold;
  scheduler?: Scheduler;
  limit: number;
  apiCalls: number;
  orgLimits: ProgressSnapshot['orgLimits'];
  /** Seconds since this session began. */
  elapsedSeconds: number;
  /** Rows loaded before this session (a resume): not part of its speed. */
  loadedBefore?: number;
};

export function snapshotOf(i: SnapshotInput): ProgressSnapshot {
  const t = i.fold.totals;
  const sourceRows = i.manifest.recount?.rows ?? i.manifest.plan.totalRows;
  const unread = Math.max(0, sourceRows - t.read);
  const rowsPerSecond = i.elapsedSeconds > 0 ? Math.max(0, t.loaded - (i.loadedBefore ?? 0)) / i.elapsedSeconds : 0;
  const left = t.pending + unread;
  const part = (index: number): PartitionStatus => {
    const p = i.fold.partitions[index];
    const plan = i.manifest.plan.partitions[index];
    return {
      index,
      state: p.exhausted && p.pending === 0 ? 'done' : p.started ? 'running' : 'pending',
      lowerExclusive: plan.lowerExclusive,
      upperInclusive: plan.upperInclusive,
      nullParent: plan.nullParent === true,
      plannedRows: plan.rows,
      read: p.read,
      loaded: p.loaded,
      failed: p.failed,
      pending: p.pending,
      retriedRows: p.retriedRows,
      jobs: p.jobs,
      inFlight: p.inFlight,
    };
  };
  const jobs = i.fold.jobTotals();
  return {
    runId: i.runId,
    state: i.state,
    elapsedSeconds: Math.round(i.elapsedSeconds * 10) / 10,
    totals: {
      sourceRows,
      read: t.read,
      unread,
      loaded: t.loaded,
      created: t.created,
      updated: t.updated,
      failed: t.failed,
      pending: t.pending,
      retriedRows: t.retriedRows,
      lockErrors: t.lockErrors,
      successRate: Math.max(sourceRows, t.read) > 0 ? Math.round((t.loaded / Math.max(sourceRows, t.read)) * 1e6) / 1e6 : 0,
      firstPassSuccessRate: t.firstPassRows > 0 ? Math.round((t.firstPassLoaded / t.firstPassRows) * 1e6) / 1e6 : null,
    },
    jobs,
    concurrency: { limit: i.limit, inFlight: i.scheduler?.jobsInFlight ?? jobs.inFlight },
    rowsPerSecond: Math.round(rowsPerSecond * 10) / 10,
    etaSeconds: rowsPerSecond > 0 && left > 0 ? Math.round(left / rowsPerSecond) : left === 0 ? 0 : null,
    // The ledger's count over every session, as status says it (calls of jobs with a result) plus this session's calls in flight.
    apiCalls: t.apiCalls + i.apiCalls,
    orgLimits: i.orgLimits,
    partitions: i.scheduler?.counts() ?? { total: i.fold.partitions.length, done: 0, running: 0, queued: i.fold.partitions.length },
    active: (i.scheduler?.active() ?? []).map(part),
  };
}
