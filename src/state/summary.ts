/*
 * The status of a run, folded from its run directory: what `sf datacloud load status`
 * prints and returns with --json, and what `report` renders. A pure read: it never writes,
 * needs no org, and is safe while a runner appends (atomic JSON files; NDJSON readers skip
 * a torn last line). One pass over jobs.ndjson and failures.ndjson.
 *
 * Count semantics (jobs.ndjson is the source of truth; the first `result` of a seq counts,
 * later duplicates are ignored):
 *   loaded       = Σ succeeded            created/updated = Σ created / Σ updated
 *   failed       = Σ failedFinal − Σ recovered (recovered: rows retry-failures loaded later)
 *   retriedRows  = Σ requeued             (row retries spent, transient errors and unprocessed rows)
 *   read         = per partition max(checkpoint.readRows, Σ freshRows of its planned load jobs)
 *   pending      = max(0, sourceRows − loaded − failed): rows not yet final
 *   jobs.total   = distinct seqs with a `created` record; jobs.orgJobs = `created` records
 *   jobs.inFlight= seqs created (or closed) with no result and not aborted since
 *   apiCalls     = Σ apiCalls of results
 *
 * failuresByCode comes from failures.ndjson (last record per key wins; `loaded` supersedes
 * `failed`). While a job's result is being recorded its failures may be written a moment
 * before its result, so failuresByCode can briefly run ahead of totals.failed.
 *
 * Schema: schemas/status.json (keep both in step; bump STATUS_SCHEMA_VERSION on a breaking change).
 */
import { currentFailures, type RunDir } from './run-dir.js';
import type { FailureRecord, JobLogRecord, KeyValue, PartitionCheckpoint, RunManifest, RunState } from './types.js';

export const STATUS_SCHEMA_VERSION = 1 as const;

/** run.json's state, or `crashed`: recorded as running but no runner is alive (resumable). */
export type RunStatusState = RunState | 'crashed';

/**
 * in-progress: a live runner is working (exit 0)
 * ok: completed, and no failed rows or the success rate meets the threshold (exit 0)
 * partial: completed with failed rows below the threshold (exit 2)
 * needs-resume: crashed, stopped, failed, cancelled, or planned with no runner (exit 3)
 */
export type HealthVerdict = 'in-progress' | 'ok' | 'partial' | 'needs-resume';

export type StatusExitCode = 0 | 2 | 3;

export type PartitionStatus = {
  index: number;
  /** Checkpoint state; `pending` when the partition has no checkpoint yet. */
  state: PartitionCheckpoint['state'];
  /** Partition bounds on plan.partitionColumn: values > lowerExclusive and <= upperInclusive (null = open). */
  lowerExclusive: KeyValue | null;
  upperInclusive: KeyValue | null;
  /** Rows counted at plan time. */
  plannedRows: number;
  /** Source rows read (first pass). */
  read: number;
  loaded: number;
  failed: number;
  retriedRows: number;
  /** Distinct jobs created in the org. */
  jobs: number;
  inFlight: number;
  exhausted: boolean;
  startedAt: string | null;
  endedAt: string | null;
};

export type FailureGroup = {
  /** Rows whose latest record is `failed` with this code. */
  count: number;
  /** Up to 5 keys, in the order they first failed. */
  sampleKeys: KeyValue[];
  /** The message of the first of them. */
  message: string;
  /** The error is of the transient kind (e.g. UNABLE_TO_LOCK_ROW that ran out of attempts). */
  transient: boolean;
};

export type RunStatus = {
  schemaVersion: typeof STATUS_SCHEMA_VERSION;
  runId: string;
  runDir: string;
  name: string | null;
  state: RunStatusState;
  /** The state written in run.json. */
  recordedState: RunState;
  runnerAlive: boolean;
  /** The runner's last heartbeat (pid, host, time, command), when there is one. */
  runner: { pid: number; host: string; at: string; command: string } | null;
  cancelRequestedAt: string | null;
  health: {
    verdict: HealthVerdict;
    /** What `status` exits with: 0 fine/in progress, 2 partial failure, 3 needs resume. */
    exitCode: StatusExitCode;
    /** The threshold used, percent (0..100). */
    minSuccessRate: number;
    message: string;
    /** The command to run next, if any. */
    next: string | null;
  };
  source: { object: string; keyColumn: string; parentColumn: string | null };
  target: { object: string; externalIdField: string; operation: string };
  /** Who the run loads into; run.json holds no token and neither does this. */
  org: { username: string | null; orgId: string | null; instanceUrl: string | null; apiVersion: string };
  totals: {
    sourceRows: number;
    read: number;
    loaded: number;
    created: number;
    updated: number;
    failed: number;
    pending: number;
    retriedRows: number;
    /** loaded / sourceRows, a fraction 0..1 (0 when sourceRows is 0). */
    successRate: number;
    /** Of the rows of first-pass load jobs with a result, the fraction saved on the first attempt (null before any). */
    firstPassSuccessRate: number | null;
  };
  jobs: {
    /** Distinct run jobs (seqs) created in the org. */
    total: number;
    /** Org jobs created, including re-creations of one seq after a resume. */
    orgJobs: number;
    /** Seqs with a result. */
    completed: number;
    inFlight: number;
    /** Planned, not yet created in the org. */
    queued: number;
    /** Results whose org job ended Failed or Aborted. */
    failedJobs: number;
    /** Seqs that carry retried rows (created in the org). */
    retryJobs: number;
  };
  apiCalls: number;
  partitions: PartitionStatus[];
  timing: {
    createdAt: string;
    startedAt: string | null;
    endedAt: string | null;
    /** The latest time anything was recorded (job log, heartbeat, session end). */
    lastActivityAt: string | null;
    /** Sum over sessions (start, resume, retry-failures) of their running time. */
    elapsedSeconds: number;
    /** loaded per minute of elapsedSeconds. */
    throughputPerMinute: number;
    /** loaded per minute over the last 10 minutes of the current session (null when no runner is alive). */
    recentThroughputPerMinute: number | null;
    /** pending / recent throughput, while a runner is alive; null otherwise. */
    etaSeconds: number | null;
    sessions: Array<{ command: string; startedAt: string; endedAt: string | null; outcome: string | null; seconds: number }>;
  };
  failuresByCode: Record<string, FailureGroup>;
  settings: {
    profile: string;
    strategy: string;
    partitionBy: string;
    rowsPerJob: number;
    /** As configured (a number or `auto`). */
    partitions: number | 'auto';
    plannedPartitions: number;
    staggerSeconds: number;
    delaySeconds: [number, number];
    retryDelaysSeconds: number[];
    /** Attempts per row, the first included. */
    maxAttempts: number;
    maxConcurrency: number;
  };
  error: { name: string; message: string } | null;
  files: {
    manifest: string;
    jobLog: string;
    failures: string;
    events: string;
    heartbeat: string;
    partitions: string;
  };
};

/** One job result, reduced to what time series need. */
export type ResultPoint = { at: number; partition: number; succeeded: number; failed: number; rows: number };

export type SummarizeOptions = {
  /** Percent 0..100; a completed run with failed rows meets it when successRate ≥ it. Default 100. */
  minSuccessRate?: number;
  /** "Now", for tests. */
  now?: number;
};

/** A new runner's first heartbeat may lag its manifest update by a moment. */
const STARTUP_GRACE_MS = 10_000;
const RECENT_WINDOW_S = 600;

/** The status of a run (see the top of this file). */
export function summarizeRun(run: RunDir, opts: SummarizeOptions = {}): RunStatus {
  return readRun(run, opts).status;
}

type SeqFold = { partition: number; kind: string; retry: boolean; created: boolean; live: boolean; result: boolean; jobId?: string };

/** The status and the job results as points in time (for report's throughput charts). */
export function readRun(run: RunDir, opts: SummarizeOptions = {}): { status: RunStatus; points: ResultPoint[] } {
  const now = opts.now ?? Date.now();
  const minSuccessRate = opts.minSuccessRate ?? 100;
  // Order matters for a consistent view while a runner writes: the manifest first, then
  // the job log (a result may appear that the manifest doesn't yet know ended: harmless).
  const m: RunManifest = run.readManifest();
  const log: JobLogRecord[] = run.readJobLog();
  const failures: FailureRecord[] = run.readFailures();
  const heartbeat = run.readHeartbeat() ?? null;
  const cancel = run.readCancel();
  const nParts = m.plan.partitions.length;

  const parts: PartitionStatus[] = m.plan.partitions.map((p) => {
    const cp = run.readCheckpoint(p.index);
    return {
      index: p.index,
      state: cp?.state ?? 'pending',
      lowerExclusive: p.lowerExclusive,
      upperInclusive: p.upperInclusive,
      plannedRows: p.rows,
      read: cp?.readRows ?? 0,
      loaded: 0,
      failed: 0,
      retriedRows: 0,
      jobs: 0,
      inFlight: 0,
      exhausted: cp?.exhausted ?? false,
      startedAt: cp?.startedAt ?? null,
      endedAt: cp?.endedAt ?? null,
    };
  });
  const freshRead = new Array<number>(nParts).fill(0);
  const part = (i: number): PartitionStatus | undefined => parts[i];

  const seqs = new Map<number, SeqFold>();
  const points: ResultPoint[] = [];
  let created = 0;
  let updated = 0;
  let apiCalls = 0;
  let orgJobs = 0;
  let failedJobs = 0;
  let firstPassRows = 0;
  let firstPassOk = 0;
  let lastActivity = 0;

  for (const rec of log) {
    const at = Date.parse(rec.at);
    if (at > lastActivity) lastActivity = at;
    if (rec.t === 'planned') {
      if (!seqs.has(rec.seq)) {
        seqs.set(rec.seq, { partition: rec.partition, kind: rec.kind, retry: rec.retryRows > 0 && rec.freshRows === 0, created: false, live: false, result: false });
        if (rec.kind === 'load' && rec.freshRows > 0 && rec.partition < nParts) freshRead[rec.partition] += rec.freshRows;
      }
      continue;
    }
    const st = seqs.get(rec.seq);
    if (!st) continue;
    if (rec.t === 'created') {
      orgJobs++;
      if (!st.created) {
        st.created = true;
        const p = part(st.partition);
        if (p) p.jobs++;
      }
      st.live = true;
      st.jobId = rec.jobId;
    } else if (rec.t === 'closed') {
      // still live
    } else if (rec.t === 'aborted') {
      // An abort of an older org job of this seq does not end the newer one.
      if (rec.jobId === st.jobId || !rec.jobId) st.live = false;
    } else if (rec.t === 'result' && !st.result) {
      st.result = true;
      st.live = false;
      const p = part(rec.partition);
      const failed = rec.failedFinal - rec.recovered;
      if (p) {
        p.loaded += rec.succeeded;
        p.failed += failed;
        p.retriedRows += rec.requeued;
      }
      created += rec.created;
      updated += rec.updated;
      apiCalls += rec.apiCalls;
      if (rec.state === 'Failed' || rec.state === 'Aborted') failedJobs++;
      if (rec.kind === 'load' && !st.retry) {
        firstPassRows += rec.rows;
        firstPassOk += rec.succeeded;
      }
      points.push({ at, partition: rec.partition, succeeded: rec.succeeded, failed, rows: rec.rows });
    }
  }

  let inFlight = 0;
  let queued = 0;
  let completed = 0;
  let retryJobs = 0;
  for (const st of seqs.values()) {
    if (st.result) completed++;
    if (st.created && st.retry) retryJobs++;
    if (st.live && !st.result) {
      inFlight++;
      const p = part(st.partition);
      if (p) p.inFlight++;
    } else if (!st.created && !st.result) queued++;
  }
  for (const p of parts) p.read = Math.max(p.read, freshRead[p.index] ?? 0);

  // Failures: last record per key wins.
  const failuresByCode: Record<string, FailureGroup> = {};
  for (const f of currentFailures(failures)) {
    const g = (failuresByCode[f.code] ??= { count: 0, sampleKeys: [], message: f.message, transient: f.transient });
    g.count++;
    if (g.sampleKeys.length < 5) g.sampleKeys.push(f.key);
  }

  // Liveness and state.
  const hbAt = heartbeat ? Date.parse(heartbeat.at) : 0;
  if (hbAt > lastActivity) lastActivity = hbAt;
  const lastSession = m.sessions[m.sessions.length - 1];
  let alive = run.runnerAlive();
  if (!alive && (m.state === 'running' || m.state === 'stopping') && lastSession && !lastSession.endedAt) {
    const started = Date.parse(lastSession.startedAt);
    // The runner writes run.json (running) a moment before its first heartbeat.
    if (now - started < STARTUP_GRACE_MS && hbAt < started) alive = true;
  }
  const state: RunStatusState = (m.state === 'running' || m.state === 'stopping') && !alive ? 'crashed' : m.state;

  // Timing: sessions end at endedAt, else (a crash) at the last activity before the next session.
  const activity = log.map((r) => Date.parse(r.at));
  const sessions = m.sessions.map((s, i) => {
    const start = Date.parse(s.startedAt);
    const next = m.sessions[i + 1] ? Date.parse(m.sessions[i + 1].startedAt) : Infinity;
    let end: number;
    if (s.endedAt) end = Date.parse(s.endedAt);
    else if (i === m.sessions.length - 1 && alive) end = now;
    else {
      end = start;
      for (const a of activity) if (a > end && a < next) end = a;
      if (i === m.sessions.length - 1 && hbAt > end) end = hbAt;
    }
    if (s.endedAt && Date.parse(s.endedAt) > lastActivity) lastActivity = Date.parse(s.endedAt);
    return { command: s.command, startedAt: s.startedAt, endedAt: s.endedAt ?? null, outcome: s.outcome ?? null, seconds: round(Math.max(0, end - start) / 1000, 1) };
  });
  const elapsedSeconds = round(sessions.reduce((n, s) => n + s.seconds, 0), 1);

  const sourceRows = m.plan.totalRows;
  const loaded = sum(parts, 'loaded');
  const failed = sum(parts, 'failed');
  const pending = Math.max(0, sourceRows - loaded - failed);
  const successRate = sourceRows > 0 ? round(loaded / sourceRows, 6) : 0;
  const throughputPerMinute = elapsedSeconds > 0 ? round((loaded / elapsedSeconds) * 60, 1) : 0;

  let recentThroughputPerMinute: number | null = null;
  let etaSeconds: number | null = null;
  if (alive && lastSession) {
    const sessionStart = Date.parse(lastSession.startedAt);
    const windowStart = Math.max(sessionStart, now - RECENT_WINDOW_S * 1000);
    const windowS = Math.max(1, (now - windowStart) / 1000);
    let recent = 0;
    for (const p of points) if (p.at >= windowStart) recent += p.succeeded;
    recentThroughputPerMinute = round((recent / windowS) * 60, 1);
    const rate = recentThroughputPerMinute > 0 ? recentThroughputPerMinute : throughputPerMinute;
    if (rate > 0) etaSeconds = pending > 0 ? Math.round((pending / rate) * 60) : 0;
  }

  const startedAt = m.sessions[0]?.startedAt ?? null;
  const endedAt = m.endedAt ?? (state !== 'running' && state !== 'crashed' && state !== 'planned' && lastSession?.endedAt ? lastSession.endedAt : null);
  const health = verdict(state, alive, failed, sourceRows, loaded, minSuccessRate, run.runId);
  const pacing = m.definition.pacing;

  const status: RunStatus = {
    schemaVersion: STATUS_SCHEMA_VERSION,
    runId: run.runId,
    runDir: run.dir,
    name: m.definition.name ?? null,
    state,
    recordedState: m.state,
    runnerAlive: alive,
    runner: heartbeat ? { pid: heartbeat.pid, host: heartbeat.host, at: heartbeat.at, command: heartbeat.command } : null,
    cancelRequestedAt: cancel?.at ?? null,
    health,
    source: { object: m.definition.source.object, keyColumn: m.definition.source.keyColumn, parentColumn: m.definition.source.parentColumn ?? null },
    target: { object: m.definition.target.object, externalIdField: m.definition.target.externalIdField, operation: m.definition.target.operation },
    org: { username: m.org.username ?? null, orgId: m.org.orgId ?? null, instanceUrl: m.org.instanceUrl ?? null, apiVersion: m.org.apiVersion },
    totals: {
      sourceRows,
      read: sum(parts, 'read'),
      loaded,
      created,
      updated,
      failed,
      pending,
      retriedRows: sum(parts, 'retriedRows'),
      successRate,
      firstPassSuccessRate: firstPassRows > 0 ? round(firstPassOk / firstPassRows, 6) : null,
    },
    jobs: { total: sum(parts, 'jobs'), orgJobs, completed, inFlight, queued, failedJobs, retryJobs },
    apiCalls,
    partitions: parts,
    timing: {
      createdAt: m.createdAt,
      startedAt,
      endedAt,
      lastActivityAt: lastActivity > 0 ? new Date(lastActivity).toISOString() : null,
      elapsedSeconds,
      throughputPerMinute,
      recentThroughputPerMinute,
      etaSeconds,
      sessions,
    },
    failuresByCode,
    settings: {
      profile: pacing.profile,
      strategy: pacing.strategy,
      partitionBy: pacing.partitionBy,
      rowsPerJob: m.plan.rowsPerJob ?? (pacing.rowsPerJob === 'auto' ? 0 : pacing.rowsPerJob),
      partitions: pacing.partitions,
      plannedPartitions: nParts,
      staggerSeconds: pacing.staggerSeconds,
      delaySeconds: [pacing.delaySeconds[0], pacing.delaySeconds[1]],
      retryDelaysSeconds: [...pacing.retryDelaysSeconds],
      maxAttempts: pacing.maxAttempts,
      maxConcurrency: pacing.maxConcurrency,
    },
    error: m.error ? { name: m.error.name, message: m.error.message } : null,
    files: {
      manifest: run.manifestFile,
      jobLog: run.jobLogFile,
      failures: run.failuresFile,
      events: run.eventsFile,
      heartbeat: run.heartbeatFile,
      partitions: run.partitionFile(0).replace(/[/\\][^/\\]+$/, ''),
    },
  };
  return { status, points };
}

/** The verdict and exit code of a run for a success-rate threshold (percent). */
export function verdict(
  state: RunStatusState,
  alive: boolean,
  failed: number,
  sourceRows: number,
  loaded: number,
  minSuccessRate: number,
  runId: string
): RunStatus['health'] {
  const resume = `sf datacloud load resume --run-id ${runId}`;
  const base = { minSuccessRate };
  if (state === 'completed') {
    const pct = sourceRows > 0 ? (100 * loaded) / sourceRows : 0;
    if (failed === 0) return { ...base, verdict: 'ok', exitCode: 0, message: 'Completed: every row loaded.', next: null };
    const retry = `sf datacloud load retry-failures --run-id ${runId}`;
    if (pct >= minSuccessRate) {
      return { ...base, verdict: 'ok', exitCode: 0, message: `Completed with ${failed.toLocaleString('en-US')} failed rows; success rate ${pct.toFixed(2)}% meets ${minSuccessRate}%.`, next: retry };
    }
    return { ...base, verdict: 'partial', exitCode: 2, message: `Completed with ${failed.toLocaleString('en-US')} failed rows; success rate ${pct.toFixed(2)}% is below ${minSuccessRate}%.`, next: retry };
  }
  if ((state === 'running' || state === 'stopping' || state === 'planned') && alive) {
    return { ...base, verdict: 'in-progress', exitCode: 0, message: state === 'stopping' ? 'Stopping.' : 'Running.', next: null };
  }
  const why: Record<string, string> = {
    crashed: 'The runner is gone (crashed, killed or its machine slept) while the run was running.',
    stopped: 'Stopped before the end (Ctrl-C or a stop request).',
    cancelled: 'Cancelled.',
    failed: 'Failed.',
    planned: 'Planned, but no runner has started it.',
  };
  return { ...base, verdict: 'needs-resume', exitCode: 3, message: `${why[state] ?? state} Resume it to continue; nothing recorded is lost.`, next: resume };
}

function sum<K extends 'read' | 'loaded' | 'failed' | 'retriedRows' | 'jobs' | 'inFlight'>(parts: PartitionStatus[], k: K): number {
  let n = 0;
  for (const p of parts) n += p[k];
  return n;
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
