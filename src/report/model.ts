/*
 * What `sf datacloud load report` computes for one or more runs, before any rendering:
 * the seed's "Final Results" metrics, the settings and mapping, failures by code with the
 * retry-failures command, the run over time (src/report/series.ts), and, for several runs,
 * a side-by-side comparison like the seed's Test3–Test8 table. Every number comes from a
 * RunHistory (src/ledger/status-types.ts); the names are RunStatus v2's.
 * Schema: schemas/report.json.
 */
import { dirname } from 'node:path';
import type { RunHistory, RunStatus } from '../ledger/status-types.js';
import { runsRoot } from '../state/run-dir.js';
import { delayRange, duration, int, percent, retryPolicy, shellArg, span } from './format.js';
import { runSeries, type RunSeries } from './series.js';
import { runBadge, unfinished } from './state.js';

export const REPORT_SCHEMA_VERSION = 2 as const;

export type ReportFormat = 'table' | 'markdown' | 'html';
export const REPORT_FORMATS: readonly ReportFormat[] = ['table', 'markdown', 'html'];

export type ReportRun = {
  status: RunStatus;
  series: RunSeries;
  /** retry-failures for this run, runnable as printed; null when no row failed. */
  retryCommand: string | null;
};

export type ComparisonRow = {
  runId: string;
  name: string | null;
  startedAt: string | null;
  state: RunStatus['state'];
  /** The state as people read it: "completed with 123 failed rows", "stopped", … */
  stateLabel: string;
  /** Did not reach its end (stopped, cancelled, crashed, failed, planned, in progress). */
  unfinished: boolean;
  settings: Pick<RunStatus['settings'], 'profile' | 'strategy' | 'partitionBy' | 'rowsPerJob' | 'maxConcurrency' | 'plannedPartitions' | 'staggerSeconds' | 'delaySeconds' | 'maxAttempts' | 'retryDelaysSeconds'>;
  totals: Pick<RunStatus['totals'], 'sourceRows' | 'loaded' | 'failed' | 'pending' | 'successRate' | 'firstPassSuccessRate' | 'retriedRows' | 'lockErrors'>;
  timing: Pick<RunStatus['timing'], 'elapsedSeconds' | 'rowsPerSecond'>;
  jobs: Pick<RunStatus['jobs'], 'total' | 'failedJobs' | 'retryJobs'>;
  apiCalls: number;
};

export type ReportResult = {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  generatedAt: string;
  format: ReportFormat;
  /** Where the rendered report was written; null when it went to stdout (or nowhere, with --json). */
  outputFile: string | null;
  runs: ReportRun[];
  /** One row per run when the report covers more than one run, finished runs first; else null. */
  comparison: ComparisonRow[] | null;
};

export type MetricRow = { metric: string; value: string; notes: string };

export function reportRun(history: RunHistory): ReportRun {
  return { status: history.status, series: runSeries(history), retryCommand: retryFailuresCommand(history.status) };
}

export function buildReport(runs: ReportRun[], format: ReportFormat, now = new Date()): ReportResult {
  const byStart = [...runs].sort((a, b) => (a.status.timing.startedAt ?? a.status.timing.createdAt).localeCompare(b.status.timing.startedAt ?? b.status.timing.createdAt) || a.status.runId.localeCompare(b.status.runId));
  const rows = byStart.map((r) => comparisonRow(r.status));
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    generatedAt: now.toISOString(),
    format,
    outputFile: null,
    runs: byStart,
    comparison: runs.length > 1 ? [...rows.filter((r) => !r.unfinished), ...rows.filter((r) => r.unfinished)] : null,
  };
}

export function comparisonRow(s: RunStatus): ComparisonRow {
  const st = s.settings;
  const t = s.totals;
  return {
    runId: s.runId,
    name: s.name,
    startedAt: s.timing.startedAt,
    state: s.state,
    stateLabel: runBadge(s).label,
    unfinished: unfinished(s),
    settings: {
      profile: st.profile,
      strategy: st.strategy,
      partitionBy: st.partitionBy,
      rowsPerJob: st.rowsPerJob,
      maxConcurrency: st.maxConcurrency,
      plannedPartitions: st.plannedPartitions,
      staggerSeconds: st.staggerSeconds,
      delaySeconds: st.delaySeconds,
      maxAttempts: st.maxAttempts,
      retryDelaysSeconds: st.retryDelaysSeconds,
    },
    totals: { sourceRows: t.sourceRows, loaded: t.loaded, failed: t.failed, pending: t.pending, successRate: t.successRate, firstPassSuccessRate: t.firstPassSuccessRate, retriedRows: t.retriedRows, lockErrors: t.lockErrors },
    timing: { elapsedSeconds: s.timing.elapsedSeconds, rowsPerSecond: s.timing.rowsPerSecond },
    jobs: { total: s.jobs.total, failedJobs: s.jobs.failedJobs, retryJobs: s.jobs.retryJobs },
    apiCalls: s.apiCalls,
  };
}

/** `sf datacloud load retry-failures -o <org> --run-id <id>` (plus --runs-dir when the run lives elsewhere); null without failed rows. */
export function retryFailuresCommand(s: RunStatus): string | null {
  if (s.totals.failed <= 0 && Object.keys(s.failuresByCode).length === 0) return null;
  const org = s.org.alias ?? s.org.username;
  const root = dirname(s.runDir);
  const dir = root !== runsRoot() ? ` --runs-dir ${shellArg(root)}` : '';
  return `sf datacloud load retry-failures -o ${org ? shellArg(org) : '<target org>'} --run-id ${shellArg(s.runId)}${dir}`;
}

export function rowsPerMinute(s: Pick<RunStatus['timing'], 'rowsPerSecond'>): number {
  return s.rowsPerSecond * 60;
}

/** The seed's "Final Results" table for one run, with this plugin's extra counts. */
export function finalResults(s: RunStatus): MetricRow[] {
  const t = s.totals;
  const perPart = s.settings.plannedPartitions ? Math.round(t.sourceRows / s.settings.plannedPartitions) : 0;
  const perJob = s.jobs.total ? Math.round((t.loaded + t.failed + t.retriedRows) / s.jobs.total) : 0;
  const retryShare = s.jobs.total ? s.jobs.retryJobs / s.jobs.total : 0;
  const sessions = s.timing.sessions.length;
  return [
    { metric: 'Total Records', value: int(t.sourceRows), notes: `From Data Cloud ${s.source.object}` },
    { metric: 'Records Loaded', value: int(t.loaded), notes: `In ${s.target.object}: ${int(t.created)} created, ${int(t.updated)} updated` },
    { metric: 'Success Rate', value: percent(t.successRate), notes: t.firstPassSuccessRate !== null ? `${percent(t.firstPassSuccessRate)} on the first attempt` : '' },
    { metric: 'Failed Records', value: int(t.failed), notes: `${percent(t.sourceRows ? t.failed / t.sourceRows : 0)} failure rate` },
    { metric: 'Pending Records', value: int(t.pending + t.unread), notes: `${int(t.read)} of ${int(t.sourceRows)} read from the source, ${int(t.pending)} of them not final yet` },
    { metric: 'Duration', value: duration(s.timing.elapsedSeconds), notes: `${sessions} session${sessions === 1 ? '' : 's'}` },
    { metric: 'Throughput', value: `${int(rowsPerMinute(s.timing))} records/min`, notes: `Average; ${int(s.timing.rowsPerSecond)} rows/s` },
    { metric: 'Bulk Jobs', value: int(s.jobs.total), notes: perJob ? `~${int(perJob)} rows each; ${s.jobs.failedJobs} failed or aborted` : '' },
    { metric: 'Max Concurrency', value: int(s.settings.maxConcurrency), notes: `Jobs in flight at most (${s.settings.strategy})` },
    { metric: 'API Calls', value: int(s.apiCalls), notes: 'Bulk API requests' },
    { metric: 'Partitions', value: String(s.settings.plannedPartitions), notes: perPart ? `~${int(perPart)} records each, by ${s.settings.partitionBy}` : '' },
    { metric: 'Partition Stagger', value: span(s.settings.staggerSeconds), notes: 'Between starts' },
    { metric: 'Job Delay', value: delayRange(s.settings.delaySeconds), notes: 'Between jobs of a partition' },
    { metric: 'Retries Used', value: `${percent(retryShare)} of jobs`, notes: `${int(t.retriedRows)} rows retried; ${retryPolicy(s.settings.maxAttempts, s.settings.retryDelaysSeconds)}` },
    { metric: 'Lock Errors', value: int(t.lockErrors), notes: 'UNABLE_TO_LOCK_ROW results, every attempt counted' },
    { metric: 'State', value: runBadge(s).label, notes: s.health.message },
  ];
}

/** The settings the run used, as name / value / meaning. */
export function settingsRows(s: RunStatus): string[][] {
  const st = s.settings;
  return [
    ['profile', `${st.profile} (${st.strategy})`, 'pacing profile and strategy'],
    ['rowsPerJob', int(st.rowsPerJob), 'rows per Bulk job'],
    ['partitions', `${st.plannedPartitions} (${st.partitions === 'auto' ? 'auto' : `asked ${st.partitions}`})`, `cut by ${st.partitionBy}`],
    ['maxConcurrency', int(st.maxConcurrency), 'Bulk jobs in flight at most'],
    ['jobsInFlightPerPartition', int(st.jobsInFlightPerPartition), 'jobs of one partition in flight at once'],
    ['staggerSeconds', span(st.staggerSeconds), 'between partition starts'],
    ['delaySeconds', delayRange(st.delaySeconds), 'between the jobs of a partition'],
    ['maxAttempts', int(st.maxAttempts), retryPolicy(st.maxAttempts, st.retryDelaysSeconds)],
    ['pollSeconds', `${st.pollSeconds[0]}–${st.pollSeconds[1]} s`, 'job status polling'],
    ['circuitBreakerJobs', int(st.circuitBreakerJobs), 'whole-job failures in a row that stop the run'],
  ];
}

/** Source and target of the run, then the mapping source column → target field. */
export function mappingRows(s: RunStatus): string[][] {
  return Object.entries(s.target.mapping).map(([from, to]) => [from, to, from === s.source.keyColumn ? 'key' : from === s.source.parentColumn ? 'parent' : to === s.target.externalIdField ? 'external id' : '']);
}

export function sourceTargetLine(s: RunStatus): string {
  const parent = s.source.parentColumn ? `, parent ${s.source.parentColumn}` : '';
  const filter = s.source.filter ? `, where ${s.source.filter}` : '';
  return `${s.source.object} (key ${s.source.keyColumn}${parent}${filter}) → ${s.target.object} (${s.target.operation} by ${s.target.externalIdField})`;
}

export function orgLine(s: RunStatus): string {
  const who = s.org.alias && s.org.username ? `${s.org.alias} (${s.org.username})` : s.org.alias ?? s.org.username ?? 'unknown org';
  return `${who}${s.org.instanceUrl ? `, ${s.org.instanceUrl}` : ''}, API ${s.org.apiVersion}`;
}

export const COMPARISON_HEADERS = ['Run', 'Started (UTC)', 'State', 'Profile', 'Rows/Job', 'Max conc.', 'Partitions', 'Stagger', 'Delay', 'Retry', 'Success', 'Failed', 'Duration', 'Jobs', 'Rows/min'];
export const COMPARISON_RIGHT = [false, false, false, false, true, true, true, false, false, false, true, true, true, true, true];

export function comparisonCells(r: ComparisonRow): string[] {
  const st = r.settings;
  return [
    r.runId,
    r.startedAt ? r.startedAt.slice(0, 16).replace('T', ' ') : '—',
    r.stateLabel,
    `${st.profile} (${st.strategy})`,
    int(st.rowsPerJob),
    int(st.maxConcurrency),
    String(st.plannedPartitions),
    span(st.staggerSeconds),
    delayRange(st.delaySeconds),
    retryPolicy(st.maxAttempts, st.retryDelaysSeconds),
    percent(r.totals.successRate),
    int(r.totals.failed),
    duration(r.timing.elapsedSeconds),
    int(r.jobs.total),
    int(rowsPerMinute(r.timing)),
  ];
}

export const FAILURE_HEADERS = ['Error code', 'Rows', 'Kind', 'Sample keys', 'Sample message'];
export const FAILURE_RIGHT = [false, true, false, false, false];

export function failureCells(s: RunStatus): string[][] {
  return Object.entries(s.failuresByCode)
    .sort((a, b) => b[1].count - a[1].count || a[0].localeCompare(b[0]))
    .map(([code, g]) => [code, int(g.count), g.transient ? 'transient' : g.retryable ? 'permanent' : 'not retryable', g.sampleKeys.map((k) => String(k)).join(', '), g.message]);
}

/** What to do about the failed rows: where they are listed and how to send them again. */
export function failureAdvice(run: ReportRun): string[] {
  const s = run.status;
  const groups = Object.entries(s.failuresByCode);
  if (groups.length === 0) return [];
  const notRetryable = groups.filter(([, g]) => !g.retryable).map(([c]) => c);
  const permanent = groups.filter(([, g]) => g.retryable && !g.transient).map(([c]) => c);
  const out = [`Every failed row, with its key, code, message and the row as sent, is in ${s.files.failures}.`];
  if (run.retryCommand) out.push(`Send them again with: ${run.retryCommand}`);
  if (permanent.length) out.push(`Fix the cause of ${permanent.join(', ')} first (in the source or the org); retrying them unchanged fails again. Add --error-code CODE to retry one code only.`);
  if (notRetryable.length) out.push(`${notRetryable.join(', ')} rows cannot be retried: fix them in the source.`);
  return out;
}

export const PARTITION_HEADERS = ['Partition', 'State', 'Read', 'Planned', 'Loaded', 'Failed', 'Pending', 'Retried', 'Jobs', 'In flight'];
export const PARTITION_RIGHT = [true, false, true, true, true, true, true, true, true, true];

export function partitionCells(s: RunStatus): string[][] {
  return s.partitions.map((p) => [String(p.index), p.state, int(p.read), int(p.plannedRows), int(p.loaded), int(p.failed), int(p.pending), int(p.retriedRows), int(p.jobs), int(p.inFlight)]);
}

export const SESSION_HEADERS = ['Command', 'Started (UTC)', 'Ended (UTC)', 'Outcome', 'Duration'];

export function sessionCells(s: RunStatus): string[][] {
  const last = s.timing.sessions.length - 1;
  return s.timing.sessions.map((x, i) => [
    x.command,
    x.startedAt.slice(0, 19).replace('T', ' '),
    x.endedAt ? x.endedAt.slice(0, 19).replace('T', ' ') : i === last && s.runnerAlive ? 'running' : '—',
    x.outcome ?? (i === last && s.runnerAlive ? 'in progress' : 'crashed'),
    duration(x.seconds),
  ]);
}
