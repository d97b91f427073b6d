/*
 * The report as one self-contained HTML page: inline CSS and SVG, no script, no network.
 *
 * Per run: a badge with the state as people read it, key figures, loaded/failed/pending,
 * then three charts on one time axis (session time, stops and resumes marked): rows loaded
 * per minute; jobs in flight against the concurrency limit; lock errors, retried and
 * failed rows. Then failures by code with the failures file and the retry-failures
 * command, sessions, settings, mapping, partitions. For several runs first a comparison:
 * table and bar charts of throughput, duration and success, unfinished runs set apart.
 *
 * Each time chart is drawn twice, wide (760) and narrow (360), and CSS shows the one that
 * fits, so its text stays readable on a phone. Charts are <svg class="chart"> with
 * data-run-id, data-chart (outcome, throughput, concurrency, errors) and data-layout.
 */
import { duration, escapeHtml as e, int, percent } from './format.js';
import {
  COMPARISON_HEADERS,
  FAILURE_HEADERS,
  FAILURE_RIGHT,
  PARTITION_HEADERS,
  PARTITION_RIGHT,
  SESSION_HEADERS,
  comparisonCells,
  failureAdvice,
  failureCells,
  mappingRows,
  orgLine,
  partitionCells,
  rowsPerMinute,
  sessionCells,
  settingsRows,
  sourceTargetLine,
  type ComparisonRow,
  type ReportResult,
  type ReportRun,
} from './model.js';
import { coarsen, type RunSeries } from './series.js';
import { runBadge } from './state.js';
import { COLOR, type Frame, clockLabel, frame, groupMarks, hbarChart, markLines, niceTicks, num, stepPath, svgOpen, timeAxes } from './svg.js';

const CSS = `
*{box-sizing:border-box}
body{font:15px/1.5 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#181818;margin:20px auto;max-width:1180px;padding:0 14px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:19px;margin:36px 0 6px;border-bottom:2px solid #ddd;padding-bottom:4px}h3{font-size:16px;margin:22px 0 6px}
.muted{color:#5c5c5c}.small{font-size:13px}
code{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f3f3;padding:1px 4px;border-radius:3px;overflow-wrap:anywhere}
pre.cmd{font:13px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f3f3f3;padding:8px 10px;border-radius:4px;white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;margin:6px 0 14px;font-size:14px}th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3;white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}td.nowrap{white-space:nowrap}
tr.group th{background:#fff;border-left:0;border-right:0;font-weight:600;padding-top:10px;text-align:left}
tr.unfinished td{background:#fafafa;color:#444}
table.comparison{font-size:13px}table.comparison td,table.comparison th{padding:3px 6px}table.comparison td.state{min-width:140px}table.comparison .badge{white-space:normal;font-size:12px}table.comparison th{white-space:normal}table.comparison td.pacing{min-width:120px}
.badge{display:inline-block;padding:1px 10px;border-radius:11px;font-size:13px;font-weight:600;vertical-align:middle;white-space:nowrap}
.badge.ok{background:#d7f0dc;color:#1d5a2e}.badge.warn{background:#fde9c8;color:#7a4300}.badge.info{background:#d8ecff;color:#0b4a80}
.badge.neutral{background:#e8e8e8;color:#333}.badge.bad{background:#f8d7d5;color:#8c1f1a}
.facts{display:flex;flex-wrap:wrap;gap:8px;margin:10px 0}.facts div{border:1px solid #ddd;border-radius:6px;padding:6px 10px;min-width:130px}
.facts b{display:block;font-size:18px}.facts span{font-size:12px;color:#5c5c5c}
figure{margin:10px 0 18px}figcaption{font-size:13px;color:#333;margin-top:2px}
svg.chart{display:block;max-width:100%;height:auto;background:#fff}svg.chart text{font-size:11px;fill:#444}svg.chart text.axis-label{fill:#222}
svg.chart text.bar-label.muted{fill:#777;font-style:italic}
.narrow{display:none}
@media (max-width:700px){.wide{display:none}.narrow{display:block}body{font-size:14px}h2{font-size:17px}}
.legend span{display:inline-block;margin-right:14px}.legend i{display:inline-block;width:11px;height:11px;margin-right:4px;vertical-align:-1px;border-radius:2px}
.legend i.line{height:3px;vertical-align:3px}.legend i.dash{height:0;border-top:2px dashed #181818;background:none;vertical-align:3px}
.cols{display:flex;flex-wrap:wrap;gap:0 28px}.cols>div{min-width:0;max-width:100%}
.compare{display:flex;flex-wrap:wrap;gap:8px 24px}.compare figure{margin:4px 0;width:360px;max-width:100%}
table.settings td:nth-child(3){min-width:170px}table.failures td:nth-child(4),table.failures td:nth-child(5){min-width:160px}
ol.marks{margin:4px 0 0 0;padding-left:22px;font-size:13px}
details summary{cursor:pointer;font-weight:600;margin:8px 0}
`;

export function renderHtml(report: ReportResult): string {
  const title = report.runs.length === 1 ? `Data Cloud load report: run ${report.runs[0].status.runId}` : `Data Cloud load report: ${report.runs.length} runs`;
  const body: string[] = [`<h1>${e(title)}</h1>`, `<p class="muted small">Generated ${e(report.generatedAt)} by sf datacloud load report. Times are UTC.</p>`];
  if (report.comparison) body.push(comparisonSection(report.comparison, report.runs));
  for (const run of report.runs) body.push(runSection(run));
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${e(title)}</title><style>${CSS}</style></head>
<body>
${body.join('\n')}
</body></html>
`;
}

function badge(s: ReportRun['status']): string {
  const b = runBadge(s);
  return `<span class="badge ${b.kind}" data-state="${e(s.state)}">${e(b.label)}</span>`;
}

function table(headers: string[], rows: string[][], right: boolean[] = [], opts: { nowrap?: number[]; raw?: number[]; cls?: string } = {}): string {
  const th = headers.map((h) => `<th>${e(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c, i) => cell(c, i, right, opts)).join('')}</tr>`).join('\n');
  return `<div class="scroll"><table${opts.cls ? ` class="${opts.cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table></div>`;
}

function cell(c: string, i: number, right: boolean[], opts: { nowrap?: number[]; raw?: number[] }): string {
  const cls = right[i] ? ' class="n"' : opts.nowrap?.includes(i) ? ' class="nowrap"' : '';
  return `<td${cls}>${opts.raw?.includes(i) ? c : e(c)}</td>`;
}

// ---- one run ------------------------------------------------------------------------

function runSection(run: ReportRun): string {
  const s = run.status;
  const t = s.totals;
  const p: string[] = [`<section class="run" data-run-id="${e(s.runId)}">`];
  p.push(`<h2>Run ${e(s.runId)} ${badge(s)}</h2>`);
  p.push(`<p>${s.name ? `<b>${e(s.name)}</b>. ` : ''}${e(sourceTargetLine(s))}.<br><span class="muted small">Org ${e(orgLine(s))}. ${e(s.health.message)}</span></p>`);
  if (s.health.next) p.push(`<p class="small">Next: <code>${e(s.health.next)}</code></p>`);
  const facts: Array<[string, string]> = [
    [`${int(t.loaded)}`, `loaded of ${int(t.sourceRows)} (${percent(t.successRate)})`],
    [`${int(t.failed)}`, 'failed rows'],
    [duration(s.timing.elapsedSeconds), `${s.timing.sessions.length} session${s.timing.sessions.length === 1 ? '' : 's'}`],
    [`${int(rowsPerMinute(s.timing))}`, 'rows/min on average'],
    [`${int(s.jobs.total)}`, `Bulk jobs, ${int(s.settings.rowsPerJob)} rows each at most`],
    [`${int(Math.round(Math.max(0, ...run.series.buckets.map((b) => b.jobsInFlight))))}`, `jobs in flight at the busiest (bound ${int(s.settings.maxConcurrency)})`],
    [`${int(t.lockErrors)}`, `lock errors, ${int(t.retriedRows)} rows retried`],
  ];
  p.push(`<div class="facts">${facts.map(([v, l]) => `<div><b>${e(v)}</b><span>${e(l)}</span></div>`).join('')}</div>`);
  p.push(outcomeFigure(run));
  p.push('<h3>Over time</h3>');
  p.push(timeCharts(run));
  p.push('<h3>Failures by error code</h3>');
  const failures = failureCells(s);
  if (failures.length) {
    p.push(table(FAILURE_HEADERS, failures, FAILURE_RIGHT, { nowrap: [0], cls: 'failures' }));
    const advice = failureAdvice(run);
    p.push(`<p>Every failed row, with its key, code, message and the row as sent, is listed in <code>${e(s.files.failures)}</code>.</p>`);
    if (run.retryCommand) p.push(`<p>Send them again with:</p><pre class="cmd">${e(run.retryCommand)}</pre>`);
    for (const a of advice.slice(run.retryCommand ? 2 : 1)) p.push(`<p class="small">${e(a)}</p>`);
  } else p.push('<p>No failed rows.</p>');
  p.push('<h3>Sessions</h3>');
  p.push(s.timing.sessions.length ? table(SESSION_HEADERS, sessionCells(s), [false, false, false, false, true], { nowrap: [1, 2] }) : '<p>No session yet.</p>');
  p.push('<div class="cols"><div><h3>Settings</h3>');
  p.push(table(['Setting', 'Value', 'Meaning'], settingsRows(s), [false, true, false], { nowrap: [0], cls: 'settings' }));
  p.push('</div><div><h3>Mapping</h3>');
  p.push(table(['Source column', 'Target field', 'Role'], mappingRows(s), [], { nowrap: [0, 1] }));
  p.push('</div></div>');
  p.push(`<details><summary>Partitions (${s.partitions.length})</summary>`);
  p.push(table(PARTITION_HEADERS, partitionCells(s), PARTITION_RIGHT));
  p.push('</details>');
  if (s.problems.length) p.push(`<p class="small">Problems found in the run's files: ${e(s.problems.join('; '))}</p>`);
  p.push('</section>');
  return p.join('\n');
}

/** Loaded / failed / pending / unread rows as one stacked bar (one drawing fits every width). */
function outcomeFigure(run: ReportRun): string {
  const s = run.status;
  const t = s.totals;
  const f: Frame = { W: 760, H: 34, L: 0, R: 0, T: 4, B: 4 };
  const total = Math.max(1, t.sourceRows, t.loaded + t.failed + t.pending + t.unread);
  const segs: Array<[string, number, string, string]> = [
    ['loaded', t.loaded, COLOR.loaded, `loaded ${int(t.loaded)} (${percent(t.successRate)})`],
    ['failed', t.failed, COLOR.failed, `failed ${int(t.failed)}`],
    ['pending', t.pending, COLOR.pending, `pending ${int(t.pending)} (read, not final)`],
    ['unread', t.unread, COLOR.unread, `unread ${int(t.unread)}`],
  ];
  const out = [svgOpen({ 'data-run-id': s.runId, 'data-chart': 'outcome', preserveAspectRatio: 'none' }, f, `Loaded ${int(t.loaded)}, failed ${int(t.failed)}, pending ${int(t.pending)}, unread ${int(t.unread)} of ${int(t.sourceRows)} rows`)];
  out.push(`<rect class="frame" x="0" y="${f.T}" width="${f.W}" height="${f.H - f.T - f.B}" fill="#f3f3f3"/>`);
  let x = 0;
  for (const [name, v, color, label] of segs) {
    if (v <= 0) continue;
    const w = (f.W * v) / total;
    out.push(`<rect class="bar ${name}" x="${num(x)}" y="${f.T}" width="${num(Math.max(w, 2))}" height="${f.H - f.T - f.B}" fill="${color}"><title>${e(label)}</title></rect>`);
    x += w;
  }
  out.push('</svg>');
  const legend = segs.filter(([n, v]) => v > 0 || n === 'loaded' || n === 'failed').map(([, , c, l]) => `<span><i style="background:${c}"></i>${e(l)}</span>`);
  return `<figure>${out.join('')}<figcaption class="legend">${legend.join('')}</figcaption></figure>`;
}

function timeCharts(run: ReportRun): string {
  const { series } = run;
  if (series.buckets.length === 0) return '<p>No job has reached the org yet: nothing to draw over time.</p>';
  const s = run.status;
  const avg = rowsPerMinute(s.timing);
  const groups = groupMarks(series.marks);
  const marks = groups.length
    ? `<ol class="marks">${groups.map((g) => `<li>${g.marks.map(markText).join('; ')}</li>`).join('')}</ol>`
    : '';
  const hasErrors = series.buckets.some((b) => b.lockErrors || b.retriedRows || b.failed);
  const caption = (items: string[]): string => `<figcaption class="legend">${items.join('')}</figcaption>`;
  const sw = (c: string, l: string, cls = ''): string => `<span><i class="${cls}" style="background:${c}"></i>${e(l)}</span>`;
  const out: string[] = [];
  out.push(
    `<figure>${both((W) => throughputSvg(run, W))}${caption([
      sw(COLOR.loaded, 'rows loaded per minute (each job\'s rows spread over its time in flight)'),
      `<span><i class="dash"></i>average ${e(int(avg))}/min</span>`,
    ])}${marks}</figure>`
  );
  out.push(`<figure>${both((W) => concurrencySvg(run, W))}${caption([sw(COLOR.inFlight, 'jobs in flight (average per bucket)'), `<span><i class="line" style="background:${COLOR.limit}"></i>concurrency limit</span>`])}</figure>`);
  if (hasErrors) {
    out.push(`<figure>${both((W) => errorsSvg(run, W))}${caption([sw(COLOR.lock, 'lock errors (UNABLE_TO_LOCK_ROW)'), sw(COLOR.retried, 'rows retried'), sw(COLOR.failed, 'rows failed for good')])}</figure>`);
  } else out.push('<p class="small">No lock errors, retries or failed rows over the run.</p>');
  return out.join('\n');
}

function both(draw: (W: number) => string): string {
  return `<div class="wide">${draw(760)}</div><div class="narrow">${draw(360)}</div>`;
}

function markText(m: RunSeries['marks'][number]): string {
  const at = e(m.at.slice(0, 19).replace('T', ' '));
  if (m.kind === 'resume') return `${e(m.what)} began ${at}${m.gapSeconds !== null ? `, ${e(duration(m.gapSeconds))} later` : ''}`;
  return `<b>${e(m.what)}</b> ${at}`;
}

/** The x-axis label, with the bucket width of the chart as drawn (a narrow chart has coarser buckets). */
function xLabel(series: RunSeries, W: number): string {
  const b = clockLabel(series.bucketSeconds);
  return W < 500 ? `session time (${b} buckets)` : `session time (${b} buckets; gaps between sessions cut out)`;
}

function attrs(run: ReportRun, chart: string, W: number): Record<string, string> {
  return { 'data-run-id': run.status.runId, 'data-chart': chart, 'data-layout': W < 500 ? 'narrow' : 'wide' };
}

/** Coarser buckets on a narrow chart: at least 6 px each. */
function fit(series: RunSeries, f: Frame): RunSeries {
  return coarsen(series, Math.max(6, Math.floor((f.W - f.L - f.R) / 6)));
}

function throughputSvg(run: ReportRun, W: number): string {
  const f = frame(W, W < 500 ? 200 : 230);
  const series = fit(run.series, f);
  const values = series.buckets.map((b) => b.perMinute);
  const avg = rowsPerMinute(run.status.timing);
  const ticks = niceTicks(Math.max(...values, avg), 4);
  const { parts, x, y } = timeAxes(f, series.activeSeconds, ticks, 'rows / min', xLabel(series, W));
  const out = [svgOpen(attrs(run, 'throughput', W), f, 'Rows loaded per minute over session time'), ...parts];
  out.push(`<path class="area loaded" d="${stepPath(series, values, x, y, y(0))}" fill="${COLOR.loaded}" fill-opacity="0.18" stroke="none"/>`);
  out.push(`<path class="series loaded" d="${stepPath(series, values, x, y)}" fill="none" stroke="${COLOR.loaded}" stroke-width="2"/>`);
  if (avg > 0) out.push(`<path class="average" d="M${f.L},${num(y(avg))} H${f.W - f.R}" stroke="${COLOR.limit}" stroke-dasharray="5 4" stroke-width="1"/>`);
  out.push(...markLines(series.marks, f, x, W >= 500), '</svg>');
  return out.join('');
}

function concurrencySvg(run: ReportRun, W: number): string {
  const f = frame(W, W < 500 ? 170 : 190);
  const series = fit(run.series, f);
  const inFlight = series.buckets.map((b) => b.jobsInFlight);
  const limits = run.series.limit;
  const ticks = niceTicks(Math.max(...inFlight, ...series.buckets.map((b) => b.peakJobsInFlight), ...limits.map((l) => l.limit), 1), 4, true);
  const { parts, x, y } = timeAxes(f, series.activeSeconds, ticks, 'jobs', xLabel(series, W));
  const out = [svgOpen(attrs(run, 'concurrency', W), f, 'Bulk jobs in flight and the concurrency limit over session time'), ...parts];
  out.push(`<path class="series in-flight" d="${stepPath(series, inFlight, x, y, y(0))}" fill="${COLOR.inFlight}" fill-opacity="0.35" stroke="${COLOR.inFlight}" stroke-width="1"/>`);
  if (limits.length) {
    const d: string[] = [];
    limits.forEach((l, i) => {
      const px = num(x(Math.min(l.offsetSeconds, series.activeSeconds)));
      d.push(i === 0 ? `M${px},${num(y(l.limit))}` : `H${px} V${num(y(l.limit))}`);
    });
    d.push(`H${num(x(series.activeSeconds))}`);
    out.push(`<path class="series limit" d="${d.join(' ')}" fill="none" stroke="${COLOR.limit}" stroke-width="2"/>`);
  }
  out.push(...markLines(series.marks, f, x), '</svg>');
  return out.join('');
}

function errorsSvg(run: ReportRun, W: number): string {
  const f = frame(W, W < 500 ? 170 : 190);
  const series = coarsen(run.series, Math.max(6, Math.floor((f.W - f.L - f.R) / 12)));
  const ticks = niceTicks(Math.max(...series.buckets.flatMap((b) => [b.lockErrors, b.retriedRows, b.failed]), 1), 4, true);
  const { parts, x, y } = timeAxes(f, series.activeSeconds, ticks, 'rows', xLabel(series, W));
  const out = [svgOpen(attrs(run, 'errors', W), f, 'Lock errors, retried rows and failed rows per bucket of session time'), ...parts];
  const kinds: Array<[string, (b: RunSeries['buckets'][number]) => number, string]> = [
    ['lock', (b) => b.lockErrors, COLOR.lock],
    ['retried', (b) => b.retriedRows, COLOR.retried],
    ['failed', (b) => b.failed, COLOR.failed],
  ];
  for (const b of series.buckets) {
    const x0 = x(b.offsetSeconds);
    const w = (x(b.offsetSeconds + b.seconds) - x0) * 0.8;
    kinds.forEach(([name, get, color], k) => {
      const v = get(b);
      if (v <= 0) return;
      out.push(`<rect class="bar ${name}" x="${num(x0 + w * 0.1 + (k * w) / 3)}" y="${num(y(v))}" width="${num(Math.max(1, w / 3))}" height="${num(y(0) - y(v))}" fill="${color}"><title>${e(`${name} ${int(v)} at ${b.start.slice(11, 19)}`)}</title></rect>`);
    });
  }
  out.push(...markLines(series.marks, f, x), '</svg>');
  return out.join('');
}

// ---- several runs ---------------------------------------------------------------------

function pacing(stagger: string, delay: string): string {
  if (stagger === 'None' && delay === 'None') return 'no stagger or delay';
  return `stagger ${stagger}, delay ${delay}`;
}

function comparisonSection(rows: ComparisonRow[], runs: ReportRun[]): string {
  const out = ['<section class="comparison">', `<h2>Comparison of ${rows.length} runs</h2>`];
  const finished = rows.filter((r) => !r.unfinished);
  const open = rows.filter((r) => r.unfinished);
  const headers = ['Run', 'State', 'Profile', 'Rows/job', 'Max conc.', 'Partitions', 'Pacing', 'Duration', 'Rows/min', 'Success', 'Failed', 'Jobs'];
  const head = headers.map((h) => `<th>${e(h)}</th>`).join('');
  const byId = new Map(runs.map((r) => [r.status.runId, r.status]));
  const line = (r: ComparisonRow): string => {
    const c = comparisonCells(r);
    const at = (h: string): string => c[COMPARISON_HEADERS.indexOf(h)];
    const st = byId.get(r.runId);
    const cells = [
      `<td class="nowrap">${e(r.runId)}<br><span class="muted small">${e(at('Started (UTC)'))}</span></td>`,
      `<td class="state">${st ? badge(st) : e(r.stateLabel)}</td>`,
      `<td class="nowrap">${e(at('Profile'))}</td>`,
      ...['Rows/Job', 'Max conc.', 'Partitions'].map((h) => `<td class="n">${e(at(h))}</td>`),
      `<td class="pacing">${e(pacing(at('Stagger'), at('Delay')))}<br>retry: ${e(at('Retry'))}</td>`,
      ...['Duration', 'Rows/min', 'Success', 'Failed', 'Jobs'].map((h) => `<td class="n">${e(at(h))}</td>`),
    ];
    return `<tr class="${r.unfinished ? 'unfinished' : 'finished'}" data-run-id="${e(r.runId)}">${cells.join('')}</tr>`;
  };
  const group = (label: string): string => `<tr class="group"><th colspan="${headers.length}">${e(label)}</th></tr>`;
  const body = [
    ...(open.length && finished.length ? [group(`Finished (${finished.length})`)] : []),
    ...finished.map(line),
    ...(open.length ? [group(`Not finished (${open.length}): stopped, cancelled, crashed, failed or in progress; their figures cover what was done`)] : []),
    ...open.map(line),
  ];
  out.push(`<div class="scroll"><table class="comparison"><thead><tr>${head}</tr></thead><tbody>\n${body.join('\n')}\n</tbody></table></div>`);
  const ids = rows.map((r) => r.runId).join(',');
  const longest = Math.max(...rows.map((r) => r.timing.elapsedSeconds));
  const durationUnit = longest >= 7200 ? { name: 'hours', seconds: 3600 } : longest >= 120 ? { name: 'minutes', seconds: 60 } : { name: 'seconds', seconds: 1 };
  const label = (r: ComparisonRow): string => r.runId;
  const title = (r: ComparisonRow): string => `${r.runId}${r.name ? ` (${r.name})` : ''}, started ${r.startedAt ?? '—'}, ${r.stateLabel}`;
  const charts: Array<[string, string, string, (r: ComparisonRow) => number, (r: ComparisonRow) => string, string, number | undefined]> = [
    ['compare-throughput', 'Throughput', 'rows loaded per minute', (r) => rowsPerMinute(r.timing), (r) => int(rowsPerMinute(r.timing)), COLOR.loaded, undefined],
    ['compare-duration', 'Duration', durationUnit.name, (r) => r.timing.elapsedSeconds / durationUnit.seconds, (r) => duration(r.timing.elapsedSeconds), COLOR.inFlight, undefined],
    ['compare-success', 'Success', 'percent of source rows loaded', (r) => 100 * r.totals.successRate, (r) => percent(r.totals.successRate), COLOR.loaded, 100],
    ['compare-failed', 'Failed rows', 'rows', (r) => r.totals.failed, (r) => int(r.totals.failed), COLOR.failed, undefined],
  ];
  out.push('<div class="compare">');
  for (const [chart, name, unit, value, text, color, max] of charts) {
    const bars = rows.map((r) => ({ label: label(r), value: value(r), text: r.unfinished ? `${text(r)} (${r.state})` : text(r), muted: r.unfinished, title: `${title(r)}: ${text(r)}` }));
    out.push(`<figure><figcaption><b>${e(name)}</b> <span class="muted">(${e(unit)})</span></figcaption>${hbarChart({ 'data-chart': chart, 'data-run-ids': ids }, `${name} per run`, unit, bars, color, { max })}</figure>`);
  }
  out.push('</div>');
  out.push(`<p class="small muted">Runs by start time (a run id starts with its date and time); ${open.length ? 'hatched bars below the dotted line are runs that did not finish. ' : ''}Settings per run are in the table; each run's own section follows.</p>`);
  const names = [...new Set(runs.map((r) => r.status.name ?? '—'))];
  if (names.length > 1) out.push(`<p class="small muted">${runs.map((r) => `${e(r.status.runId)}: ${e(r.status.name ?? '—')}`).join(' · ')}</p>`);
  else if (names[0] !== '—') out.push(`<p class="small muted">Every run: ${e(names[0])}.</p>`);
  out.push('</section>');
  return out.join('\n');
}
