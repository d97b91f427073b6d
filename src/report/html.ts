/*
 * The report as one self-contained HTML page: inline CSS, inline SVG charts, no script,
 * no network. Each chart is an <svg class="chart"> with data-run-id (data-chart tells
 * which: throughput or outcome); the comparison chart has data-run-ids instead.
 */
import { escapeHtml as e, int, percent } from './format.js';
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
  type ReportResult,
  type ReportRun,
} from './model.js';
import type { ThroughputSeries } from './series.js';

const COLORS = ['#1b96ff', '#e07a00', '#2e844a', '#ba01ff', '#c23934', '#0b827c', '#8a6d00', '#5867e8', '#d4507e', '#3e3e3c'];
const OK = '#2e844a';
const BAD = '#c23934';
const PENDING = '#c9c9c9';

const CSS = `
body{font:14px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#181818;margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:20px 0 8px}
table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#666}.state{display:inline-block;padding:1px 8px;border-radius:10px;background:#eee;font-size:12px}
.state.completed{background:#d7f0dc}.state.crashed,.state.failed,.state.cancelled,.state.stopped{background:#f8d7d5}.state.running{background:#d8ecff}
svg.chart{display:block;margin:8px 0 16px;background:#fff}svg.chart text{font-size:11px;fill:#444}
.legend span{display:inline-block;margin-right:12px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
`;

export function renderHtml(report: ReportResult): string {
  const title = report.runs.length === 1 ? `Data Cloud load report: ${report.runs[0].status.runId}` : `Data Cloud load report: ${report.runs.length} runs`;
  const body: string[] = [`<h1>${e(title)}</h1>`, `<p class="muted">Generated ${e(report.generatedAt)} by sf datacloud load report.</p>`];
  if (report.comparison) {
    body.push('<h2>Comparison</h2>');
    body.push(htmlTable(COMPARISON_HEADERS, report.comparison.map(comparisonCells), COMPARISON_RIGHT));
    body.push(comparisonChart(report));
  }
  for (const run of report.runs) body.push(runSection(run));
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${e(title)}</title><style>${CSS}</style></head>
<body>
${body.join('\n')}
</body></html>
`;
}

function runSection(run: ReportRun): string {
  const s = run.status;
  const parts: string[] = [];
  parts.push(`<section class="run" data-run-id="${e(s.runId)}">`);
  parts.push(`<h2>Run ${e(s.runId)}${s.name ? ` (${e(s.name)})` : ''} <span class="state ${e(s.state)}">${e(s.state)}</span></h2>`);
  parts.push(`<p class="muted">${e(s.source.object)} → ${e(s.target.object)} by ${e(s.target.externalIdField)}${s.org.username ? `, org ${e(s.org.username)}` : ''}. ${e(s.health.message)}</p>`);
  parts.push('<h3>Final results</h3>');
  parts.push(htmlTable(['Metric', 'Value', 'Notes'], finalResults(s).map((r) => [r.metric, r.value, r.notes]), [false, true, false]));
  parts.push(outcomeChart(run));
  parts.push('<h3>Throughput over time</h3>');
  parts.push(throughputChart(s.runId, run.throughput, s.partitions.length));
  parts.push('<h3>Partitions</h3>');
  parts.push(htmlTable(PARTITION_HEADERS, partitionCells(s), PARTITION_RIGHT));
  parts.push('<h3>Failures by error code</h3>');
  const failures = failureCells(s);
  parts.push(failures.length ? htmlTable(FAILURE_HEADERS, failures, [false, true, false, false]) : '<p>No failed rows.</p>');
  parts.push('</section>');
  return parts.join('\n');
}

function htmlTable(headers: string[], rows: string[][], right: boolean[] = []): string {
  const th = headers.map((h) => `<th>${e(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c, i) => `<td${right[i] ? ' class="n"' : ''}>${e(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

function num(n: number): string {
  return String(Math.round(n * 10) / 10);
}

/** Rows loaded per minute over time: one line overall, one per partition. */
export function throughputChart(runId: string, series: ThroughputSeries, nParts: number): string {
  const W = 760;
  const H = 260;
  const L = 64;
  const R = 16;
  const T = 16;
  const B = 36;
  const open = `<svg class="chart" data-run-id="${e(runId)}" data-chart="throughput" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="Rows loaded per minute over time">`;
  if (series.buckets.length === 0) {
    return `${open}<text x="${W / 2}" y="${H / 2}" text-anchor="middle">No job results yet</text></svg>`;
  }
  const bs = series.bucketSeconds;
  const partRates = Array.from({ length: nParts }, (_, p) => series.buckets.map((b) => ((b.byPartition[p] ?? 0) / bs) * 60));
  const overall = series.buckets.map((b) => b.perMinute);
  const maxY = Math.max(1, ...overall);
  const n = series.buckets.length;
  const x = (i: number): number => L + (n === 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
  const y = (v: number): number => T + (H - T - B) * (1 - v / maxY);
  const line = (vals: number[]): string => vals.map((v, i) => `${i ? 'L' : 'M'}${num(x(i))},${num(y(v))}`).join(' ');
  const out: string[] = [open, `<title>Rows loaded per minute (${bs}s buckets)</title>`];
  // Axes, grid and labels.
  out.push(`<path class="axis" d="M${L},${T} L${L},${H - B} L${W - R},${H - B}" fill="none" stroke="#888" stroke-width="1"/>`);
  for (let k = 1; k <= 4; k++) {
    const v = (maxY * k) / 4;
    out.push(`<path class="grid" d="M${L},${num(y(v))} L${W - R},${num(y(v))}" stroke="#eee" stroke-width="1"/>`);
    out.push(`<text x="${L - 6}" y="${num(y(v) + 4)}" text-anchor="end">${e(int(v))}</text>`);
  }
  const totalS = (n - 1) * bs;
  out.push(`<text x="${L}" y="${H - B + 16}" text-anchor="start">0</text>`);
  out.push(`<text x="${W - R}" y="${H - B + 16}" text-anchor="end">${e(label(totalS))}</text>`);
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 6}" text-anchor="middle">time since start (rows/min per ${bs}s bucket)</text>`);
  if (nParts > 1) {
    partRates.forEach((vals, p) => {
      out.push(`<path class="series partition" data-partition="${p}" d="${line(vals)}" fill="none" stroke="${COLORS[p % COLORS.length]}" stroke-width="1.5" stroke-opacity="0.8"/>`);
    });
  }
  out.push(`<path class="series overall" d="${line(overall)}" fill="none" stroke="#181818" stroke-width="2.5"/>`);
  if (n === 1) out.push(`<circle cx="${num(x(0))}" cy="${num(y(overall[0]))}" r="3" fill="#181818"/>`);
  out.push('</svg>');
  const legend = ['<div class="legend"><span><i style="background:#181818"></i>overall</span>'];
  if (nParts > 1) for (let p = 0; p < nParts; p++) legend.push(`<span><i style="background:${COLORS[p % COLORS.length]}"></i>partition ${p}</span>`);
  legend.push('</div>');
  return out.join('\n') + '\n' + legend.join('');
}

function label(seconds: number): string {
  if (seconds >= 3600) return `${num(seconds / 3600)} h`;
  if (seconds >= 60) return `${num(seconds / 60)} min`;
  return `${seconds} s`;
}

/** Loaded / failed / pending rows as one stacked bar. */
export function outcomeChart(run: ReportRun): string {
  const s = run.status;
  const W = 760;
  const H = 64;
  const L = 8;
  const R = 8;
  const total = Math.max(1, s.totals.sourceRows, s.totals.loaded + s.totals.failed + s.totals.pending);
  const segs: Array<[string, number, string]> = [
    ['loaded', s.totals.loaded, OK],
    ['failed', s.totals.failed, BAD],
    ['pending', s.totals.pending, PENDING],
  ];
  const out = [
    `<svg class="chart" data-run-id="${e(s.runId)}" data-chart="outcome" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="Loaded, failed and pending rows">`,
    `<title>Loaded ${int(s.totals.loaded)}, failed ${int(s.totals.failed)}, pending ${int(s.totals.pending)}</title>`,
    `<rect class="frame" x="${L}" y="8" width="${W - L - R}" height="24" fill="#f3f3f3" stroke="#ccc"/>`,
  ];
  let x = L;
  let tx = L;
  for (const [name, v, color] of segs) {
    const w = ((W - L - R) * v) / total;
    if (v > 0) {
      out.push(`<rect class="bar ${name}" x="${num(x)}" y="8" width="${num(Math.max(w, 1))}" height="24" fill="${color}"><title>${name}: ${int(v)}</title></rect>`);
    }
    x += w;
    const text = `${name} ${int(v)}${name === 'loaded' ? ` (${percent(s.totals.successRate)})` : ''}`;
    out.push(`<text x="${num(tx)}" y="50" fill="${color}">${e(text)}</text>`);
    tx += 220;
  }
  out.push('</svg>');
  return out.join('\n');
}

/** Success and failure rate per run, side by side. */
function comparisonChart(report: ReportResult): string {
  const rows = report.comparison ?? [];
  const W = 760;
  const barH = 22;
  const gap = 10;
  const L = 220;
  const R = 80;
  const H = 16 + rows.length * (barH + gap);
  const out = [
    `<svg class="chart comparison" data-run-ids="${e(rows.map((r) => r.runId).join(','))}" data-chart="comparison" xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="Success rate per run">`,
  ];
  rows.forEach((r, i) => {
    const y = 8 + i * (barH + gap);
    const total = Math.max(1, r.sourceRows);
    const wOk = ((W - L - R) * r.loaded) / total;
    const wBad = ((W - L - R) * r.failed) / total;
    out.push(`<text x="${L - 8}" y="${y + barH / 2 + 4}" text-anchor="end">${e(r.name ?? r.runId)}</text>`);
    out.push(`<rect class="bar loaded" x="${L}" y="${y}" width="${num(wOk)}" height="${barH}" fill="${OK}"/>`);
    out.push(`<rect class="bar failed" x="${num(L + wOk)}" y="${y}" width="${num(wBad)}" height="${barH}" fill="${BAD}"/>`);
    out.push(`<text x="${W - R + 6}" y="${y + barH / 2 + 4}">${e(percent(r.successRate))}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}
