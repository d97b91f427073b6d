/*
 * What the live progress display shows, as plain lines (no terminal codes): the summary that
 * is always on screen (rows loaded / failed / pending of the total, rows per second, ETA, jobs
 * in flight against the limit, retries and lock errors, API calls and the org's limits left,
 * partitions done / in flight / queued), then as many in-flight partitions as fit. Pure, so
 * tests check widths and heights; src/ux/progress.ts puts it on the terminal.
 */
import type { ProgressSnapshot } from '../ledger/status-types.js';

export function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function pct(a: number, b: number): string {
  return b > 0 ? `${((100 * a) / b).toFixed(1)}%` : '—';
}

export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

/** 14,800 → "14.8k", 2,000,000 → "2M". */
function short(n: number): string {
  const t = (x: number): string => String(Math.round(x * 10) / 10);
  if (n >= 1e6) return `${t(n / 1e6)}M`;
  if (n >= 1e4) return `${t(n / 1e3)}k`;
  return fmt(n);
}

/** The org limits worth a glance during a load, by /limits name. */
const LIMITS: Array<[string, string]> = [
  ['DailyBulkApiBatches', 'batches'],
  ['DailyApiRequests', 'requests'],
];

export function orgLimitsText(limits: ProgressSnapshot['orgLimits']): string {
  if (!limits) return 'org limits not read yet';
  const parts = LIMITS.filter(([k]) => limits[k]).map(([k, label]) => `${label} ${short(limits[k].remaining)}/${short(limits[k].max)}`);
  return parts.length ? `org left: ${parts.join(', ')}` : 'org limits not reported';
}

export function bar(fraction: number, width: number): string {
  const w = Math.max(4, width);
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.round(f * w);
  return '█'.repeat(full) + '░'.repeat(w - full);
}

/** Cut a line to width columns (the display's lines are plain text, one column per character). */
export function fit(line: string, width: number): string {
  const chars = [...line];
  if (chars.length <= width) return line;
  return chars.slice(0, Math.max(0, width - 1)).join('') + '…';
}

export type FrameOptions = {
  title: string;
  columns: number;
  rows: number;
  /** Elapsed seconds to show (the snapshot's, advanced by the display's clock while running). */
  elapsedSeconds?: number;
};

/** The summary lines, most important first (a short terminal keeps the first ones). */
export function summaryLines(s: ProgressSnapshot, width: number, elapsed = s.elapsedSeconds): string[] {
  const t = s.totals;
  const done = t.loaded + t.failed;
  const toGo = Math.max(0, t.sourceRows - done);
  const stopping = s.state === 'stopping';
  const eta = stopping ? 'stopping: no new jobs' : s.etaSeconds === null ? 'ETA —' : `ETA ${duration(s.etaSeconds)}`;
  const head = `  ${pct(done, t.sourceRows)} done`;
  const lines = [
    `${bar(t.sourceRows ? done / t.sourceRows : 0, Math.min(50, width - [...head].length))}${head}`,
    `Rows       ${fmt(t.loaded)} loaded · ${fmt(t.failed)} failed · ${fmt(toGo)} pending of ${fmt(t.sourceRows)}`,
    `Speed      ${fmt(s.rowsPerSecond)} rows/s · ${duration(elapsed)} elapsed · ${eta}`,
    `Jobs       ${fmt(s.concurrency.inFlight)} in flight / limit ${fmt(s.concurrency.limit)} · ${fmt(s.jobs.completed)} done · ${fmt(s.jobs.queued)} queued`,
    `Retries    ${fmt(t.retriedRows)} rows retried · ${fmt(t.lockErrors)} lock errors`,
    `API        ${fmt(s.apiCalls)} calls · ${orgLimitsText(s.orgLimits)}`,
    `Partitions ${fmt(s.partitions.done)} done · ${fmt(s.partitions.running)} in flight · ${fmt(s.partitions.queued)} queued (of ${fmt(s.partitions.total)})`,
  ];
  return lines;
}

const COLS: Array<[string, number]> = [
  ['Partition', 11],
  ['Read', 10],
  ['Planned', 10],
  ['Loaded', 10],
  ['Failed', 8],
  ['Retried', 9],
  ['Jobs', 6],
];

function row(cells: string[]): string {
  return cells.map((c, i) => (i === 0 ? `  ${c}`.padEnd(COLS[0][1]) : c.padStart(COLS[i][1]))).join('');
}

/** The whole frame: title, summary, then the in-flight partitions that fit in rows − 1 lines. */
export function frameLines(s: ProgressSnapshot, o: FrameOptions): string[] {
  const width = Math.max(20, o.columns - 1);
  const height = Math.max(1, o.rows - 1);
  const out = [o.title, ...summaryLines(s, width, o.elapsedSeconds)];
  const room = height - out.length - 1;
  if (s.active.length > 0 && room >= 1) {
    out.push(row(COLS.map(([h]) => h)));
    const shown = s.active.length > room ? Math.max(0, room - 1) : s.active.length;
    for (const p of s.active.slice(0, shown)) {
      out.push(row([String(p.index), fmt(p.read), fmt(p.plannedRows), fmt(p.loaded), fmt(p.failed), fmt(p.retriedRows), fmt(p.jobs)]));
    }
    if (shown < s.active.length) out.push(`  … and ${fmt(s.active.length - shown)} more in flight`);
  }
  return out.slice(0, height).map((l) => fit(l, width));
}

/** One line for logs (CI, no TTY). */
export function ciLine(s: ProgressSnapshot, elapsed = s.elapsedSeconds): string {
  const t = s.totals;
  const done = t.loaded + t.failed;
  const eta = s.state === 'stopping' ? 'stopping' : s.etaSeconds === null ? 'ETA —' : `ETA ${duration(s.etaSeconds)}`;
  return (
    `[${duration(elapsed)}] ${pct(done, t.sourceRows)} done: ${fmt(t.loaded)} loaded, ${fmt(t.failed)} failed, ${fmt(Math.max(0, t.sourceRows - done))} pending of ${fmt(t.sourceRows)}` +
    ` · ${fmt(s.rowsPerSecond)} rows/s · ${eta} · jobs ${fmt(s.concurrency.inFlight)}/${fmt(s.concurrency.limit)} · ${fmt(t.retriedRows)} retried, ${fmt(t.lockErrors)} lock errors` +
    ` · ${fmt(s.apiCalls)} API calls · partitions ${fmt(s.partitions.done)}/${fmt(s.partitions.total)} done`
  );
}

/** The last word of a session: no ✘ and no ETA for a clean stop. */
export function finalHeadline(state: string, s: ProgressSnapshot | undefined): string {
  const failed = s?.totals.failed ?? 0;
  switch (state) {
    case 'completed':
      return failed > 0 ? `✔ Completed with ${fmt(failed)} failed row${failed === 1 ? '' : 's'}` : '✔ Completed';
    case 'stopped':
      return '■ Stopped';
    case 'cancelled':
      return '■ Cancelled';
    case 'failed':
      return '✘ Failed';
    default:
      return `■ ${state.charAt(0).toUpperCase()}${state.slice(1)}`;
  }
}

/** The final frame: title, headline, the totals (no ETA, no partitions), then the caller's lines. */
export function finalLines(state: string, s: ProgressSnapshot | undefined, title: string, lines: string[], width: number, elapsed?: number): string[] {
  const out = [title, finalHeadline(state, s)];
  if (s) {
    const t = s.totals;
    const done = t.loaded + t.failed;
    out.push(
      `Rows       ${fmt(t.loaded)} loaded · ${fmt(t.failed)} failed · ${fmt(Math.max(0, t.sourceRows - done))} pending of ${fmt(t.sourceRows)}`,
      `Time       ${duration(elapsed ?? s.elapsedSeconds)} · ${fmt(s.rowsPerSecond)} rows/s on average`,
      `Jobs       ${fmt(s.jobs.completed)} done · ${fmt(t.retriedRows)} rows retried · ${fmt(t.lockErrors)} lock errors · ${fmt(s.apiCalls)} API calls`
    );
  }
  return [...out.map((l) => fit(l, Math.max(20, width - 1))), ...lines];
}
