/*
 * TEMPORARY (remove when src/ledger's readRunHistory lands): a RunHistory (RunStatus v2,
 * job spans, concurrency over time) built from today's readRun (src/state/summary.ts, v1)
 * and the job log, so that report and its renderers are written against the v2 vocabulary
 * now. The lead replaces every call of legacyRunHistory(run) with readRunHistory(run).
 *
 * Approximations the real fold does properly: lockErrors counts UNABLE_TO_LOCK_ROW in each
 * result's errorCodes; the concurrency limit comes from `concurrency` events when there are
 * any, else it is the setting's maxConcurrency for the whole run; org.alias is null.
 */
import type { RunDir } from '../state/run-dir.js';
import { readRun } from '../state/summary.js';
import { shellArg } from './format.js';
import type { JobLogRecord } from '../state/types.js';
import { STATUS_SCHEMA_VERSION, type JobSpan, type PartitionStatus, type RunHistory, type RunStatus } from '../ledger/status-types.js';

const NOT_RETRYABLE = new Set(['DUPLICATE_SOURCE_KEY', 'MISSING_KEY']);

export function legacyRunHistory(run: RunDir, opts: { now?: number; minSuccessRate?: number } = {}): RunHistory {
  const { status: v1 } = readRun(run, opts);
  const m = run.readManifest();
  const log = run.readJobLog();
  const jobs = spans(log);
  const lockErrors = jobs.reduce((n, j) => n + j.lockErrors, 0);

  const partitions: PartitionStatus[] = v1.partitions.map((p) => ({
    index: p.index,
    state: p.state === 'failed' ? 'running' : p.state,
    lowerExclusive: p.lowerExclusive,
    upperInclusive: p.upperInclusive,
    nullParent: false,
    plannedRows: p.plannedRows,
    read: p.read,
    loaded: p.loaded,
    failed: p.failed,
    pending: Math.max(0, p.read - p.loaded - p.failed),
    retriedRows: p.retriedRows,
    jobs: p.jobs,
    inFlight: p.inFlight,
  }));
  const t = v1.totals;
  const pacing = m.definition.pacing;
  const firstStart = m.sessions[0] ? Date.parse(m.sessions[0].startedAt) : Date.parse(m.createdAt);
  const concurrency = run
    .readEvents()
    .filter((e) => e.type === 'concurrency' && typeof e.data?.limit === 'number')
    .map((e) => ({ at: Date.parse(e.at), limit: e.data!.limit as number }));
  if (concurrency.length === 0 || concurrency[0].at > firstStart) concurrency.unshift({ at: firstStart, limit: pacing.maxConcurrency });

  const status: RunStatus = {
    schemaVersion: STATUS_SCHEMA_VERSION,
    runId: v1.runId,
    runDir: v1.runDir,
    name: v1.name,
    state: v1.state,
    recordedState: v1.recordedState,
    runnerAlive: v1.runnerAlive,
    runner: v1.runner,
    cancelRequestedAt: v1.cancelRequestedAt,
    health: { ...v1.health, exitCode: v1.health.verdict === 'in-progress' ? 4 : v1.health.exitCode, next: withOrg(v1.health.next, v1.org.username) },
    source: { ...v1.source, filter: m.definition.source.filter ?? null },
    target: { ...v1.target, mapping: { ...m.definition.target.mapping } },
    org: { username: v1.org.username, alias: null, orgId: v1.org.orgId, instanceUrl: v1.org.instanceUrl, apiVersion: v1.org.apiVersion },
    totals: {
      sourceRows: t.sourceRows,
      read: t.read,
      unread: Math.max(0, t.sourceRows - t.read),
      loaded: t.loaded,
      created: t.created,
      updated: t.updated,
      failed: t.failed,
      pending: Math.max(0, t.read - t.loaded - t.failed),
      retriedRows: t.retriedRows,
      lockErrors,
      successRate: t.successRate,
      firstPassSuccessRate: t.firstPassSuccessRate,
    },
    jobs: v1.jobs,
    apiCalls: v1.apiCalls,
    concurrency: null,
    partitions,
    timing: {
      createdAt: v1.timing.createdAt,
      startedAt: v1.timing.startedAt,
      endedAt: v1.timing.endedAt,
      lastActivityAt: v1.timing.lastActivityAt,
      elapsedSeconds: v1.timing.elapsedSeconds,
      rowsPerSecond: Math.round((v1.timing.throughputPerMinute / 60) * 100) / 100,
      recentRowsPerSecond: v1.timing.recentThroughputPerMinute === null ? null : Math.round((v1.timing.recentThroughputPerMinute / 60) * 100) / 100,
      etaSeconds: v1.timing.etaSeconds,
      sessions: v1.timing.sessions,
    },
    failuresByCode: Object.fromEntries(Object.entries(v1.failuresByCode).map(([code, g]) => [code, { ...g, retryable: !NOT_RETRYABLE.has(code) }])),
    duplicates: { keys: 0, extraRows: 0, examples: [] },
    settings: { ...pacing, rowsPerJob: v1.settings.rowsPerJob, plannedPartitions: v1.settings.plannedPartitions },
    problems: [],
    error: v1.error,
    files: { manifest: v1.files.manifest, jobLog: v1.files.jobLog, failures: v1.files.failures, events: v1.files.events, lock: v1.files.heartbeat, partitions: v1.files.partitions },
  };
  return { status, jobs, concurrency };
}

/** v1's next command lacks -o; v2's is runnable as printed. */
function withOrg(next: string | null, username: string | null): string | null {
  if (!next || !username || / (-o|--target-org) /.test(next)) return next;
  return next.replace(/^(sf datacloud load (?:resume|retry-failures))/, `$1 -o ${shellArg(username)}`);
}

/** One span per seq: planned → first created → result. */
function spans(log: JobLogRecord[]): JobSpan[] {
  const bySeq = new Map<number, JobSpan>();
  for (const rec of log) {
    if (rec.t === 'planned') {
      if (bySeq.has(rec.seq)) continue;
      const retry = rec.freshRows === 0 && rec.retryRows > 0;
      bySeq.set(rec.seq, {
        seq: rec.seq,
        partition: rec.partition,
        kind: rec.kind === 'failures-retry' ? 'failures-retry' : retry ? 'retry' : 'load',
        attempt: retry ? 2 : 1,
        rows: rec.rows,
        createdAt: null,
        resultAt: null,
        succeeded: 0,
        failed: 0,
        requeued: 0,
        lockErrors: 0,
        state: null,
      });
      continue;
    }
    const j = bySeq.get(rec.seq);
    if (!j) continue;
    if (rec.t === 'created' && j.createdAt === null) j.createdAt = Date.parse(rec.at);
    if (rec.t === 'result' && j.resultAt === null) {
      j.resultAt = Date.parse(rec.at);
      j.succeeded = rec.succeeded;
      j.failed = Math.max(0, rec.failedFinal - rec.recovered);
      j.requeued = rec.requeued;
      j.lockErrors = rec.errorCodes.UNABLE_TO_LOCK_ROW ?? 0;
      j.state = rec.state;
      if (rec.state === 'LocalReject') j.kind = 'reject';
    }
  }
  return [...bySeq.values()];
}
