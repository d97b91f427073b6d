/*
 * TEMPORARY (remove when the engine hands out the v2 ProgressSnapshot of
 * src/ledger/status-types.ts): today's engine snapshot (src/engine/runner.ts) in the v2
 * shape, so that LoadProgress is written against v2 while start/resume/retry-failures still
 * pass the old one. Counts the old snapshot lacks (lock errors, org limits) are 0 / null.
 */
import type { ProgressSnapshot as LegacySnapshot } from '../engine/runner.js';
import type { PartitionStatus, ProgressSnapshot } from '../ledger/status-types.js';

export type { LegacySnapshot };

export function isLegacySnapshot(s: ProgressSnapshot | LegacySnapshot): s is LegacySnapshot {
  return typeof (s as LegacySnapshot).concurrency === 'number';
}

export function fromLegacySnapshot(s: LegacySnapshot): ProgressSnapshot {
  const t = s.totals;
  const parts: PartitionStatus[] = s.partitions.map((p) => ({
    index: p.index,
    state: p.state === 'done' ? 'done' : p.state === 'running' ? 'running' : 'pending',
    lowerExclusive: null,
    upperInclusive: null,
    nullParent: false,
    plannedRows: p.plannedRows,
    read: p.read,
    loaded: p.loaded,
    failed: p.failed,
    pending: Math.max(0, p.read - p.loaded - p.failed),
    retriedRows: p.retried,
    jobs: p.jobs,
    inFlight: p.inFlight,
  }));
  const active = parts.filter((p) => p.inFlight > 0 || p.state === 'running').sort((a, b) => b.inFlight - a.inFlight || b.read - a.read || a.index - b.index);
  const done = parts.filter((p) => p.state === 'done').length;
  const running = parts.filter((p) => p.state === 'running').length;
  return {
    runId: s.runId,
    state: s.state,
    elapsedSeconds: s.elapsedSeconds,
    totals: {
      sourceRows: t.sourceRows,
      read: t.read,
      unread: Math.max(0, t.sourceRows - t.read),
      loaded: t.loaded,
      created: 0,
      updated: 0,
      failed: t.failed,
      pending: Math.max(0, t.read - t.loaded - t.failed),
      retriedRows: t.retried,
      lockErrors: 0,
      successRate: t.sourceRows ? t.loaded / t.sourceRows : 0,
      firstPassSuccessRate: null,
    },
    jobs: { total: t.jobs, orgJobs: t.jobs, completed: Math.max(0, t.jobs - t.inFlight), inFlight: t.inFlight, queued: 0, failedJobs: 0, retryJobs: 0 },
    concurrency: { limit: s.concurrency, inFlight: t.inFlight },
    rowsPerSecond: s.elapsedSeconds > 0 ? t.loaded / s.elapsedSeconds : 0,
    etaSeconds: s.etaSeconds ?? null,
    apiCalls: t.apiCalls,
    orgLimits: null,
    partitions: { total: parts.length, done, running, queued: parts.length - done - running },
    active,
  };
}
