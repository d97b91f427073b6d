/*
 * The status of a run: the fold of its ledger (fold.ts) put together with its manifest,
 * its lock and the hints a user can paste. A pure read: it never writes, needs no org, and
 * is safe while the runner appends. What `status` prints and returns with --json, what
 * `report` renders, what `cancel` checks.
 *
 * The state is derived, not trusted: run.json says what the last session recorded; the
 * lock says whether a runner is alive; the ledger says whether every source row is read
 * and final. `completed` needs all three to agree, and where they do not, `problems` says
 * so in words.
 */
import { join } from 'node:path';
import { lockAlive, readLock } from '../state/run-lock.js';
import { runsRoot, type RunDir } from '../state/run-dir.js';
import type { RunManifest, RunState } from '../state/types.js';
import { LedgerFold } from './fold.js';
import { readLedger } from './read.js';
import { STATUS_SCHEMA_VERSION, type Health, type RunHistory, type RunStatus, type RunStatusState } from './status-types.js';

export type SummarizeOptions = {
  /** Percent 0..100 of source rows that must be loaded for `ok` (default 100). */
  minSuccessRate?: number;
  now?: number;
};

const RECENT_WINDOW_MS = 600_000;

export function summarizeRun(run: RunDir, opts: SummarizeOptions = {}): RunStatus {
  const { manifest, fold } = readLedger(run);
  return statusOf(run, manifest, fold, opts);
}

export function readRunHistory(run: RunDir, opts: SummarizeOptions = {}): RunHistory {
  const { manifest, fold } = readLedger(run);
  const status = statusOf(run, manifest, fold, opts);
  const concurrency: RunHistory['concurrency'] = [];
  for (const e of run.readEvents()) {
    if (e.type === 'concurrency' && typeof e.data?.limit === 'number') concurrency.push({ at: Date.parse(e.at), limit: e.data.limit });
  }
  return { status, jobs: fold.spans(), concurrency };
}

/** The command that continues a run, runnable as printed. */
export function hint(run: RunDir, m: RunManifest, command: 'resume' | 'retry-failures' | 'status' | 'report'): string {
  const org = m.org.alias ?? m.org.username;
  const needsOrg = command === 'resume' || command === 'retry-failures';
  const root = join(run.dir, '..');
  const runsDir = root !== runsRoot() ? ` --runs-dir ${shellQuote(root)}` : '';
  return `sf datacloud load ${command}${needsOrg && org ? ` -o ${shellQuote(org)}` : ''} --run-id ${run.runId}${runsDir}`;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_@./:=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

export function statusOf(run: RunDir, m: RunManifest, fold: LedgerFold, opts: SummarizeOptions = {}): RunStatus {
  const now = opts.now ?? Date.now();
  const minSuccessRate = opts.minSuccessRate ?? 100;
  const lock = readLock(run.lockFile);
  const alive = lockAlive(lock, now);
  const cancel = run.readCancel();
  const t = fold.totals;
  const problems = fold.problems();

  const allExhausted = fold.partitions.every((p) => p.exhausted);
  const finished = allExhausted && t.pending === 0;
  let state: RunStatusState;
  if (alive) state = m.state === 'stopping' ? 'stopping' : 'running';
  else if (m.state === 'running' || m.state === 'stopping') state = 'crashed';
  else state = m.state;
  if ((m.state === 'completed' || m.state === 'incomplete') && !finished) {
    problems.push(
      `run.json says ${m.state}, but the job log accounts for ${t.read.toLocaleString('en-US')} rows read with ${t.pending.toLocaleString('en-US')} pending` +
        `${allExhausted ? '' : ' and partitions not read to the end'}: jobs.ndjson is shorter than the run (damaged or truncated?)`
    );
  }

  const sourceRows = m.recount?.rows ?? m.plan.totalRows;
  const unread = Math.max(0, sourceRows - t.read);
  // A source that shrank during the run has fewer rows now than were read: rate over the larger.
  const successRate = Math.max(sourceRows, t.read) > 0 ? round(t.loaded / Math.max(sourceRows, t.read), 6) : 0;

  // Timing: a session ends at endedAt, else (a crash) at the last activity before the next one.
  const lastBeat = lock ? Date.parse(lock.heartbeatAt) : 0;
  const lastActivity = Math.max(fold.lastActivity, lastBeat, ...m.sessions.map((s) => (s.endedAt ? Date.parse(s.endedAt) : 0)));
  const sessions = m.sessions.map((s, i) => {
    const start = Date.parse(s.startedAt);
    const next = m.sessions[i + 1] ? Date.parse(m.sessions[i + 1].startedAt) : Infinity;
    let end: number;
    if (s.endedAt) end = Date.parse(s.endedAt);
    else if (i === m.sessions.length - 1 && alive) end = now;
    else end = Math.min(next, Math.max(start, lastActivity));
    return { command: s.command, startedAt: s.startedAt, endedAt: s.endedAt ?? null, outcome: s.outcome ?? null, seconds: round(Math.max(0, end - start) / 1000, 1) };
  });
  const elapsedSeconds = round(sessions.reduce((n, s) => n + s.seconds, 0), 1);
  const rowsPerSecond = elapsedSeconds > 0 ? round(t.loaded / elapsedSeconds, 1) : 0;
  let recentRowsPerSecond: number | null = null;
  let etaSeconds: number | null = null;
  const last = m.sessions[m.sessions.length - 1];
  if (alive && last) {
    const from = Math.max(Date.parse(last.startedAt), now - RECENT_WINDOW_MS);
    let recent = 0;
    for (const e of fold.jobs.values()) if (e.resultAt !== undefined && e.resultAt >= from) recent += e.result!.succeeded;
    recentRowsPerSecond = round(recent / Math.max(1, (now - from) / 1000), 1);
    const rate = recentRowsPerSecond > 0 ? recentRowsPerSecond : rowsPerSecond;
    const left = t.pending + unread;
    if (rate > 0) etaSeconds = Math.round(left / rate);
  }

  const failuresByCode = fold.failuresByCode();
  const dupFound = failuresByCode.DUPLICATE_SOURCE_KEY?.count ?? 0;
  const health = verdict({ state, run, m, sourceRows, read: t.read, loaded: t.loaded, failed: t.failed, unread, pending: t.pending, minSuccessRate, problems });
  const pacing = m.definition.pacing;
  return {
    schemaVersion: STATUS_SCHEMA_VERSION,
    runId: run.runId,
    runDir: run.dir,
    name: m.definition.name ?? null,
    state,
    recordedState: m.state,
    runnerAlive: alive,
    runner: lock ? { pid: lock.pid, host: lock.host, at: lock.heartbeatAt, command: lock.command } : null,
    cancelRequestedAt: cancel?.at ?? null,
    health,
    source: {
      object: m.definition.source.object,
      keyColumn: m.definition.source.keyColumn,
      parentColumn: m.definition.source.parentColumn ?? null,
      filter: m.definition.source.filter ?? null,
    },
    target: { object: m.definition.target.object, externalIdField: m.definition.target.externalIdField, operation: m.definition.target.operation, mapping: { ...m.definition.target.mapping } },
    org: { username: m.org.username ?? null, alias: m.org.alias ?? null, orgId: m.org.orgId ?? null, instanceUrl: m.org.instanceUrl ?? null, apiVersion: m.org.apiVersion },
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
      successRate,
      firstPassSuccessRate: t.firstPassRows > 0 ? round(t.firstPassLoaded / t.firstPassRows, 6) : null,
    },
    jobs: fold.jobTotals(),
    apiCalls: t.apiCalls,
    concurrency: alive && lock?.concurrency ? { ...lock.concurrency } : null,
    partitions: fold.partitions.map((p) => {
      const plan = m.plan.partitions[p.index];
      return {
        index: p.index,
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
    }),
    timing: {
      createdAt: m.createdAt,
      startedAt: m.sessions[0]?.startedAt ?? null,
      endedAt: m.endedAt ?? (!alive && last?.endedAt ? last.endedAt : null),
      lastActivityAt: lastActivity > 0 ? new Date(lastActivity).toISOString() : null,
      elapsedSeconds,
      rowsPerSecond,
      recentRowsPerSecond,
      etaSeconds,
      sessions,
    },
    failuresByCode,
    duplicates: { keys: m.plan.duplicates.keys, extraRows: Math.max(m.plan.duplicates.extraRows, dupFound), examples: m.plan.duplicates.examples },
    settings: { ...pacing, rowsPerJob: m.plan.rowsPerJob, plannedPartitions: m.plan.partitions.length },
    problems,
    error: m.error ? { name: m.error.name, message: m.error.message } : null,
    files: { manifest: run.manifestFile, jobLog: run.jobLogFile, failures: run.failuresFile, events: run.eventsFile, lock: run.lockFile, jobFiles: join(run.dir, 'jobs') },
  };
}

type VerdictInput = {
  state: RunStatusState;
  run: RunDir;
  m: RunManifest;
  sourceRows: number;
  read: number;
  loaded: number;
  failed: number;
  unread: number;
  pending: number;
  minSuccessRate: number;
  problems: string[];
};

/** The verdict and exit code: 0 only when every source row is loaded or the threshold is met. */
export function verdict(v: VerdictInput): Health {
  const base = { minSuccessRate: v.minSuccessRate };
  const n = (x: number): string => x.toLocaleString('en-US');
  if (v.problems.length) {
    return {
      ...base,
      verdict: 'needs-resume',
      exitCode: 3,
      message: `The run's files do not add up: ${v.problems[0]}. Resume reads again every row the job log does not account for.`,
      next: hint(v.run, v.m, 'resume'),
    };
  }
  if (v.state === 'running' || v.state === 'stopping') {
    return { ...base, verdict: 'in-progress', exitCode: 4, message: `${v.state === 'stopping' ? 'Stopping' : 'Running'}: ${n(v.loaded)} of ${n(v.sourceRows)} rows loaded so far.`, next: hint(v.run, v.m, 'status') + ' --wait 60' };
  }
  const pct = Math.max(v.sourceRows, v.read) > 0 ? (100 * v.loaded) / Math.max(v.sourceRows, v.read) : 0;
  const retry = hint(v.run, v.m, 'retry-failures');
  if (v.state === 'completed' || v.state === 'incomplete') {
    const missing = v.sourceRows - v.loaded;
    if (v.state === 'completed' && missing <= 0 && v.failed === 0) return { ...base, verdict: 'ok', exitCode: 0, message: `Completed: every source row loaded (${n(v.loaded)}).`, next: null };
    const parts: string[] = [];
    if (v.failed) parts.push(`${n(v.failed)} failed`);
    if (v.state === 'incomplete') parts.push(`the source has ${n(v.sourceRows)} rows now, ${n(v.read)} were read: it changed during the run`);
    const what = `${v.state === 'completed' ? 'Completed' : 'Incomplete'}: ${n(v.loaded)} of ${n(v.sourceRows)} source rows loaded (${pct.toFixed(2)}%); ${parts.join('; ')}`;
    const next = v.failed ? retry : null;
    if (v.state === 'completed' && pct >= v.minSuccessRate) return { ...base, verdict: 'ok', exitCode: 0, message: `${what}. That meets the ${v.minSuccessRate}% threshold.`, next };
    return { ...base, verdict: 'partial', exitCode: 2, message: `${what}.${v.state === 'completed' ? ` Below the ${v.minSuccessRate}% threshold.` : ''}`, next };
  }
  const why: Record<string, string> = {
    crashed: 'The runner is gone (crashed, killed, or its machine slept) while the run was running.',
    stopped: 'Stopped before the end.',
    cancelled: 'Cancelled.',
    failed: 'Stopped by an error.',
    planned: 'Planned, but no runner has started it.',
  };
  const left = v.pending + v.unread;
  return {
    ...base,
    verdict: 'needs-resume',
    exitCode: 3,
    message: `${why[v.state] ?? v.state} ${n(v.loaded)} of ${n(v.sourceRows)} rows loaded, ${n(v.failed)} failed, ${n(left)} not loaded yet; resume continues where it stopped, nothing recorded is lost.`,
    next: hint(v.run, v.m, 'resume'),
  };
}

export function isFinalState(s: RunState): boolean {
  return s === 'completed' || s === 'incomplete';
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
