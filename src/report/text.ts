/*
 * The report as plain text (terminal) and as markdown (pull requests, wikis): the seed's
 * tables, failures with what to do about them, the run over time, sessions, settings,
 * mapping and partitions; for several runs the comparison first.
 */
import type { ReportResult, ReportRun } from './model.js';
import {
  COMPARISON_HEADERS,
  COMPARISON_RIGHT,
  FAILURE_HEADERS,
  FAILURE_RIGHT,
  PARTITION_HEADERS,
  PARTITION_RIGHT,
  SESSION_HEADERS,
  comparisonCells,
  failureAdvice,
  failureCells,
  finalResults,
  mappingRows,
  orgLine,
  partitionCells,
  sessionCells,
  settingsRows,
  sourceTargetLine,
} from './model.js';
import { duration, int, markdownTable, textTable } from './format.js';

/** Commands in prose become inline code in markdown. */
function mdProse(line: string): string {
  return line.replace(/(sf datacloud load [^\n]*?)(\.?)$/, '`$1`$2');
}
import { coarsen, type RunSeries } from './series.js';
import { runBadge } from './state.js';

type Table = (headers: string[], rows: string[][], right?: boolean[]) => string;
type Heading = (level: number, s: string) => string;
/** Lines of prose: one per line in text, one paragraph each in markdown. */
type Lines = (lines: string[]) => string;
type Style = { table: Table; h: Heading; lines: Lines };

function render(report: ReportResult, style: Style): string {
  const { table, h } = style;
  const out: string[] = [];
  if (report.comparison) {
    out.push(h(1, `Comparison of ${report.comparison.length} runs`));
    out.push(table(COMPARISON_HEADERS, report.comparison.map(comparisonCells), COMPARISON_RIGHT));
  }
  for (const run of report.runs) out.push(...renderRun(run, style, report.comparison ? 2 : 1));
  return out.join('\n\n') + '\n';
}

function renderRun(run: ReportRun, style: Style, level: number): string[] {
  const { table, h, lines } = style;
  const s = run.status;
  const out: string[] = [];
  out.push(h(level, `Run ${s.runId}${s.name ? ` (${s.name})` : ''}: ${s.source.object} → ${s.target.object}, ${runBadge(s).label}`));
  out.push(lines([`Org: ${orgLine(s)}`, `Load: ${sourceTargetLine(s)}`, s.health.message, ...(s.health.next ? [`Next: ${s.health.next}`] : [])]));
  out.push(h(level + 1, 'Final results'));
  out.push(table(['Metric', 'Value', 'Notes'], finalResults(s).map((r) => [r.metric, r.value, r.notes])));
  out.push(h(level + 1, 'Failures by error code'));
  const failures = failureCells(s);
  out.push(failures.length ? `${table(FAILURE_HEADERS, failures, FAILURE_RIGHT)}\n\n${lines(failureAdvice(run))}` : 'No failed rows.');
  const series = coarsen(run.series, 24);
  out.push(h(level + 1, `Over time (${bucketLabel(series)} buckets of session time)`));
  out.push(seriesTable(series, style));
  out.push(h(level + 1, 'Sessions'));
  out.push(s.timing.sessions.length ? table(SESSION_HEADERS, sessionCells(s)) : 'No session yet.');
  out.push(h(level + 1, 'Settings'));
  out.push(table(['Setting', 'Value', 'Meaning'], settingsRows(s)));
  out.push(h(level + 1, 'Mapping'));
  out.push(table(['Source column', 'Target field', 'Role'], mappingRows(s)));
  out.push(h(level + 1, 'Partitions'));
  out.push(table(PARTITION_HEADERS, partitionCells(s), PARTITION_RIGHT));
  return out;
}

function bucketLabel(series: RunSeries): string {
  return duration(series.bucketSeconds);
}

export const SERIES_HEADERS = ['Time (UTC)', 'Session time', 'Rows/min', 'Loaded', 'Failed', 'Retried', 'Lock errors', 'Jobs in flight', 'Limit'];

function seriesTable(series: RunSeries, { table, lines }: Style): string {
  if (series.buckets.length === 0) return 'No job results yet.';
  const rows = series.buckets.map((b) => [
    b.start.slice(0, 19).replace('T', ' '),
    duration(b.offsetSeconds),
    int(b.perMinute),
    int(b.loaded),
    int(b.failed),
    int(b.retriedRows),
    int(b.lockErrors),
    `${b.jobsInFlight.toFixed(1)} (peak ${b.peakJobsInFlight})`,
    b.concurrencyLimit === null ? '—' : int(b.concurrencyLimit),
  ]);
  const marks = series.marks.map((m) =>
    m.kind === 'resume'
      ? `At ${duration(m.offsetSeconds)}: ${m.what} at ${m.at.slice(0, 19).replace('T', ' ')}, ${duration(m.gapSeconds ?? 0)} after the stop.`
      : `At ${duration(m.offsetSeconds)}: ${m.what} at ${m.at.slice(0, 19).replace('T', ' ')}.`
  );
  const t = table(SERIES_HEADERS, rows, SERIES_HEADERS.map((_, i) => i > 1));
  return marks.length ? `${t}\n\n${lines(marks)}` : t;
}

export function renderText(report: ReportResult): string {
  return render(report, { table: textTable, h: (level, s) => (level === 1 ? `=== ${s} ===` : `--- ${s} ---`), lines: (l) => l.join('\n') });
}

export function renderMarkdown(report: ReportResult): string {
  return render(report, { table: markdownTable, h: (level, s) => `${'#'.repeat(Math.min(6, level + 1))} ${s}`, lines: (l) => l.map(mdProse).join('\n\n') });
}
