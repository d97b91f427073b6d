/*
 * What `sf datacloud load report` computes for one or more runs, before any rendering:
 * the seed's "Final Results" metrics, failures by code, throughput over time, and, for
 * several runs, a side-by-side comparison like the seed's Test3–Test8 table.
 * Schema: schemas/report.json.
 */
import type { RunDir } from '../state/run-dir.js';
import { readRunHistory } from '../ledger/status.js';
import type { RunStatus } from '../ledger/status-types.js';
import { delayRange, duration, int, percent, retryPolicy, span } from './format.js';
import { throughputSeries, type ThroughputSeries } from './series.js';

export const REPORT_SCHEMA_VERSION = 1 as const;

export type ReportFormat = 'table' | 'markdown' | 'json' | 'html';

export type ReportRun = { status: RunStatus; throughput: ThroughputSeries };

export type ComparisonRow = {
  runId: string;
  name: string | null;
  state: string;
  profile: string;
  strategy: string;
  rowsPerJob: number;
  partitions: number;
  staggerSeconds: number;
  delaySeconds: [number, number];
  maxAttempts: number;
  retryDelaysSeconds: number[];
  sourceRows: number;
  loaded: number;
  failed: number;
  successRate: number;
  firstPassSuccessRate: number | null;
  elapsedSeconds: number;
  throughputPerMinute: number;
  jobs: number;
  apiCalls: number;
  retriedRows: number;
};

export type ReportResult = {
  schemaVersion: typeof REPORT_SCHEMA_VERSION;
  generatedAt: string;
  format: ReportFormat;
  /** Where the report was written; null when it went to stdout. */
  outputFile: string | null;
  runs: ReportRun[];
  /** One row per run, when the report covers more than one run; else null. */
  comparison: ComparisonRow[] | null;
};

export type MetricRow = { metric: string; value: string; notes: string };

export function reportRun(run: RunDir): ReportRun {
  const h = readRunHistory(run);
  const status = h.status;
  const points = h.jobs.filter((j) => j.resultAt !== null).map((j) => ({ at: j.resultAt!, partition: j.partition, succeeded: j.succeeded, failed: j.failed, rows: j.rows }));
  return { status, throughput: throughputSeries(status, points) };
}

export function buildReport(runs: ReportRun[], format: ReportFormat, now = new Date()): ReportResult {
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    generatedAt: now.toISOString(),
    format,
    outputFile: null,
    runs,
    comparison: runs.length > 1 ? runs.map((r) => comparisonRow(r.status)) : null,
  };
}

export function comparisonRow(s: RunStatus): ComparisonRow {
  return {
    runId: s.runId,
    name: s.name,
    state: s.state,
    profile: s.settings.profile,
    strategy: s.settings.strategy,
    rowsPerJob: s.settings.rowsPerJob,
    partitions: s.settings.plannedPartitions,
    staggerSeconds: s.settings.staggerSeconds,
    delaySeconds: s.settings.delaySeconds,
    maxAttempts: s.settings.maxAttempts,
    retryDelaysSeconds: s.settings.retryDelaysSeconds,
    sourceRows: s.totals.sourceRows,
    loaded: s.totals.loaded,
    failed: s.totals.failed,
    successRate: s.totals.successRate,
    firstPassSuccessRate: s.totals.firstPassSuccessRate,
    elapsedSeconds: s.timing.elapsedSeconds,
    throughputPerMinute: s.timing.rowsPerSecond * 60,
    jobs: s.jobs.total,
    apiCalls: s.apiCalls,
    retriedRows: s.totals.retriedRows,
  };
}

/** The seed's "Final Results" table for one run. */
export function finalResults(s: RunStatus): MetricRow[] {
  const t = s.totals;
  const perPart = s.settings.plannedPartitions ? Math.round(t.sourceRows / s.settings.plannedPartitions) : 0;
  const perJob = s.jobs.total ? Math.round((t.loaded + t.failed + t.retriedRows) / s.jobs.total) : 0;
  const retryShare = s.jobs.total ? s.jobs.retryJobs / s.jobs.total : 0;
  return [
    { metric: 'Total Records', value: int(t.sourceRows), notes: `From Data Cloud ${s.source.object}` },
    { metric: 'Records Loaded', value: int(t.loaded), notes: `In ${s.target.object}: ${int(t.created)} created, ${int(t.updated)} updated` },
    { metric: 'Success Rate', value: percent(t.successRate), notes: t.firstPassSuccessRate !== null ? `${percent(t.firstPassSuccessRate)} on the first attempt` : '' },
    { metric: 'Failed Records', value: int(t.failed), notes: `${percent(t.sourceRows ? t.failed / t.sourceRows : 0)} failure rate` },
    { metric: 'Pending Records', value: int(t.pending), notes: `${int(t.read)} of ${int(t.sourceRows)} read from the source` },
    { metric: 'Duration', value: duration(s.timing.elapsedSeconds), notes: `${s.timing.sessions.length} session${s.timing.sessions.length === 1 ? '' : 's'}` },
    { metric: 'Throughput', value: `${int(s.timing.rowsPerSecond * 60)} records/min`, notes: 'Average' },
    { metric: 'Bulk Jobs', value: int(s.jobs.total), notes: perJob ? `~${int(perJob)} rows each; ${s.jobs.failedJobs} failed or aborted` : '' },
    { metric: 'API Calls', value: int(s.apiCalls), notes: 'Bulk API requests' },
    { metric: 'Partitions', value: String(s.settings.plannedPartitions), notes: perPart ? `~${int(perPart)} records each` : '' },
    { metric: 'Partition Stagger', value: span(s.settings.staggerSeconds), notes: 'Between starts' },
    { metric: 'Job Delay', value: delayRange(s.settings.delaySeconds), notes: 'Between jobs of a partition' },
    { metric: 'Retries Used', value: `${percent(retryShare)} of jobs`, notes: `${int(t.retriedRows)} rows retried; ${retryPolicy(s.settings.maxAttempts, s.settings.retryDelaysSeconds)}` },
    { metric: 'State', value: s.state, notes: s.health.message },
  ];
}

export const COMPARISON_HEADERS = ['Run', 'Profile', 'Rows/Job', 'Partitions', 'Stagger', 'Delay', 'Retry', 'Success', 'Failed', 'Duration', 'Jobs', 'Rows/min'];
export const COMPARISON_RIGHT = [false, false, true, true, false, false, false, true, true, true, true, true];

export function comparisonCells(r: ComparisonRow): string[] {
  return [
    r.name ? `${r.runId} (${r.name})` : r.runId,
    `${r.profile} (${r.strategy})`,
    int(r.rowsPerJob),
    String(r.partitions),
    span(r.staggerSeconds),
    delayRange(r.delaySeconds),
    retryPolicy(r.maxAttempts, r.retryDelaysSeconds),
    percent(r.successRate),
    int(r.failed),
    duration(r.elapsedSeconds),
    int(r.jobs),
    int(r.throughputPerMinute),
  ];
}

export const FAILURE_HEADERS = ['Error code', 'Rows', 'Sample keys', 'Message'];

export function failureCells(s: RunStatus): string[][] {
  return Object.entries(s.failuresByCode)
    .sort((a, b) => b[1].count - a[1].count)
    .map(([code, g]) => [code + (g.transient ? ' (transient)' : ''), int(g.count), g.sampleKeys.map(String).join(', '), g.message]);
}

export const PARTITION_HEADERS = ['Partition', 'State', 'Read', 'Planned', 'Loaded', 'Failed', 'Retried', 'Jobs', 'In flight'];
export const PARTITION_RIGHT = [true, false, true, true, true, true, true, true, true];

export function partitionCells(s: RunStatus): string[][] {
  return s.partitions.map((p) => [String(p.index), p.state, int(p.read), int(p.plannedRows), int(p.loaded), int(p.failed), int(p.retriedRows), int(p.jobs), int(p.inFlight)]);
}
