/*
 * Inline SVG chart pieces for the HTML report: "nice" axis ticks, a time axis in session
 * time with stop/resume marks, step series over buckets, grouped bars, and horizontal bar
 * charts for comparisons. Pure string building; no script, no external resource. Legends
 * live in the HTML around the charts (they reflow on narrow screens; SVG text does not).
 */
import { escapeHtml as e, int } from './format.js';
import type { RunSeries, SeriesMark } from './series.js';

export const COLOR = {
  loaded: '#2e844a',
  failed: '#c23934',
  pending: '#b0b0b0',
  unread: '#e2e2e2',
  lock: '#d17c00',
  retried: '#9b4dca',
  inFlight: '#0b6fb8',
  limit: '#181818',
  mark: '#7a4f00',
  grid: '#e6e6e6',
  axis: '#8a8a8a',
};

/** The geometry of one chart. */
export type Frame = { W: number; H: number; L: number; R: number; T: number; B: number };

export function frame(W: number, H: number): Frame {
  return { W, H, L: W < 500 ? 54 : 62, R: 10, T: 16, B: 38 };
}

export function num(n: number): string {
  return String(Math.round(n * 10) / 10);
}

/** 0 and a few round steps (1, 2, 2.5, 5 × 10^k) that cover max. */
export function niceTicks(max: number, count = 4, integer = false): number[] {
  const m = max > 0 && Number.isFinite(max) ? max : 1;
  const raw = m / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((f) => f * pow).find((s) => s >= raw) ?? 10 * pow;
  if (integer) step = Math.max(1, Math.ceil(step));
  const ticks: number[] = [];
  for (let v = 0; v < m + step * 1e-9; v += step) ticks.push(Math.round(v * 1e6) / 1e6);
  if (ticks[ticks.length - 1] < m) ticks.push(Math.round((ticks[ticks.length - 1] + step) * 1e6) / 1e6);
  return ticks;
}

/** 1,500 → "1.5k", 2,000,000 → "2M"; below 10,000 as is. */
export function compact(n: number): string {
  const a = Math.abs(n);
  const trim = (x: number): string => String(Math.round(x * 10) / 10);
  if (a >= 1e6) return `${trim(n / 1e6)}M`;
  if (a >= 1e4) return `${trim(n / 1e3)}k`;
  return Number.isInteger(n) ? int(n) : String(Math.round(n * 100) / 100);
}

const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800];

/** "0", "30s", "5m", "1h", "1h30m", "2d". */
export function clockLabel(seconds: number): string {
  const s = Math.round(seconds);
  if (s === 0) return '0';
  if (s < 60) return `${s}s`;
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)}m${s % 60}s` : `${s / 60}m`;
  if (s < 86_400) {
    const h = Math.floor(s / 3600);
    const m = Math.round((s % 3600) / 60);
    return m ? `${h}h${m}m` : `${h}h`;
  }
  const d = Math.floor(s / 86_400);
  const h = Math.round((s % 86_400) / 3600);
  return h ? `${d}d${h}h` : `${d}d`;
}

export function timeTicks(total: number, maxTicks: number): number[] {
  const step = TIME_STEPS.find((s) => total / s <= maxTicks) ?? Math.ceil(total / maxTicks);
  const out: number[] = [];
  for (let v = 0; v <= total + 1e-9; v += step) out.push(v);
  return out;
}

export function svgOpen(attrs: Record<string, string>, f: Frame, label: string): string {
  const a = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${e(v)}"`)
    .join('');
  return `<svg class="chart"${a} xmlns="http://www.w3.org/2000/svg" width="${f.W}" height="${f.H}" viewBox="0 0 ${f.W} ${f.H}" role="img" aria-label="${e(label)}"><title>${e(label)}</title>`;
}

/** Axes, horizontal grid with y ticks, time ticks, the axis labels. Returns the scales. */
export function timeAxes(
  f: Frame,
  total: number,
  yTicks: number[],
  yLabel: string,
  xLabel: string
): { parts: string[]; x: (s: number) => number; y: (v: number) => number } {
  const yMax = yTicks[yTicks.length - 1] || 1;
  const x = (s: number): number => f.L + ((f.W - f.L - f.R) * s) / Math.max(1e-9, total);
  const y = (v: number): number => f.T + (f.H - f.T - f.B) * (1 - v / yMax);
  const parts: string[] = [];
  for (const v of yTicks) {
    parts.push(`<path class="grid" d="M${f.L},${num(y(v))} H${f.W - f.R}" stroke="${COLOR.grid}"/>`);
    parts.push(`<text class="tick y" x="${f.L - 5}" y="${num(y(v) + 4)}" text-anchor="end">${e(compact(v))}</text>`);
  }
  const maxX = f.W < 500 ? 4 : 8;
  const ticks = timeTicks(total, maxX);
  for (const t of ticks) {
    const anchor = t === 0 ? 'start' : x(t) > f.W - f.R - 14 ? 'end' : 'middle';
    parts.push(`<path class="xtick" d="M${num(x(t))},${f.H - f.B} v4" stroke="${COLOR.axis}"/>`);
    parts.push(`<text class="tick x" x="${num(x(t))}" y="${f.H - f.B + 16}" text-anchor="${anchor}">${e(clockLabel(t))}</text>`);
  }
  parts.push(`<path class="axis" d="M${f.L},${f.T} V${f.H - f.B} H${f.W - f.R}" fill="none" stroke="${COLOR.axis}"/>`);
  parts.push(`<text class="axis-label x" x="${num((f.L + f.W - f.R) / 2)}" y="${f.H - 4}" text-anchor="middle">${e(xLabel)}</text>`);
  const cy = (f.T + f.H - f.B) / 2;
  parts.push(`<text class="axis-label y" x="11" y="${num(cy)}" text-anchor="middle" transform="rotate(-90 11 ${num(cy)})">${e(yLabel)}</text>`);
  return { parts, x, y };
}

/** A step path over the buckets: value v[i] across bucket i. */
export function stepPath(series: RunSeries, values: number[], x: (s: number) => number, y: (v: number) => number, closeTo?: number): string {
  const b = series.buckets;
  if (b.length === 0) return '';
  const pts: string[] = [];
  b.forEach((bk, i) => {
    const x0 = x(bk.offsetSeconds);
    const x1 = x(bk.offsetSeconds + bk.seconds);
    pts.push(`${i === 0 ? 'M' : 'L'}${num(x0)},${num(y(values[i]))}`, `L${num(x1)},${num(y(values[i]))}`);
  });
  if (closeTo !== undefined) {
    const last = b[b.length - 1];
    pts.push(`L${num(x(last.offsetSeconds + last.seconds))},${num(closeTo)}`, `L${num(x(b[0].offsetSeconds))},${num(closeTo)}`, 'Z');
  }
  return pts.join(' ');
}

/** Vertical marks where a session stopped and where the next began (one line: the gap is cut out). */
export function markLines(marks: SeriesMark[], f: Frame, x: (s: number) => number, words = false): string[] {
  const out: string[] = [];
  const groups = groupMarks(marks);
  groups.forEach((g, i) => {
    const px = x(g.offsetSeconds);
    out.push(`<path class="mark ${g.kinds.join(' ')}" d="M${num(px)},${f.T} V${f.H - f.B}" stroke="${COLOR.mark}" stroke-dasharray="4 3"/>`);
    const what = words ? ` ${g.marks.map((m) => m.what).join(', then ')}` : '';
    const right = px > f.W - f.R - 160;
    out.push(`<text class="mark-label" x="${num(px + (what ? (right ? -3 : 3) : 0))}" y="${f.T - 4}" text-anchor="${what ? (right ? 'end' : 'start') : 'middle'}" fill="${COLOR.mark}">${i + 1}${e(what)}</text>`);
  });
  return out;
}

/** Marks at one offset (a stop and its resume) shown as one. */
export function groupMarks(marks: SeriesMark[]): Array<{ offsetSeconds: number; kinds: string[]; marks: SeriesMark[] }> {
  const out: Array<{ offsetSeconds: number; kinds: string[]; marks: SeriesMark[] }> = [];
  for (const m of marks) {
    const g = out.find((o) => Math.abs(o.offsetSeconds - m.offsetSeconds) < 1e-6);
    if (g) {
      g.marks.push(m);
      if (!g.kinds.includes(m.kind)) g.kinds.push(m.kind);
    } else out.push({ offsetSeconds: m.offsetSeconds, kinds: [m.kind], marks: [m] });
  }
  return out;
}

export type HBar = { label: string; value: number; text: string; muted: boolean; title: string };

/**
 * Horizontal bars, one per run, on a shared scale from 0 (nice ticks); muted bars (runs
 * that did not finish) are hatched and drawn after a separator.
 */
export function hbarChart(attrs: Record<string, string>, label: string, unit: string, bars: HBar[], color: string, opts: { max?: number; W?: number } = {}): string {
  const W = opts.W ?? 360;
  const rowH = 24;
  const labelW = 148;
  const valueW = 104;
  const T = 8;
  const firstMuted = bars.findIndex((b) => b.muted);
  const sep = firstMuted > 0 ? 14 : 0;
  const H = T + bars.length * rowH + sep + 30;
  const f: Frame = { W, H, L: labelW, R: valueW, T, B: 30 };
  const ticks = niceTicks(opts.max ?? Math.max(...bars.map((b) => b.value), 0), 3);
  const max = ticks[ticks.length - 1] || 1;
  const x = (v: number): number => f.L + ((f.W - f.L - f.R) * Math.min(v, max)) / max;
  const out = [svgOpen(attrs, f, label)];
  out.push(`<defs><pattern id="hatch-${e(attrs['data-chart'] ?? 'x')}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/><rect width="3" height="6" fill="${color}" fill-opacity="0.55"/></pattern></defs>`);
  const bottom = T + bars.length * rowH + sep;
  for (const v of ticks) {
    out.push(`<path class="grid" d="M${num(x(v))},${T} V${bottom}" stroke="${COLOR.grid}"/>`);
    out.push(`<text class="tick x" x="${num(x(v))}" y="${bottom + 14}" text-anchor="middle">${e(compact(v))}</text>`);
  }
  out.push(`<text class="axis-label x" x="${num((f.L + f.W - f.R) / 2)}" y="${H - 3}" text-anchor="middle">${e(unit)}</text>`);
  bars.forEach((b, i) => {
    const yTop = T + i * rowH + (firstMuted > 0 && i >= firstMuted ? sep : 0);
    if (i === firstMuted && sep) out.push(`<path class="separator" d="M4,${yTop - sep / 2} H${W - 4}" stroke="${COLOR.axis}" stroke-dasharray="2 3"/>`);
    const fill = b.muted ? `url(#hatch-${e(attrs['data-chart'] ?? 'x')})` : color;
    out.push(`<text class="bar-label${b.muted ? ' muted' : ''}" x="${f.L - 6}" y="${yTop + rowH / 2 + 4}" text-anchor="end">${e(b.label)}</text>`);
    out.push(`<rect class="bar${b.muted ? ' unfinished' : ''}" x="${f.L}" y="${yTop + 4}" width="${num(Math.max(0, x(b.value) - f.L))}" height="${rowH - 8}" fill="${fill}" stroke="${b.muted ? color : 'none'}"><title>${e(b.title)}</title></rect>`);
    out.push(`<text class="bar-value" x="${num(x(b.value) + 4)}" y="${yTop + rowH / 2 + 4}">${e(b.text)}</text>`);
  });
  out.push(`<path class="axis" d="M${f.L},${T} V${bottom}" stroke="${COLOR.axis}"/>`);
  out.push('</svg>');
  return out.join('');
}
