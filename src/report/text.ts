/*
 * The report as plain text (terminal) and as markdown (PRs, wikis): the seed's tables.
 */
import type { ReportResult, ReportRun } from './model.js';
import {
  COMPARISON_HEADERS,
  COMPARISON_RIGHT,
  FAILURE_HEADERS,
  PARTITION_HEADERS,
  PARTITION_RIGHT,
  comparisonCells,
  failureCells,
  finalResults,
  partitionCells,
} from './model.js';
import { int, markdownTable, textTable } from './format.js';
import { coarsen, type ThroughputSeries } from './series.js';

type Table = (headers: string[], rows: string[][], right?: boolean[]) => string;

function render(report: ReportResult, table: Table, h: (level: number, s: string) => string): string {
  const out: string[] = [];
  if (report.comparison) {
    out.push(h(1, `Comparison of ${report.comparison.length} runs`));
    out.push(table(COMPARISON_HEADERS, report.comparison.map(comparisonCells), COMPARISON_RIGHT));
  }
  for (const run of report.runs) out.push(...renderRun(run, table, h, report.comparison ? 2 : 1));
  return out.join('\n\n') + '\n';
}

function renderRun(run: ReportRun, table: Table, h: (level: number, s: string) => string, level: number): string[] {
  const s = run.status;
  const out: string[] = [];
  out.push(h(level, `Run ${s.runId}${s.name ? ` (${s.name})` : ''}: ${s.source.object} → ${s.target.object}, ${s.state}`));
  out.push(h(level + 1, 'Final results'));
  out.push(table(['Metric', 'Value', 'Notes'], finalResults(s).map((r) => [r.metric, r.value, r.notes])));
  out.push(h(level + 1, 'Partitions'));
  out.push(table(PARTITION_HEADERS, partitionCells(s), PARTITION_RIGHT));
  out.push(h(level + 1, 'Failures by error code'));
  const failures = failureCells(s);
  out.push(failures.length ? table(FAILURE_HEADERS, failures, [false, true, false, false]) : 'No failed rows.');
  const series = coarsen(run.throughput, 24);
  out.push(h(level + 1, `Throughput over time (rows loaded per minute, ${series.bucketSeconds}s buckets)`));
  out.push(throughputTable(series, s.partitions.length, table));
  return out;
}

function throughputTable(series: ThroughputSeries, nParts: number, table: Table): string {
  if (series.buckets.length === 0) return 'No job results yet.';
  const headers = ['Time (UTC)', 'Rows/min', 'Loaded', 'Failed', ...Array.from({ length: nParts }, (_, i) => `P${i}`)];
  const rows = series.buckets.map((b) => [b.start.slice(0, 19).replace('T', ' '), int(b.perMinute), int(b.loaded), int(b.failed), ...b.byPartition.map(int)]);
  return table(headers, rows, headers.map((_, i) => i > 0));
}

export function renderText(report: ReportResult): string {
  return render(report, textTable, (level, s) => (level === 1 ? `=== ${s} ===` : `--- ${s} ---`));
}

export function renderMarkdown(report: ReportResult): string {
  return render(report, markdownTable, (level, s) => `${'#'.repeat(Math.min(6, level + 1))} ${s}`);
}
